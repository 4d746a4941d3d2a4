// Package wire is the public contract of docs/protocol.md as code: the
// websocket's JSON frames and SSH line mode's lines, how the server encodes
// every event in each, and how a client decodes them again.
//
// Both formats are promised to bots: what is here is never renamed or
// removed. The golden files in testdata hold the exact bytes of every event
// kind in both formats, and the tests fail when a new kind has no rendering.
package wire
