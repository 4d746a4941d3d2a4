package wire

import (
	"bytes"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
)

// A new event kind must be given a frame and lines of its own: falling
// back to a notice would publish it to bots in a shape nobody chose.
func TestEveryKindIsRendered(t *testing.T) {
	for _, k := range room.Kinds() {
		ev := &room.Event{Kind: k}
		if _, known := encodeEvent(ev); !known {
			t.Errorf("%v events have no websocket frame: add a case to encodeEvent", k)
		}
		if !appendLine(&bytes.Buffer{}, ev) {
			t.Errorf("%v events have no line-mode line: add a case to appendLine", k)
		}
	}
}
