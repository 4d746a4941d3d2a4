package webchat

import (
	"encoding/binary"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// eventFrame is ev's websocket frame, header and JSON payload, built by the
// first recipient's writer and shared by all the others: a server's frames
// are not masked, so every recipient is sent the same bytes.
func eventFrame(ev *room.Event) []byte {
	return ev.Render(room.FormatWebFrame, encodeEventFrame)
}

func encodeEventFrame(ev *room.Event) []byte {
	payload := ev.Render(room.FormatJSON, wire.EncodeEvent)
	return appendTextFrame(make([]byte, 0, len(payload)+10), payload)
}

// appendTextFrame appends payload to b as one final, unmasked text frame
// (RFC 6455, section 5.2): the bytes gorilla/websocket writes for a
// server's WriteMessage without compression.
func appendTextFrame(b, payload []byte) []byte {
	const finalText = 0x81
	switch n := len(payload); {
	case n <= 125:
		b = append(b, finalText, byte(n))
	case n <= 0xffff:
		b = append(b, finalText, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, finalText, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// isCloseFrame tells whether p, one write of gorilla's, is a whole close
// frame of the server's: gorilla writes a control frame (at most 125 bytes
// of payload, unmasked) with one Write.
func isCloseFrame(p []byte) bool {
	const finalClose = 0x88
	return len(p) >= 2 && p[0] == finalClose && p[1] <= 125 && int(p[1]) == len(p)-2
}
