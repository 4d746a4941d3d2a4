package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/app"
)

// oldClient reads frames as a client written before presence summaries and
// member pages: it knows a few types and skips every other one.
type oldClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan map[string]any
}

func newOldClient(t *testing.T, httpAddr, nick string) *oldClient {
	t.Helper()
	conn, _, err := dialWS(t, httpAddr, nil, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	oc := &oldClient{t: t, conn: conn, frames: make(chan map[string]any, 10000)}
	go func() {
		defer close(oc.frames)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f["type"] {
			case "welcome", "join", "part", "nick", "members", "message", "history", "topic", "error", "notice":
				oc.frames <- f
			}
		}
	}()
	must(t, conn.WriteJSON(map[string]string{"type": "hello", "nick": nick}))
	return oc
}

func (oc *oldClient) expect(what string, ok func(map[string]any) bool) map[string]any {
	oc.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case f, open := <-oc.frames:
			if !open {
				oc.t.Fatalf("old client: connection closed before %s", what)
			}
			if ok(f) {
				return f
			}
		case <-timer.C:
			oc.t.Fatalf("old client: timed out waiting for %s", what)
		}
	}
}

// Above --presence-summary-above, websocket and line-mode members see
// presence summaries whose count settles on the true member count, a
// newcomer gets the count and a first page and can page through every
// member exactly once, and a client that skips unknown frames still chats.
func TestPresenceSummariesAndMemberPages(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.PresenceSummaryAbove = 5 })
	line := newLineClient(t, srv.SSHAddr, "liner")
	line.expect("-!- welcome liner")
	watcher := joinWS(t, srv.HTTPAddr, "watcher")
	old := newOldClient(t, srv.HTTPAddr, "oldie")
	old.expect("welcome", func(f map[string]any) bool { return f["type"] == "welcome" })

	nicks := []string{"liner", "watcher", "oldie"}
	for i := range 8 {
		nick := fmt.Sprintf("filler%d", i)
		joinWS(t, srv.HTTPAddr, nick)
		nicks = append(nicks, nick)
	}
	// Once quiet, the last summary counts everyone, in both formats.
	watcher.expect("a summary counting 11", func(f frame) bool { return f.Type == "presence" && f.Room == "lobby" && f.Count == 11 })
	line.expectFunc("a summary line counting 11", func(l string) bool {
		return strings.HasPrefix(l, "#lobby -!- ") && strings.HasSuffix(l, ", 11 members")
	})

	// A newcomer: its own join, then the count and a first page.
	late := newWSClient(t, srv.HTTPAddr)
	must(t, late.ws.Hello("late"))
	nicks = append(nicks, "late")
	late.expect("its own join", func(f frame) bool { return f.Type == "join" && f.Nick == "late" })
	first := late.expect("a first page", func(f frame) bool { return f.Type == "members" })
	if first.Total != len(nicks) || first.Next != "" || len(first.Members) != len(nicks) {
		t.Fatalf("first members frame: total %d, next %q, %d listed; want %d members in one page", first.Total, first.Next, len(first.Members), len(nicks))
	}

	// Paging three at a time lists each member once, in the list's order.
	var listed []string
	cursor := ""
	for range len(nicks) {
		must(t, late.ws.Names("lobby", cursor, 3))
		page := late.expect("a page", func(f frame) bool { return f.Type == "members" })
		if page.Total != len(nicks) || page.Cursor != cursor || len(page.Members) > 3 {
			t.Fatalf("page after %q: total %d, cursor %q, %d listed", cursor, page.Total, page.Cursor, len(page.Members))
		}
		for _, m := range page.Members {
			listed = append(listed, m.Nick)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	sorted := slices.Clone(listed)
	slices.Sort(sorted)
	want := slices.Clone(nicks)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Fatalf("paging listed %v, want each of %v once", listed, want)
	}

	// /who in line mode says how many and lists the first page.
	line.send("/who")
	line.expect(fmt.Sprintf("#lobby members (%d): ", len(nicks)))

	// The old client, which skipped every summary, still chats.
	watcher.say("still here?")
	old.expect("the message", func(f map[string]any) bool { return f["type"] == "message" && f["text"] == "still here?" })
}

// In a room above the threshold the page's member count follows the
// presence summaries, /who says how many and shows a first page with a way
// to the rest, and
// asking for the rest lists every member once.
func TestBrowserBigRoomMemberList(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.PresenceSummaryAbove = 3 })
	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	const others = 109 // with alice, more than one page of 100
	for i := range others {
		joinWS(t, srv.HTTPAddr, fmt.Sprintf("m%03d", i))
	}
	p.waitPage("the count of every member", `() => document.getElementById("member-count").textContent === "110 members"`)

	p.enter("/who")
	p.waitPage("a first page and a way to the rest", `() => document.querySelectorAll("#member-list li.member:not(.member-more)").length === 100 &&
		!!document.querySelector("#member-list [data-more-members]") &&
		document.getElementById("messages").textContent.includes("members (110, 100 shown)")`)
	p.do("ask for the rest", chromedp.Click(chromedp.CSS(`#member-list [data-more-members]`)))
	p.waitPage("every member listed once", `() => {
		const items = [...document.querySelectorAll("#member-list li.member:not(.member-more)")].map(li => li.textContent);
		return items.length === 110 && new Set(items).size === 110 && !document.querySelector("#member-list [data-more-members]");
	}`)
	p.assertNoConsoleErrors()
}
