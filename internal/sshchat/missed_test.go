package sshchat

import (
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// The terminal tells a session that fell behind what line mode tells it
// (the line itself is tested in package wire).
func TestRenderMissed(t *testing.T) {
	for _, ev := range []*room.Event{
		{Kind: room.KindMissed, Room: "lobby", Count: 42},
		{Kind: room.KindMissed, Count: 3},
	} {
		if got := renderTUI(ev); !strings.Contains(got, wire.MissedText(ev)) {
			t.Errorf("terminal: %q", got)
		}
	}
}
