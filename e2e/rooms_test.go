package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/app"
)

// Two rooms with members on both front-ends.
func TestRoomsAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	sam := newLineClient(t, srv.SSHAddr, "sam")
	sam.expect("welcome sam")
	web := joinWS(t, srv.HTTPAddr, "wendy")
	lobbyOnly := newLineClient(t, srv.SSHAddr, "lola")
	lobbyOnly.expect("welcome lola")

	sam.send("/join #Dev")
	sam.expect("#dev --> sam joined (ssh)")
	web.say("/join dev")
	web.expect("wendy joins dev", func(f frame) bool { return f.Type == "join" && f.Room == "dev" && f.Nick == "wendy" })
	web.expect("dev history", func(f frame) bool { return f.Type == "history" && f.Room == "dev" })
	sam.expect("#dev --> wendy joined (web)")

	// Plain text goes to the current room (dev for both now).
	sam.send("in dev")
	web.expect("dev message", func(f frame) bool { return f.Type == "message" && f.Room == "dev" && f.Text == "in dev" })
	web.sendJSON(map[string]string{"type": "say", "room": "lobby", "text": "in lobby"})
	lobbyOnly.expect("#lobby <wendy> in lobby")
	sam.expect("#lobby <wendy> in lobby") // sam is still in the lobby too
	web.sendJSON(map[string]string{"type": "say", "room": "dev", "text": "back in dev"})
	sam.expect("#dev <wendy> back in dev")

	// Topic, set from the web, seen in the room and listed by /rooms.
	web.sendJSON(map[string]string{"type": "say", "room": "dev", "text": "/topic Go and coffee"})
	sam.expect("#dev --- topic: Go and coffee (set by wendy)")
	sam.send("/topic")
	sam.expect("-!- #dev topic: Go and coffee")
	sam.send("/rooms")
	sam.expect("-!- rooms (2):")
	sam.expect("-!-   #dev (2) Go and coffee")
	sam.expect("-!-   #lobby (3)")
	web.say("/rooms")
	f := web.expect("rooms", func(f frame) bool { return f.Type == "rooms" })
	if fmt.Sprint(f.Raw) == "" || !strings.Contains(string(f.Raw), `{"name":"dev","count":2,"topic":"Go and coffee"}`) {
		t.Fatalf("rooms frame: %s", f.Raw)
	}
	lobbyOnly.send("/names #dev")
	lobbyOnly.expect("#dev members (2): sam (ssh), wendy (web)")

	// Nothing from #dev reached the lobby-only member.
	lobbyOnly.send("/part")
	lobbyOnly.expect("#lobby <-- lola left (left)")
	lobbyOnly.send("homeless")
	lobbyOnly.expect("-!- error: you are not in a room")
	for _, l := range drainLines(lobbyOnly) {
		if strings.Contains(l, "#dev <") || strings.Contains(l, "in dev") {
			t.Fatalf("lobby-only member saw a #dev message: %q", l)
		}
	}

	// Bad room names are refused.
	sam.send("/join #no/slashes")
	sam.expect("-!- error: a room name may only use")
}

func drainLines(lc *lineClient) []string {
	var out []string
	for {
		select {
		case l := <-lc.lines:
			out = append(out, l)
		default:
			return out
		}
	}
}

// /msg and /reply across front-ends.
func TestPrivateMessagesAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	alice := joinWS(t, srv.HTTPAddr, "alice")
	eve := newLineClient(t, srv.SSHAddr, "eve")
	eve.expect("welcome eve")

	bob.send("/msg alice psst, a secret")
	f := alice.expect("private", func(f frame) bool { return f.Type == "private" })
	if f.From != "bob" || f.To != "alice" || f.Text != "psst, a secret" || f.ID == 0 || f.TS == "" {
		t.Fatalf("private frame %s", f.Raw)
	}
	bob.expect("[pm] bob -> alice: psst, a secret") // the sender sees it too

	alice.say("/reply got it")
	bob.expect("[pm] alice -> bob: got it")
	alice.expect("own copy", func(f frame) bool { return f.Type == "private" && f.From == "alice" && f.Text == "got it" })

	alice.say("/away lunch")
	alice.expect("away notice", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "away") })
	bob.send("/msg alice are you there?")
	bob.expect("-!- alice is away: lunch")
	bob.send("/who")
	bob.expect("#lobby members (3)")
	bob.send("/whois alice")
	bob.expect("-!- alice (web)")
	bob.expect("away: lunch")

	bob.send("/msg nobody hello")
	bob.expect("-!- error: nobody is not connected")
	alice.say("/msg ghost boo")
	if f := alice.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "no_such_nick" {
		t.Fatalf("got %s", f.Raw)
	}
	eve.send("/quit")
	eve.expect("Goodbye")
	for _, l := range drainLines(eve) {
		if strings.Contains(l, "psst") || strings.Contains(l, "got it") {
			t.Fatalf("a third party saw a private message: %q", l)
		}
	}
}

