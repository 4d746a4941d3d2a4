package room

// chatCommands are the commands of talking to people: nicks, messages,
// presence.
func chatCommands() []*command {
	return []*command{
		{name: "help", help: "list the commands", run: func(c *call) error {
			c.hub.help(c.session)
			return nil
		}},
		// The nick is checked whole, so that one with a space gets
		// bad_nick as it would at connection.
		{name: "nick", params: []param{restOfLine("NEW")}, help: "change your nick", run: func(c *call) error {
			return c.hub.changeNick(c.session, c.arg(0))
		}},
		{name: "me", params: []param{restOfText("ACTION")}, room: needsRoom, help: "say what you are doing", run: func(c *call) error {
			return c.hub.say(c.session, c.room, c.arg(0), true)
		}},
		{name: "msg", params: []param{oneWord("NICK"), restOfText("TEXT")}, help: "send a private message", run: func(c *call) error {
			return c.hub.private(c.session, c.arg(0), c.arg(1))
		}},
		{name: "reply", params: []param{restOfText("TEXT")}, help: "answer the last private message", run: func(c *call) error {
			return c.hub.reply(c.session, c.arg(0))
		}},
		{name: "away", params: []param{optional(restOfLine("REASON"))}, help: "mark yourself as away", run: func(c *call) error {
			reason := c.arg(0)
			if reason == "" {
				reason = "away"
			} else if c.hub.muted(c.session) {
				// Others read the reason in /whois and member lists.
				return userErr("muted", "you are muted: you can be away, but without a reason")
			}
			c.session.setAway(reason)
			c.hub.refreshMember(c.session)
			c.hub.notice(c.session, "You are marked as away: "+reason)
			return nil
		}},
		{name: "back", help: "you are no longer away", run: func(c *call) error {
			c.session.setAway("")
			c.hub.refreshMember(c.session)
			c.hub.notice(c.session, "Welcome back.")
			return nil
		}},
		{name: "whois", params: []param{oneWord("NICK")}, help: "show who someone is", run: func(c *call) error {
			text, err := c.hub.whois(c.session, c.arg(0))
			if err != nil {
				return err
			}
			c.hub.notice(c.session, text)
			return nil
		}},
		{name: "quit", params: []param{optional(restOfLine("REASON"))}, help: "leave the chat", run: func(c *call) error {
			// The others see the reason in the part notice; a muted user's
			// is dropped, as everything else it would say to them.
			if reason := CleanLine(c.arg(0)); reason != "" && !c.hub.muted(c.session) {
				c.session.setQuitMessage(truncateRunes(reason, c.hub.maxMessage))
			}
			c.hub.notice(c.session, "Goodbye.")
			c.session.Close(ReasonQuit)
			return nil
		}},
	}
}
