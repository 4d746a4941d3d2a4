package room

import (
	"fmt"
	"sort"
	"strings"
)

// Call is one invocation of a command.
type Call struct {
	Hub     *Hub
	Session *Session
	Room    *Room // the room the command was typed in; nil if none
	Name    string
	Args    string
}

// Command is one entry of the command table, shared by every front-end.
type Command struct {
	Name   string
	Usage  string // arguments, e.g. "NEW"
	Help   string
	OpOnly bool
	Run    func(c *Call) error
}

type commandTable struct {
	byName map[string]*Command
	list   []*Command
}

func newCommandTable() *commandTable {
	t := &commandTable{byName: make(map[string]*Command)}
	for _, c := range builtinCommands() {
		t.byName[c.Name] = c
		t.list = append(t.list, c)
	}
	sort.Slice(t.list, func(i, j int) bool { return t.list[i].Name < t.list[j].Name })
	return t
}

func (h *Hub) runCommand(c *Call) {
	cmd, ok := h.commands.byName[c.Name]
	if !ok {
		h.fail(c.Session, userErr("unknown_command", fmt.Sprintf("unknown command /%s (try /help)", c.Name)))
		return
	}
	if cmd.OpOnly && !c.Session.IsOperator() {
		h.fail(c.Session, userErr("not_operator", "/"+cmd.Name+" is for operators only"))
		return
	}
	if err := cmd.Run(c); err != nil {
		h.fail(c.Session, err)
	}
}

func needRoom(c *Call) error {
	if c.Room == nil {
		return userErr("no_room", "you are not in a room")
	}
	return nil
}

