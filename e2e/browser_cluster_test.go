package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// Lines typed on a page while its node cannot renew its cluster lease (the
// bus answers, JetStream does not take its writes, as during a leader
// election) are refused by the server with cluster_unavailable; the page
// keeps them pending, sends the first again by itself with its cid, and
// the one typed after it waits for it: once the node holds its lease
// again both reach the others once each, in the order typed, without the
// user doing anything. A terminal on that node does the same with its
// line, saying it will send it again instead of showing the refusal.
func TestBrowserAndTerminalResendLinesRefusedWhileTheClusterIsUnavailable(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.StartUsers(t, "n1", "n2")
	node1 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n1"), "node-1" })
	node2 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n2"), "node-2" })
	carol := joinWS(t, node2.HTTPAddr, "carol")
	carol.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	p := newPage(t)
	p.login(node1.HTTPAddr, "alice")
	carol.expect("alice joins from node 1", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "alice" })
	dave := newPTYClient(t, node1.SSHAddr, "dave", 120, 30)
	carol.expect("dave joins from node 1", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "dave" })

	must(t, bus.Deny("n1", "$KV.tertulia_nodes.node-1"))
	// Node 1's lease has expired once carol sees alice leave: node 1
	// stores nothing by then.
	parted := map[string]bool{}
	carol.expect("alice and dave leaving once node 1's lease expires", func(f frame) bool {
		if f.Type == "part" && f.Room == "lobby" {
			parted[f.Nick] = true
		}
		return parted["alice"] && parted["dave"]
	})
	const first, second = "typed.while.refused", "typed.after.it"
	p.enter(first)
	p.waitPage("the refused line pending, sent again",
		`(text) => Array.from(document.querySelectorAll("#messages .line.pending")).some(e =>
			e.querySelector(".text").textContent === text && e.textContent.includes("sending again"))`, first)
	p.enter(second)
	p.waitPending(second)
	if n := eval[int](p, `document.querySelectorAll("#messages .line.failed").length`); n != 0 {
		t.Fatalf("%d lines shown failed while the page sends them again", n)
	}
	const daves = "dave.while.refused"
	dave.typeLine(daves)
	dave.waitScreen("will be sent again")

	must(t, bus.Deny("n1"))
	got := map[string][]string{}
	carol.expect("both lines from alice and dave's", func(f frame) bool {
		if f.Type == "message" {
			got[f.From] = append(got[f.From], f.Text)
		}
		return slices.Contains(got["alice"], second) && slices.Contains(got["dave"], daves)
	})
	if !slices.Equal(got["alice"], []string{first, second}) {
		t.Fatalf("carol got %q from alice, want %q once each in the order typed", got["alice"], []string{first, second})
	}
	if !slices.Equal(got["dave"], []string{daves}) {
		t.Fatalf("carol got %q from dave, want %q once", got["dave"], daves)
	}
	p.waitConfirmedOnce(first)
	p.waitConfirmedOnce(second)
	mine := slices.DeleteFunc(p.confirmedTexts(), func(s string) bool { return s == daves })
	wantTexts(t, "alice's page", mine, []string{first, second})
	p.assertNoConsoleErrors()
	if screen := dave.screen(); strings.Contains(screen, "message not sent") {
		t.Fatalf("dave's terminal shows a refusal:\n%s", screen)
	}
}

// A line the node keeps refusing with cluster_unavailable for longer than
// the page tries (shortened here with ?cluster-retry) is shown failed with
// the reason, Retry and Edit, its text back in the composer, and the line
// typed after it, which waited for it, is failed with it rather than sent
// ahead of it. Once the node serves again, Retry sends each, once.
func TestBrowserGivesUpResendingAfterItsTime(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.StartUsers(t, "n1", "n2")
	node1 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n1"), "node-1" })
	node2 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n2"), "node-2" })
	carol := joinWS(t, node2.HTTPAddr, "carol")
	carol.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	p := newPage(t)
	p.loginAt("http://"+node1.HTTPAddr+"/?cluster-retry=2000", "alice")
	carol.expect("alice joins from node 1", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "alice" })

	must(t, bus.Deny("n1", "$KV.tertulia_nodes.node-1"))
	carol.expect("alice leaving once node 1's lease expires", func(f frame) bool {
		return f.Type == "part" && f.Room == "lobby" && f.Nick == "alice"
	})
	const first, second = "refused.too.long", "typed.behind.it"
	p.enter(first)
	p.waitPage("the refused line pending, sent again",
		`(text) => Array.from(document.querySelectorAll("#messages .line.pending")).some(e =>
			e.querySelector(".text").textContent === text && e.textContent.includes("sending again"))`, first)
	p.enter(second)
	p.waitFailedWith(first, "cluster cannot be reached")
	p.waitFailedWith(second, "cluster cannot be reached")
	if v := p.composerValue(); v != first {
		t.Errorf("the composer holds %q, want the first refused line %q", v, first)
	}
	p.clearComposer()

	must(t, bus.Deny("n1"))
	awaitReady(t, node1.HTTPAddr)
	for _, text := range []string{first, second} {
		p.do("retry "+text, chromedp.Click(chromedp.CSS(`#messages .line.failed button[data-act="retry"]`)))
		carol.expect("alice's "+text, isMessage("alice", text))
		p.waitConfirmedOnce(text)
	}
	p.assertNoConsoleErrors()
}
