package e2e

// What a client needs to lose nothing over a bad network, over a real
// websocket: client ids on say, ping/pong, and history after a message.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/app"
)

// A say with a cid comes back to its sender only with the cid; sent again
// (as after a lost connection), it is neither stored nor shown twice.
func TestWebsocketSayWithCIDIsStoredOnce(t *testing.T) {
	srv := startServer(t)
	alice := joinWS(t, srv.HTTPAddr, "alice")
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	carol := joinWS(t, srv.HTTPAddr, "carol")
	alice.expect("carol joined", func(f frame) bool { return f.Type == "join" && f.Nick == "carol" })

	say := map[string]any{"type": "say", "room": "lobby", "text": "exactly once", "cid": "c-0001"}
	alice.sendJSON(say)
	mine := alice.expect("alice's copy", isMessage("alice", "exactly once"))
	if mine.CID != "c-0001" || mine.ID == 0 {
		t.Fatalf("the sender's copy is %s, want cid c-0001", mine.Raw)
	}
	theirs := carol.expect("carol's copy", isMessage("alice", "exactly once"))
	if theirs.CID != "" || strings.Contains(string(theirs.Raw), "cid") || theirs.ID != mine.ID {
		t.Fatalf("another member's copy is %s, want message %d without a cid", theirs.Raw, mine.ID)
	}
	bob.expect("#lobby <alice> exactly once")

	alice.sendJSON(say)
	again := alice.expect("alice's copy again", isMessage("alice", "exactly once"))
	if again.ID != mine.ID || again.CID != "c-0001" {
		t.Fatalf("sent again, the answer is %s, want message %d again", again.Raw, mine.ID)
	}
	alice.say("after the repeat")
	carol.expect("the next message", func(f frame) bool {
		if f.Type == "message" && f.Text == "exactly once" {
			t.Fatalf("carol saw the repeated say again: %s", f.Raw)
		}
		return isMessage("alice", "after the repeat")(f)
	})
	bob.expectFunc("the next line", func(l string) bool {
		if strings.Contains(l, "exactly once") {
			t.Fatalf("bob saw the repeated say again: %s", l)
		}
		return l == "#lobby <alice> after the repeat"
	})

	// A refused say carries its cid; an overlong cid is refused.
	alice.sendJSON(map[string]any{"type": "say", "room": "lobby", "text": strings.Repeat("x", 2001), "cid": "c-0002"})
	if f := alice.expect("too_long", func(f frame) bool { return f.Type == "error" }); f.Code != "too_long" || f.CID != "c-0002" {
		t.Fatalf("a too long say was refused with %s", f.Raw)
	}
	alice.sendJSON(map[string]any{"type": "say", "room": "lobby", "text": "hi", "cid": strings.Repeat("c", 65)})
	if f := alice.expect("bad_cid", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_cid" {
		t.Fatalf("a 65-character cid was answered with %s", f.Raw)
	}
}

// A signed-in browser that lost its connection resends a line with the
// same cid on its new connection: stored once.
func TestWebsocketCIDHoldsAcrossReconnectOfAKey(t *testing.T) {
	srv := startServer(t)
	key := newSigner(t)
	ssh := newLineClient(t, srv.SSHAddr, "gina", keyAuth(key))
	ssh.expect("welcome gina")
	ssh.send("/register")
	ssh.expect("gina is now registered to your key")
	resp := postLogin(t, srv.HTTPAddr, ssh.webLoginCode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	cookie := sessionCookie(t, resp)

	// The browser is gina beside her SSH session, which sees the line once.
	first := joinWSWithCookie(t, srv.HTTPAddr, cookie, "gina")
	first.sendJSON(map[string]any{"type": "say", "room": "lobby", "text": "typed in a tunnel", "cid": "tunnel-1"})
	stored := first.expect("the copy", isMessage("gina", "typed in a tunnel"))
	ssh.expect("#lobby <gina> typed in a tunnel")
	first.conn.Close()

	second := joinWSWithCookie(t, srv.HTTPAddr, cookie, "gina")
	second.sendJSON(map[string]any{"type": "say", "room": "lobby", "text": "typed in a tunnel", "cid": "tunnel-1"})
	if f := second.expect("the copy again", isMessage("gina", "typed in a tunnel")); f.ID != stored.ID || f.CID != "tunnel-1" {
		t.Fatalf("resent on a new connection: %s, want message %d again", f.Raw, stored.ID)
	}
	second.say("next")
	ssh.expectFunc("the next line", func(l string) bool {
		if strings.HasSuffix(l, "<gina> typed in a tunnel") {
			t.Fatalf("the resent line was shown twice: %s", l)
		}
		return l == "#lobby <gina> next"
	})
}

// joinWSWithCookie connects with a sign-in cookie as nick.
func joinWSWithCookie(t *testing.T, httpAddr string, cookie *http.Cookie, nick string) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, httpAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	wc := wrapWS(t, conn)
	wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
	if f := wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != nick {
		t.Fatalf("welcomed as %q, want %q", f.Nick, nick)
	}
	return wc
}