// History on join across front-ends, paging, and no duplicate or missing
// message around the join while messages flow.
func TestHistoryOnJoinAndPaging(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 5 })
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	for i := 1; i <= 12; i++ {
		poster.send(fmt.Sprintf("old %d", i))
		poster.expect(fmt.Sprintf("<poster> old %d", i))
	}

	// Web joiner: the last 5, oldest first, before anything live.
	web := newWSClient(t, srv.HTTPAddr)
	web.sendJSON(map[string]string{"type": "hello", "nick": "reader"})
	h := web.expect("history", func(f frame) bool { return f.Type == "history" })
	var got []string
	var hist struct {
		Messages []frame `json:"messages"`
	}
	mustJSON(t, h.Raw, &hist)
	for _, m := range hist.Messages {
		got = append(got, m.Text)
	}
	if strings.Join(got, ",") != "old 8,old 9,old 10,old 11,old 12" {
		t.Fatalf("history on join = %v", got)
	}
	// Paging: older than the oldest shown.
	web.sendJSON(map[string]any{"type": "history", "room": "lobby", "before": hist.Messages[0].ID, "limit": 4})
	page := web.expect("older page", func(f frame) bool { return f.Type == "history" && strings.Contains(string(f.Raw), `"before"`) })
	mustJSON(t, page.Raw, &hist)
	got = got[:0]
	for _, m := range hist.Messages {
		got = append(got, m.Text)
	}
	if strings.Join(got, ",") != "old 4,old 5,old 6,old 7" {
		t.Fatalf("older page = %v", got)
	}

	// SSH joiner gets the same history as timestamped lines.
	late := newLineClient(t, srv.SSHAddr, "late")
	for i := 8; i <= 12; i++ {
		l := late.expect(fmt.Sprintf("<poster> old %d", i))
		if !strings.HasPrefix(l, "#lobby @") {
			t.Fatalf("history line %q has no time stamp", l)
		}
	}

	// Joins while messages flow: each joiner sees every message exactly
	// once, as history or live, in order.
	const flowing = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < flowing; i++ {
			poster.send(fmt.Sprintf("flow %d", i))
		}
	}()
	var joiners []*wsClient
	for i := 0; i < 4; i++ {
		joiners = append(joiners, joinWS(t, srv.HTTPAddr, fmt.Sprintf("j%d", i)))
	}
	<-done
	for i, j := range joiners {
		var seen []string
		for {
			f := j.expect("flow", func(f frame) bool { return f.Type == "history" || f.Type == "message" })
			if f.Type == "history" {
				mustJSON(t, f.Raw, &hist)
				for _, m := range hist.Messages {
					seen = append(seen, m.Text)
				}
			} else {
				seen = append(seen, f.Text)
			}
			if len(seen) > 0 && seen[len(seen)-1] == fmt.Sprintf("flow %d", flowing-1) {
				break
			}
		}
		// From the first flow message it saw, all of them in order, once.
		first := -1
		for k, s := range seen {
			if strings.HasPrefix(s, "flow ") {
				first = k
				break
			}
		}
		var n int
		fmt.Sscanf(seen[first], "flow %d", &n)
		for k := first; k < len(seen); k++ {
			if seen[k] != fmt.Sprintf("flow %d", n) {
				t.Fatalf("joiner %d: at %d saw %q, want flow %d (sequence %v)", i, k, seen[k], n, seen)
			}
			n++
		}
	}
}
