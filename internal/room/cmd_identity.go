package room

// identityCommands are the commands of keys: registered nicks and signed-in
// browsers.
func identityCommands() []*command {
	return []*command{
		{name: "register", needsKey: true, help: "bind your nick to your SSH key", long: "Afterwards nobody else can use the nick, and your key gets your rooms and your sent lines back when you reconnect.", run: func(c *call) error {
			return c.hub.register(c.session, c.session.Nick())
		}},
		{name: "unregister", params: []param{optional(oneWord("NICK"))}, help: "give up a nick registered to your key", run: func(c *call) error {
			nick := c.arg(0)
			if nick == "" {
				nick = c.session.Nick()
			}
			return c.hub.unregister(c.session, nick)
		}},
		{name: "weblogin", needsKey: true, help: "get a one-time code to sign a browser in as your key", long: "Type the code on the web page's sign-in to use the chat there as your key (nick, rooms, registrations).", run: func(c *call) error {
			return c.hub.webLogin(c.session)
		}},
		{name: "sessions", needsKey: true, help: "list your key's signed-in browsers", run: func(c *call) error {
			return c.hub.listWebSessions(c.session)
		}},
		{name: "logout-all", needsKey: true, help: "sign out every browser signed in as your key", run: func(c *call) error {
			return c.hub.logoutAll(c.session)
		}},
	}
}
