package room

import "strings"

// moderationCommands are the operators' commands, and /motd, which anyone
// may read.
func moderationCommands() []*command {
	return []*command{
		{name: "op", params: []param{oneWord("NICK")}, opOnly: true, help: "make someone's key an operator", run: func(c *call) error {
			return c.hub.setOperator(c.session, c.arg(0), true)
		}},
		{name: "deop", params: []param{oneWord("NICK")}, opOnly: true, help: "take operator status away", run: func(c *call) error {
			return c.hub.setOperator(c.session, c.arg(0), false)
		}},
		{name: "kick", params: []param{oneWord("NICK"), optional(restOfLine("REASON"))}, opOnly: true, help: "disconnect someone", long: "They are disconnected with REASON and may reconnect; /ban keeps them out.", run: func(c *call) error {
			return c.hub.kick(c.session, c.arg(0), c.arg(1))
		}},
		// The second word is a duration only if it reads as one: ban
		// tells the duration and the reason apart.
		{name: "ban", params: []param{oneWord("NICK|KEY|IP[/CIDR]"), optional(oneWord("DURATION")), optional(restOfLine("REASON"))}, opOnly: true,
			help: "ban a nick (its key and address), a key or addresses (IPv6: the /64)", run: func(c *call) error {
				return c.hub.ban(c.session, c.arg(0), strings.TrimSpace(c.arg(1)+" "+c.arg(2)))
			}},
		{name: "unban", params: []param{oneWord("NICK|KEY|IP[/CIDR]")}, opOnly: true, help: "lift bans", run: func(c *call) error {
			return c.hub.unban(c.session, c.arg(0))
		}},
		{name: "bans", opOnly: true, help: "list the bans in force", run: func(c *call) error {
			c.hub.listBans(c.session)
			return nil
		}},
		{name: "mute", params: []param{oneWord("NICK|IP"), optional(oneWord("DURATION"))}, opOnly: true, help: "hide someone's messages from others (session, key, address)", long: "DURATION is like 10m or 2h; without it, until /unmute.", run: func(c *call) error {
			return c.hub.mute(c.session, c.arg(0), c.arg(1), true)
		}},
		{name: "unmute", params: []param{oneWord("NICK|IP")}, opOnly: true, help: "let someone speak again", run: func(c *call) error {
			return c.hub.mute(c.session, c.arg(0), "", false)
		}},
		{name: "motd", params: []param{optional(restOfLine("TEXT"))}, help: "show the message of the day (operators: set it)", long: "Shown to everyone when they connect.",
			opWhen: func(c *call) string {
				if c.arg(0) != "" {
					return "only operators can set the message of the day"
				}
				return ""
			},
			run: func(c *call) error {
				if c.arg(0) != "" {
					return c.hub.setMOTD(c.session, c.arg(0))
				}
				if m := c.hub.motd(); m != "" {
					c.hub.notice(c.session, m)
				} else {
					c.hub.notice(c.session, "There is no message of the day.")
				}
				return nil
			}},
		{name: "allowlist", params: []param{literal("reload")}, opOnly: true, help: "re-read the --allowlist file", run: func(c *call) error {
			return c.hub.reloadAllowlist(c.session)
		}},
	}
}
