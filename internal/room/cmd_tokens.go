package room

// tokenCommands are the commands of bot tokens.
func tokenCommands() []*command {
	return []*command{
		{name: "token", needsKey: true, params: []param{oneWord("new|list|revoke"), optional(oneWord("NAME")), optional(oneWord("NICK|OWNER"))},
			help: "make, list and revoke bot tokens of your key",
			long: "/token new NAME [NICK] makes a token that signs a bot in as NICK (one of your registered nicks; default: your nick), shown once. " +
				"/token list lists your tokens; /token revoke NAME revokes one, closing its connections. " +
				"Operators: /token list all lists every key's tokens, /token revoke NAME OWNER revokes another key's (OWNER: a nick registered to it, or its key).",
			run: func(c *call) error {
				switch c.arg(0) {
				case "new":
					return c.hub.newToken(c.session, c.arg(1), c.arg(2))
				case "list":
					return c.hub.listTokens(c.session, c.arg(1))
				case "revoke":
					return c.hub.revokeToken(c.session, c.arg(1), c.arg(2))
				}
				return userErr("usage", "usage: /token new NAME [NICK] | /token list [all] | /token revoke NAME [OWNER]")
			}},
	}
}
