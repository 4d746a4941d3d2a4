package sshchat

import (
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// The missed event is a line for the session alone (docs/protocol.md).
func TestRenderMissed(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		ev   *room.Event
		want string
	}{
		{&room.Event{Kind: room.KindMissed, Room: "lobby", Count: 42, Time: now}, "-!- missed 42 messages in #lobby\n"},
		{&room.Event{Kind: room.KindMissed, Count: 3, Time: now}, "-!- missed 3 private messages\n"},
	} {
		if got := string(wire.FormatLine(c.ev)); got != c.want {
			t.Errorf("line: %q, want %q", got, c.want)
		}
		if got := renderTUI(c.ev); !strings.Contains(got, strings.TrimSuffix(strings.TrimPrefix(c.want, "-!- "), "\n")) {
			t.Errorf("terminal: %q", got)
		}
	}
}
