package sshchat

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

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

// A private message kept while its recipient was offline is marked as
// missed in the terminal, with when it was sent; a live one is not.
func TestRenderMissedPrivateMessage(t *testing.T) {
	sent := time.Date(2026, 12, 5, 9, 12, 0, 0, time.FixedZone("CET", 3600))
	missed := ansi.Strip(renderTUI(&room.Event{Kind: room.KindPrivate, From: "bob", To: "alice", Text: "psst", Time: sent, Missed: true}))
	if !strings.Contains(missed, "[pm] bob → alice (missed, sent 2026-12-05 08:12 UTC): psst") {
		t.Errorf("missed private message: %q", missed)
	}
	live := ansi.Strip(renderTUI(&room.Event{Kind: room.KindPrivate, From: "bob", To: "alice", Text: "psst", Time: sent}))
	if strings.Contains(live, "missed") || !strings.Contains(live, "[pm] bob → alice: psst") {
		t.Errorf("live private message: %q", live)
	}
}
