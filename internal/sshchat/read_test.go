package sshchat

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

const readKey = "SHA256:alice-terminal"

// awaitRead is the next read event queued for s.
func awaitRead(t *testing.T, s *room.Session) *room.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-s.Events():
			if ev.Kind == room.KindRead {
				return ev
			}
		case <-timeout:
			t.Fatal("no read event")
			return nil
		}
	}
}

// A room read on another device of the key loses its unread mark in the
// status line at once; the room on screen, at its bottom, is marked read
// for the other devices.
func TestTUIReadMarkerFollowsTheKey(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12), room.WithRate(1e6, 1e6))
	term, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaSSH, Fingerprint: readKey, AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(term.Leave)
	browser, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb, Fingerprint: readKey, AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(browser.Leave)
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Leave)
	m := newTUIModel(hub, term, 100, 20)
	hub.Input(term, "", "/join #dev")
	hub.Input(bob, "", "/join #dev")
	readQueued(m, term)

	hub.Input(bob, "lobby", "in the lobby")
	readQueued(m, term)
	if status := ansi.Strip(m.statusLine()); !strings.Contains(status, "#lobby*") {
		t.Fatalf("status %q: #lobby not marked unread", status)
	}
	var lobbyID uint64
	for lobbyID == 0 {
		if ev := <-bob.Events(); ev.Kind == room.KindMessage && ev.Text == "in the lobby" {
			lobbyID = ev.ID
		}
	}
	hub.MarkRead(browser, "lobby", "", lobbyID)
	readQueued(m, term)
	if status := ansi.Strip(m.statusLine()); strings.Contains(status, "#lobby*") {
		t.Fatalf("status %q: #lobby still marked unread once read in the browser", status)
	}

	for len(browser.Events()) > 0 {
		<-browser.Events()
	}
	hub.Input(bob, "dev", "on screen")
	readQueued(m, term)
	if ev := awaitRead(t, browser); ev.Room != "dev" {
		t.Fatalf("the browser was told of a read of %q, want dev, the room on the terminal's screen", ev.Room)
	}
}
