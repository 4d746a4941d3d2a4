package e2e

import (
	"testing"
)

// Going away and coming back reaches the other members live, in each room
// of the member in the order it joined them: the websocket frame the page
// updates its member list from, and the line-mode lines.
func TestAwayIsLiveAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("-!- welcome bob")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined (ssh)")
	watcher := newLineClient(t, srv.SSHAddr, "watcher")
	watcher.expect("-!- welcome watcher")
	watcher.send("/join #dev")
	watcher.expect("#dev --> watcher joined (ssh)")
	web := joinWS(t, srv.HTTPAddr, "alice")
	web.say("/join #dev")
	web.expect("alice in #dev", func(f frame) bool { return f.Type == "history" && f.Room == "dev" })

	bob.send("/away making coffee")
	for _, room := range []string{"lobby", "dev"} {
		f := web.expect("bob away in #"+room, func(f frame) bool { return f.Type == "away" })
		if want := `{"type":"away","room":"` + room + `","nick":"bob","away":"making coffee"}`; string(f.Raw) != want {
			t.Fatalf("away frame %s, want %s", f.Raw, want)
		}
	}
	watcher.expect("#lobby away bob: making coffee")
	watcher.expect("#dev away bob: making coffee")

	bob.send("/back")
	for _, room := range []string{"lobby", "dev"} {
		f := web.expect("bob back in #"+room, func(f frame) bool { return f.Type == "away" })
		if want := `{"type":"away","room":"` + room + `","nick":"bob"}`; string(f.Raw) != want {
			t.Fatalf("back frame %s, want %s", f.Raw, want)
		}
	}
	watcher.expect("#lobby back bob")
	watcher.expect("#dev back bob")
}
