package room

// chatCommands are the commands of talking to people: nicks, messages,
// presence.
func chatCommands() []*command {
	return []*command{
		{name: "help", params: []param{optional(oneWord("COMMAND"))}, help: "list the commands, or explain one (/help join)",
			long: "With a command's name (with or without the /), shows its arguments and what it does.",
			run: func(c *call) error {
				if c.arg(0) != "" {
					return c.hub.helpOn(c.session, c.arg(0))
				}
				c.hub.help(c.session)
				return nil
			}},
		// The nick is checked whole, so that one with a space gets
		// bad_nick as it would at connection.
		{name: "nick", params: []param{restOfLine("NEW")}, help: "change your nick", long: "Nicks are 1 to 24 letters, digits, - or _. A nick registered to another key cannot be taken.", run: func(c *call) error {
			return c.hub.changeNick(c.session, c.arg(0))
		}},
		{name: "me", params: []param{restOfText("ACTION")}, room: needsRoom, help: "say what you are doing", long: "Shown as \"* you ACTION\" to the room.", run: func(c *call) error {
			return c.hub.say(c.session, c.room, c.arg(0), true)
		}},
		{name: "msg", params: []param{oneWord("NICK"), restOfText("TEXT")}, help: "send a private message", long: "Only NICK sees it. In the terminal, private messages go to a conversation of their own (@NICK): switch to it with Ctrl-N/Ctrl-P, and type there to answer. To a registered nick whose owner is offline, it waits for them and is delivered when they connect (unless they turned that off with /set offline-messages off).", run: func(c *call) error {
			return c.hub.onceByCID(c.session, func(cid string) (*Event, error) {
				return c.hub.private(c.session, c.arg(0), c.arg(1), cid)
			})
		}},
		{name: "reply", params: []param{restOfText("TEXT")}, help: "answer the last private message", long: "Sends TEXT to whoever last sent you a private message.", run: func(c *call) error {
			return c.hub.onceByCID(c.session, func(cid string) (*Event, error) {
				return c.hub.reply(c.session, c.arg(0), cid)
			})
		}},
		{name: "away", params: []param{optional(restOfLine("REASON"))}, help: "mark yourself as away", long: "Whoever sends you a private message is told you are away, with REASON; /back ends it.", run: func(c *call) error {
			reason := c.arg(0)
			if reason == "" {
				reason = "away"
			} else if c.hub.muted(c.session) {
				// Others read the reason in /whois and member lists.
				return userErr("muted", "you are muted: you can be away, but without a reason")
			}
			c.hub.setAway(c.session, reason, "You are marked as away: "+reason)
			return nil
		}},
		{name: "back", help: "you are no longer away", run: func(c *call) error {
			c.hub.setAway(c.session, "", "Welcome back.")
			return nil
		}},
		{name: "whois", params: []param{oneWord("NICK")}, help: "show who someone is", long: "Shows their connection (ssh or web), since when, whether their nick is registered, and whether they are away.", run: func(c *call) error {
			text, err := c.hub.whois(c.session, c.arg(0))
			if err != nil {
				return err
			}
			c.hub.notice(c.session, text)
			return nil
		}},
		{name: "quit", params: []param{optional(restOfLine("REASON"))}, help: "leave the chat", long: "The others see you leave with REASON.", run: func(c *call) error {
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
