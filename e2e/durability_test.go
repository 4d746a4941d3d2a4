package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// historyAll pages back through a room's whole history, oldest first.
func historyAll(t *testing.T, wc *wsClient, room string) []frame {
	t.Helper()
	var all []frame
	var before uint64
	for {
		req := map[string]any{"type": "history", "room": room, "limit": 200}
		if before != 0 {
			req["before"] = before
		}
		// before=0 would be the "newest" page; ask for it explicitly first.
		wc.sendJSON(req)
		f := wc.expect("history page", func(f frame) bool { return f.Type == "history" && strings.Contains(string(f.Raw), `"before"`) })
		var page struct {
			Messages []frame `json:"messages"`
		}
		mustJSON(t, f.Raw, &page)
		if len(page.Messages) == 0 {
			return all
		}
		all = append(page.Messages, all...)
		before = page.Messages[0].ID
	}
}

// SIGKILL while messages flow loses nothing that any client saw.
func TestKillDashNineKeepsEverySeenMessage(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	watcher := joinWS(t, p.HTTPAddr, "watcher")
	bot := newLineClient(t, p.SSHAddr, "bot")
	bot.expect("welcome bot")
	sender := joinWS(t, p.HTTPAddr, "sender")

	stop := make(chan struct{})
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if sender.conn.WriteJSON(map[string]string{"type": "say", "room": "lobby", "text": fmt.Sprintf("m%d", i)}) != nil {
				return
			}
		}
	}()
	var seen []frame
	for len(seen) < 200 {
		seen = append(seen, watcher.expect("message", func(f frame) bool { return f.Type == "message" }))
	}
	must(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited
	close(stop)
	<-sendDone
	// Everything the watcher and the bot received before the kill.
	for {
		select {
		case f := <-watcher.frames:
			if f.Type == "message" {
				seen = append(seen, *f)
			}
			continue
		case <-watcher.closed:
		}
		break
	}
	<-bot.closed
	var botSaw []string
	for _, l := range drainLines(bot) {
		if strings.HasPrefix(l, "#lobby <sender> ") {
			botSaw = append(botSaw, strings.TrimPrefix(l, "#lobby <sender> "))
		}
	}

	p2 := startProcess(t, dir)
	reader := joinWS(t, p2.HTTPAddr, "reader")
	stored := historyAll(t, reader, "lobby")
	index := map[string]int{}
	for i, f := range stored {
		index[f.Text] = i
	}
	last := -1
	for _, f := range seen {
		i, ok := index[f.Text]
		if !ok {
			t.Fatalf("message %q (id %d) was seen before the kill but is not in history", f.Text, f.ID)
		}
		if stored[i].ID != f.ID {
			t.Fatalf("message %q had id %d, history says %d", f.Text, f.ID, stored[i].ID)
		}
		if i <= last {
			t.Fatalf("history order differs at %q", f.Text)
		}
		last = i
	}
	for _, text := range botSaw {
		if _, ok := index[text]; !ok {
			t.Fatalf("the SSH client saw %q, which is not in history", text)
		}
	}
	t.Logf("%d messages seen by the web client, %d by the SSH client, %d stored", len(seen), len(botSaw), len(stored))
}

// The database file is the only state: deleting it gives a fresh server.
func TestDeletingTheDatabaseGivesAFreshServer(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	alice := joinWS(t, p.HTTPAddr, "alice")
	alice.say("/join #kept")
	alice.sendJSON(map[string]string{"type": "say", "room": "kept", "text": "remember me"})
	alice.expect("echo", isMessage("alice", "remember me"))
	must(t, p.stop(syscall.SIGTERM))

	p = startProcess(t, dir)
	bob := joinWS(t, p.HTTPAddr, "bob")
	bob.say("/join #kept")
	h := bob.expect("history", func(f frame) bool { return f.Type == "history" && f.Room == "kept" })
	if !strings.Contains(string(h.Raw), "remember me") {
		t.Fatalf("history after restart: %s", h.Raw)
	}
	must(t, p.stop(syscall.SIGTERM))

	matches, _ := filepath.Glob(filepath.Join(dir, "data", "tertulia.db*"))
	if len(matches) == 0 {
		t.Fatal("no database file in the data folder")
	}
	for _, m := range matches {
		must(t, os.Remove(m))
	}
	p = startProcess(t, dir)
	carol := joinWS(t, p.HTTPAddr, "carol")
	carol.say("/rooms")
	f := carol.expect("rooms", func(f frame) bool { return f.Type == "rooms" })
	if strings.Contains(string(f.Raw), "kept") {
		t.Fatalf("room survived the database's deletion: %s", f.Raw)
	}
}