func TestWebsocketPingPong(t *testing.T) {
	srv := startServer(t)
	alice := joinWS(t, srv.HTTPAddr, "alice")
	alice.sendJSON(map[string]any{"type": "ping", "id": 17})
	if f := alice.expect("pong", func(f frame) bool { return f.Type == "pong" }); string(f.Raw) != `{"type":"pong","id":17}` {
		t.Fatalf("ping 17 answered with %s", f.Raw)
	}
	alice.sendJSON(map[string]any{"type": "ping"})
	if f := alice.expect("pong", func(f frame) bool { return f.Type == "pong" }); string(f.Raw) != `{"type":"pong"}` {
		t.Fatalf("a ping without id answered with %s", f.Raw)
	}
	alice.sendJSON(map[string]any{"type": "ping", "id": map[string]int{"x": 1}})
	if f := alice.expect("an error", func(f frame) bool { return f.Type == "error" || f.Type == "pong" }); f.Code != "bad_frame" {
		t.Fatalf("a ping with an object id answered with %s", f.Raw)
	}
}

// A client back from being away asks for what followed the last message it
// holds, page by page, until more is false.
func TestWebsocketHistoryAfter(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 3 })
	alice := joinWS(t, srv.HTTPAddr, "alice")
	alice.say("held")
	last := alice.expect("held", isMessage("alice", "held")).ID
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	missed := numbered("missed ", 1, 7)
	postAll(bob, "lobby", "bob", missed)

	var got []string
	after := last
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("more never became false")
		}
		alice.sendJSON(map[string]any{"type": "history", "room": "lobby", "after": after, "limit": 3})
		f := alice.expect("a history page", func(f frame) bool { return f.Type == "history" })
		if f.After != after {
			t.Fatalf("the answer repeats after %d, want %d: %s", f.After, after, f.Raw)
		}
		for _, m := range f.Messages {
			got = append(got, m.Text)
			after = m.ID
		}
		if !f.More {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(missed) {
		t.Fatalf("caught up with %q, want %q", got, missed)
	}
	alice.sendJSON(map[string]any{"type": "history", "room": "lobby", "before": after, "limit": 3})
	if f := alice.expect("a page back", func(f frame) bool { return f.Type == "history" }); !f.More || len(f.Messages) != 3 {
		t.Fatalf("a page before the newest: %s, want 3 messages and more", f.Raw)
	}
	alice.sendJSON(map[string]any{"type": "history", "room": "lobby", "before": last, "limit": 3})
	if f := alice.expect("the first page", func(f frame) bool { return f.Type == "history" }); f.More || len(f.Messages) != 0 {
		t.Fatalf("before the first message: %s, want none and no more", f.Raw)
	}
	alice.sendJSON(map[string]any{"type": "history", "room": "lobby", "before": after, "after": last})
	if f := alice.expect("an error", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_frame" {
		t.Fatalf("history with before and after: %s", f.Raw)
	}
}
