package room

import (
	"slices"
	"strings"
	"testing"
)

func connectKey(t *testing.T, h *Hub, nick, key string, via Via) *Session {
	t.Helper()
	s, err := h.Connect(Identity{Nick: nick, Via: via, Fingerprint: key, AltNick: via == ViaSSH})
	if err != nil {
		t.Fatalf("connect %s: %v", nick, err)
	}
	t.Cleanup(s.Leave)
	return s
}

// /help COMMAND explains one command: usage, summary and the longer text;
// unknown names are refused; the front-end's keys follow the command list.
func TestHelpOnOneCommand(t *testing.T) {
	h := newTestHub(t)
	s := connect(t, h, "alice", ViaWeb)
	ev := answerTo(t, h, s, "/help join")
	if ev.Kind != KindNotice || !strings.HasPrefix(ev.Text, "/join #ROOM: join a room") || !strings.Contains(ev.Text, "created on first join") {
		t.Fatalf("/help join = %v %q", ev.Kind, ev.Text)
	}
	if ev := answerTo(t, h, s, "/help /kick"); !strings.Contains(ev.Text, "/kick NICK [REASON]") || !strings.Contains(ev.Text, "operators only") {
		t.Fatalf("/help /kick = %q", ev.Text)
	}
	wantAnswer(t, answerTo(t, h, s, "/help nosuch"), "unknown_command", "unknown command /nosuch (try /help)")
	if ev := answerTo(t, h, s, "/help"); strings.Contains(ev.Text, "Keys:") {
		t.Fatalf("/help without key bindings lists keys: %q", ev.Text)
	}
	s.SetKeyHelp("  Tab  complete")
	if ev := answerTo(t, h, s, "/help"); !strings.HasSuffix(ev.Text, "\nKeys:\n  Tab  complete") {
		t.Fatalf("/help with key bindings = %q", ev.Text)
	}
}

// A registered key is put back in the rooms it was in when it reconnects,
// from either front-end, with the lobby current; a key that registered
// nothing, and a guest, start in the lobby only.
func TestRegisteredKeyRejoinsItsRooms(t *testing.T) {
	h := newTestHub(t)
	const key = "SHA256:alice"
	a := connectKey(t, h, "alice", key, ViaSSH)
	answerTo(t, h, a, "/register")
	for _, line := range []string{"/join #dev", "/join #coffee", "/join #tmp", "/part #tmp"} {
		h.Input(a, "", line)
	}
	a.Leave()

	again := connectKey(t, h, "alice", key, ViaWeb)
	if got := again.Rooms(); !slices.Equal(got, []string{"lobby", "dev", "coffee"}) {
		t.Fatalf("rooms after reconnecting = %q", got)
	}
	if again.CurrentRoom() != "lobby" {
		t.Fatalf("current room = %q, want lobby", again.CurrentRoom())
	}
	// Its own joins, each with the room's history.
	var joined []string
	for len(again.Events()) > 0 {
		if ev := <-again.Events(); ev.Kind == KindHistory {
			joined = append(joined, ev.Room)
		}
	}
	if !slices.Equal(joined, []string{"lobby", "dev", "coffee"}) {
		t.Fatalf("history events for %q", joined)
	}

	b := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	h.Input(b, "", "/join #dev")
	b.Leave()
	if got := connectKey(t, h, "bob", "SHA256:bob", ViaSSH).Rooms(); !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("unregistered key's rooms = %q", got)
	}
}

// A registered key's sent lines are kept, the newest InputHistoryKept of
// them, private messages aside (private messages are not stored by
// default), until it gives up its last nick; a key that registered nothing
// keeps none.
func TestInputHistoryKeptForRegisteredKeys(t *testing.T) {
	h := newTestHub(t)
	a := connectKey(t, h, "alice", "SHA256:alice", ViaSSH)
	h.RememberInput(a, "before registering")
	answerTo(t, h, a, "/register")
	for i := range InputHistoryKept + 3 {
		h.RememberInput(a, strings.Repeat("x", i%5)+"line")
	}
	h.RememberInput(a, "last")
	got := h.InputHistory(a)
	if len(got) != InputHistoryKept || got[len(got)-1] != "last" || slices.Contains(got, "before registering") {
		t.Fatalf("kept %d lines, last %q", len(got), got[len(got)-1])
	}
	h.RememberInput(a, "/msg bob a secret")
	h.RememberInput(a, "/reply another secret")
	if got := h.InputHistory(a); got[len(got)-1] != "last" {
		t.Fatalf("a private message was kept without --store-private: %q", got[len(got)-1])
	}
	answerTo(t, h, a, "/unregister")
	answerTo(t, h, a, "/register")
	if got := h.InputHistory(a); len(got) != 0 {
		t.Fatalf("after giving up its last nick the key still has %d lines", len(got))
	}
	b := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	h.RememberInput(b, "hello")
	if got := h.InputHistory(b); len(got) != 0 {
		t.Fatalf("unregistered key keeps %q", got)
	}
}
