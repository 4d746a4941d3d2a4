package wire

import (
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// The missed frame and line (docs/protocol.md).
func TestEncodeMissed(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		ev          *room.Event
		frame, line string
	}{
		{&room.Event{Kind: room.KindMissed, Room: "lobby", Count: 42, Time: now}, `{"type":"missed","room":"lobby","count":42}`, "-!- missed 42 messages in #lobby\n"},
		{&room.Event{Kind: room.KindMissed, Count: 3, Time: now}, `{"type":"missed","private":true,"count":3}`, "-!- missed 3 private messages\n"},
	} {
		if got := string(EncodeEvent(c.ev)); got != c.frame {
			t.Errorf("got %s, want %s", got, c.frame)
		}
		if got := string(FormatLine(c.ev)); got != c.line {
			t.Errorf("line: %q, want %q", got, c.line)
		}
	}
}
