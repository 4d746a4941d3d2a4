package room

// CloseReason says why a session ended. Code is short, stable and without
// spaces: what metrics label and front-ends switch on (a websocket's close
// code). Text is what people read: the others in the part notice, the
// client in a websocket's close frame or the terminal's status line.
type CloseReason struct {
	Code string
	Text string
}

// The codes of CloseReason, one per way a session ends.
const (
	CodeQuit       = "quit"          // the user quit (/quit, Ctrl-C)
	CodeClosed     = "closed"        // the connection ended
	CodeSlowClient = "slow_client"   // the client did not read its queue
	CodeStopping   = "stopping"      // the server is stopping
	CodeFlooding   = "flooding"      // too many refused lines in a row
	CodeSignedOut  = "signed_out"    // the browser was signed out
	CodeKicked     = "kicked"        // an operator's /kick
	CodeBanned     = "banned"        // an operator's /ban
	CodeRevoked    = "token_revoked" // the bot token it signed in with was revoked
)

// The reasons whose text does not depend on who ended the session; kicks and
// bans name their operator (see kickedBy, bannedBy). These are values, as
// io.EOF is: nothing assigns to them.
var (
	ReasonQuit       = CloseReason{CodeQuit, "quit"}
	ReasonClosed     = CloseReason{CodeClosed, "connection closed"}
	ReasonSlowClient = CloseReason{CodeSlowClient, "too slow: outbound queue full"}
	ReasonStopping   = CloseReason{CodeStopping, "server is stopping"}
	ReasonFlooding   = CloseReason{CodeFlooding, "flooding"}
	ReasonSignedOut  = CloseReason{CodeSignedOut, "signed out"}
	ReasonRevoked    = CloseReason{CodeRevoked, "bot token revoked"}
)

// kickedBy is the reason of a session kicked by the operator op, who may
// have said why.
func kickedBy(op, why string) CloseReason {
	return CloseReason{CodeKicked, withWhy("kicked by "+op, why)}
}

// bannedBy is the reason of a session disconnected by the operator op's ban.
func bannedBy(op, why string) CloseReason {
	return CloseReason{CodeBanned, withWhy("banned by "+op, why)}
}

func withWhy(text, why string) string {
	if why == "" {
		return text
	}
	return text + ": " + why
}

// DropsQueue reports whether what is still queued for the session is thrown
// away rather than written: it was closed because its client does not read
// it. Front-ends then cut the connection at once instead of giving the
// writer a grace to finish.
func (r CloseReason) DropsQueue() bool { return r.Code == CodeSlowClient }
