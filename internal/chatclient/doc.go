// Package chatclient is a small Go client of Tertulia's two protocols for
// programs (docs/protocol.md): the websocket's JSON frames and SSH line
// mode. The end-to-end tests, the load tool and bots use it, so the
// protocol is spoken by one piece of client code, over the encoders and
// parsers of package wire.
//
// A connection is read by one goroutine (Next) and written by any number
// (the writes are serialised).
package chatclient