func builtinCommands() []*Command {
	return []*Command{
		{Name: "help", Help: "list the commands", Run: func(c *Call) error {
			var b strings.Builder
			b.WriteString("Commands:")
			op := c.Session.IsOperator()
			for _, cmd := range c.Hub.commands.list {
				if cmd.OpOnly && !op {
					continue
				}
				usage := "/" + cmd.Name
				if cmd.Usage != "" {
					usage += " " + cmd.Usage
				}
				fmt.Fprintf(&b, "\n  %-24s %s", usage, cmd.Help)
			}
			b.WriteString("\nText starting with // is sent as a message beginning with /.")
			c.Hub.notice(c.Session, b.String())
			return nil
		}},
		{Name: "nick", Usage: "NEW", Help: "change your nick", Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /nick NEW")
			}
			return c.Hub.changeNick(c.Session, c.Args)
		}},
		{Name: "me", Usage: "ACTION", Help: "say what you are doing", Run: func(c *Call) error {
			if err := needRoom(c); err != nil {
				return err
			}
			if c.Args == "" {
				return userErr("usage", "usage: /me ACTION")
			}
			return c.Hub.say(c.Session, c.Room, c.Args, true)
		}},
		{Name: "who", Help: "list the members of this room", Run: func(c *Call) error {
			if err := needRoom(c); err != nil {
				return err
			}
			c.Session.deliver(c.Room.membersEvent(c.Hub))
			return nil
		}},
		{Name: "join", Usage: "#ROOM", Help: "join a room (created if new) or switch to it", Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /join #room")
			}
			return c.Hub.Join(c.Session, firstWord(c.Args))
		}},
		{Name: "part", Usage: "[#ROOM]", Help: "leave this room or the one named", Run: func(c *Call) error {
			r := c.Room
			if c.Args != "" {
				if r = c.Session.roomNamed(roomName(firstWord(c.Args))); r == nil {
					return userErr("not_in_room", "you are not in #"+roomName(firstWord(c.Args)))
				}
			}
			if r == nil {
				return userErr("no_room", "you are not in a room")
			}
			return c.Hub.part(c.Session, r, "left")
		}},
		{Name: "rooms", Help: "list the rooms with their member count and topic", Run: func(c *Call) error {
			c.Session.deliver(&Event{Kind: KindRooms, RoomList: c.Hub.roomList(), Time: c.Hub.now()})
			return nil
		}},
		{Name: "topic", Usage: "[TEXT]", Help: "show or set the room's topic", Run: func(c *Call) error {
			if err := needRoom(c); err != nil {
				return err
			}
			if c.Args == "" {
				info := c.Room.info()
				if info.Topic == "" {
					c.Hub.notice(c.Session, "#"+info.Name+" has no topic")
				} else {
					c.Hub.notice(c.Session, "#"+info.Name+" topic: "+info.Topic)
				}
				return nil
			}
			c.Room.mu.Lock()
			locked := c.Room.topicLocked
			c.Room.mu.Unlock()
			if locked && !c.Session.IsOperator() {
				return userErr("not_operator", "#"+c.Room.name+" is +t: only operators set its topic")
			}
			return c.Hub.setTopic(c.Session, c.Room, c.Args)
		}},
		{Name: "names", Usage: "[#ROOM]", Help: "list the members of this room or the one named", Run: func(c *Call) error {
			r := c.Room
			if c.Args != "" {
				var err error
				if r, err = c.Hub.roomByName(roomName(firstWord(c.Args)), false); err != nil {
					return err
				}
			}
			if r == nil {
				return userErr("no_room", "you are not in a room")
			}
			c.Session.deliver(r.membersEvent(c.Hub))
			return nil
		}},
		{Name: "msg", Usage: "NICK TEXT", Help: "send a private message", Run: func(c *Call) error {
			nick, text, _ := strings.Cut(c.Args, " ")
			if nick == "" || strings.TrimSpace(text) == "" {
				return userErr("usage", "usage: /msg nick text")
			}
			return c.Hub.private(c.Session, nick, strings.TrimSpace(text))
		}},
		{Name: "reply", Usage: "TEXT", Help: "answer the last private message", Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /reply text")
			}
			return c.Hub.reply(c.Session, c.Args)
		}},
		{Name: "away", Usage: "[REASON]", Help: "mark yourself as away", Run: func(c *Call) error {
			reason := c.Args
			if reason == "" {
				reason = "away"
			} else if c.Hub.muted(c.Session) {
				// Others read the reason in /whois and member lists.
				return userErr("muted", "you are muted: you can be away, but without a reason")
			}
			c.Session.mu.Lock()
			c.Session.away = reason
			c.Session.mu.Unlock()
			c.Hub.refreshMember(c.Session)
			c.Hub.notice(c.Session, "You are marked as away: "+reason)
			return nil
		}},
		{Name: "back", Help: "you are no longer away", Run: func(c *Call) error {
			c.Session.mu.Lock()
			c.Session.away = ""
			c.Session.mu.Unlock()
			c.Hub.refreshMember(c.Session)
			c.Hub.notice(c.Session, "Welcome back.")
			return nil
		}},
		{Name: "whois", Usage: "NICK", Help: "show who someone is", Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /whois nick")
			}
			text, err := c.Hub.whois(c.Session, firstWord(c.Args))
			if err != nil {
				return err
			}
			c.Hub.notice(c.Session, text)
			return nil
		}},
		{Name: "register", Help: "bind your nick to your SSH key", Run: func(c *Call) error {
			return c.Hub.register(c.Session, c.Session.Nick())
		}},
		{Name: "unregister", Usage: "[NICK]", Help: "give up a nick registered to your key", Run: func(c *Call) error {
			nick := c.Session.Nick()
			if c.Args != "" {
				nick = firstWord(c.Args)
			}
			return c.Hub.unregister(c.Session, nick)
		}},
		{Name: "weblogin", Help: "get a one-time code to sign a browser in as your key", Run: func(c *Call) error {
			return c.Hub.webLogin(c.Session)
		}},
		{Name: "sessions", Help: "list your key's signed-in browsers", Run: func(c *Call) error {
			return c.Hub.listWebSessions(c.Session)
		}},
		{Name: "logout-all", Help: "sign out every browser signed in as your key", Run: func(c *Call) error {
			return c.Hub.logoutAll(c.Session)
		}},
		{Name: "motd", Usage: "[TEXT]", Help: "show the message of the day (operators: set it)", Run: func(c *Call) error {
			if c.Args == "" {
				if m := c.Hub.motd(); m != "" {
					c.Hub.notice(c.Session, m)
				} else {
					c.Hub.notice(c.Session, "There is no message of the day.")
				}
				return nil
			}
			if !c.Session.IsOperator() {
				return userErr("not_operator", "only operators can set the message of the day")
			}
			return c.Hub.setMOTD(c.Session, c.Args)
		}},
		{Name: "op", Usage: "NICK", Help: "make someone's key an operator", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.setOperator(c.Session, firstWord(c.Args), true)
		}},
		{Name: "deop", Usage: "NICK", Help: "take operator status away", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.setOperator(c.Session, firstWord(c.Args), false)
		}},
		{Name: "kick", Usage: "NICK [REASON]", Help: "disconnect someone", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.kick(c.Session, c.Args)
		}},
		{Name: "ban", Usage: "NICK|KEY|IP[/CIDR] [DURATION] [REASON]", Help: "ban a nick (its key and address), a key or addresses (IPv6: the /64)", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.ban(c.Session, c.Args)
		}},
		{Name: "unban", Usage: "NICK|KEY|IP[/CIDR]", Help: "lift bans", OpOnly: true, Run: func(c *Call) error {
			if c.Args == "" {
				return userErr("usage", "usage: /unban nick|fingerprint|ip[/cidr]")
			}
			return c.Hub.unban(c.Session, firstWord(c.Args))
		}},
		{Name: "bans", Help: "list the bans in force", OpOnly: true, Run: func(c *Call) error {
			c.Hub.listBans(c.Session)
			return nil
		}},
		{Name: "mute", Usage: "NICK|IP [DURATION]", Help: "hide someone's messages from others (session, key, address)", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.mute(c.Session, c.Args, true)
		}},
		{Name: "unmute", Usage: "NICK|IP", Help: "let someone speak again", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.mute(c.Session, c.Args, false)
		}},
		{Name: "mode", Usage: "#ROOM +t|-t", Help: "+t: only operators set the room's topic", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.setMode(c.Session, c.Args)
		}},
		{Name: "rmroom", Usage: "#ROOM [REASON]", Help: "remove a room and its history; its members are parted", OpOnly: true, Run: func(c *Call) error {
			return c.Hub.removeRoom(c.Session, c.Args)
		}},
		{Name: "allowlist", Usage: "reload", Help: "re-read the --allowlist file", OpOnly: true, Run: func(c *Call) error {
			if c.Args != "reload" {
				return userErr("usage", "usage: /allowlist reload")
			}
			return c.Hub.reloadAllowlist(c.Session)
		}},
		{Name: "quit", Usage: "[REASON]", Help: "leave the chat", Run: func(c *Call) error {
			// The others see the reason in the part notice; a muted user's
			// is dropped, as everything else it would say to them.
			if reason := CleanLine(c.Args); reason != "" && !c.Hub.muted(c.Session) {
				c.Session.setQuitMessage(truncateRunes(reason, c.Hub.maxMessage))
			}
			c.Hub.notice(c.Session, "Goodbye.")
			c.Session.Close(ReasonQuit)
			return nil
		}},
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}
