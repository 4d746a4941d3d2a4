package room

// roomCommands are the commands of rooms: joining, leaving, listing, topics
// and modes.
func roomCommands() []*command {
	return []*command{
		{name: "join", params: []param{oneWord("#ROOM")}, help: "join a room (created if new) or switch to it", long: "Rooms are created on first join. You stay in every room you join; the one you see is where plain text goes. With a registered key you are put back in your rooms when you reconnect.", run: func(c *call) error {
			if err := c.hub.join(c.session, c.arg(0)); err != nil {
				return err
			}
			c.hub.saveKeyRooms(c.session)
			c.hub.shareJoin(c.session, c.arg(0))
			return nil
		}},
		{name: "part", params: []param{optional(oneWord("#ROOM"))}, room: needsRoomUnlessNamed, help: "leave this room or the one named", long: "PMs you received stay in their own conversations.", run: func(c *call) error {
			r := c.room
			if named := c.arg(0); named != "" {
				if r = c.session.roomNamed(roomName(named)); r == nil {
					return userErr("not_in_room", "you are not in #"+roomName(named))
				}
			}
			if err := c.hub.part(c.session, r, "left"); err != nil {
				return err
			}
			c.hub.saveKeyRooms(c.session)
			c.hub.sharePart(c.session, r.name, "left")
			return nil
		}},
		{name: "read", params: []param{optional(oneWord("#ROOM"))}, room: needsRoomUnlessNamed, needsKey: true, help: "mark everything in this room (or the one named) read, on all your devices", long: "Your other sessions (terminal, browser) clear the room's unread mark at once; a new one starts with it read.", run: func(c *call) error {
			r := c.room
			if named := c.arg(0); named != "" {
				if r = c.session.roomNamed(roomName(named)); r == nil {
					return userErr("not_in_room", "you are not in #"+roomName(named))
				}
			}
			return c.hub.readCommand(c.session, r)
		}},
		{name: "rooms", help: "list the rooms with their member count and topic", run: func(c *call) error {
			c.session.deliver(&Event{Kind: KindRooms, RoomList: c.hub.roomList(), Time: c.hub.now()})
			return nil
		}},
		{name: "topic", params: []param{optional(restOfLine("TEXT"))}, room: needsRoom, help: "show or set the room's topic", long: "Without TEXT, shows the topic. Under mode +t only operators may set it.",
			opWhen: func(c *call) string {
				if c.arg(0) != "" && c.room.isTopicLocked() {
					return "#" + c.room.name + " is +t: only operators set its topic"
				}
				return ""
			},
			run: func(c *call) error {
				if c.arg(0) != "" {
					return c.hub.setTopic(c.session, c.room, c.arg(0))
				}
				info := c.room.info()
				if info.Topic == "" {
					c.hub.notice(c.session, "#"+info.Name+" has no topic")
				} else {
					c.hub.notice(c.session, "#"+info.Name+" topic: "+info.Topic)
				}
				return nil
			}},
		{name: "names", params: []param{optional(oneWord("#ROOM")), optional(oneWord("CURSOR"))}, room: needsRoomUnlessNamed, help: "list the members of this room or the one named (a big room's first page; CURSOR: the page after it, as the list says)", run: func(c *call) error {
			r := c.room
			if named := c.arg(0); named != "" {
				var err error
				if r, err = c.hub.roomByName(roomName(named), false); err != nil {
					return err
				}
			}
			if cursor := c.arg(1); cursor != "" {
				c.session.deliver(r.membersPage(c.hub, cursor, MembersPageSize))
				return nil
			}
			c.session.deliver(r.membersEvent(c.hub))
			return nil
		}},
		{name: "who", room: needsRoom, help: "list the members of this room", run: func(c *call) error {
			c.session.deliver(c.room.membersEvent(c.hub))
			return nil
		}},
		{name: "mode", params: []param{oneWord("#ROOM"), literal("+t", "-t")}, opOnly: true, help: "+t: only operators set the room's topic", run: func(c *call) error {
			return c.hub.setMode(c.session, c.arg(0), c.arg(1))
		}},
		{name: "rmroom", params: []param{oneWord("#ROOM"), optional(restOfLine("REASON"))}, opOnly: true, help: "remove a room and its history; its members are parted", run: func(c *call) error {
			return c.hub.removeRoom(c.session, c.arg(0), c.arg(1))
		}},
	}
}
