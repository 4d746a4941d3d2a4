package e2e

import (
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// awaitReady asks /readyz until it answers 200: readiness coming back is a
// state of the server that no event announces, so the test asks again
// every 100 ms, within the usual bound.
func awaitReady(t *testing.T, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		code, body := getReadyz(t, httpAddr)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not come back: %d %q", code, body)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// A cluster node's /metrics counts what it sends and receives over NATS,
// and shows its lease and connection; /readyz fails while its PostgreSQL
// does not answer and while it has lost its lease, and comes back with
// them. The other node is not affected.
func TestClusterMetricsAndReadiness(t *testing.T) {
	pgURL, bus := postgresDatabase(t), natstest.Start(t)
	// Node 1 reaches PostgreSQL and NATS through proxies the test breaks.
	u, err := neturl.Parse(pgURL)
	must(t, err)
	pgProxy := newNetProxy(t, u.Host)
	u.Host = pgProxy.Addr()
	natsProxy := newNetProxy(t, strings.TrimPrefix(bus.URL(), "nats://"))
	metrics := []string{freePort(t), freePort(t)}
	node1 := startServer(t, func(c *app.Config) {
		c.Store, c.Cluster, c.NodeID, c.Listen.Metrics = u.String(), "nats://"+natsProxy.Addr(), "node-1", metrics[0]
	})
	node2 := startServer(t, func(c *app.Config) {
		c.Store, c.Cluster, c.NodeID, c.Listen.Metrics = pgURL, bus.URL(), "node-2", metrics[1]
	})
	alice := joinWS(t, node1.HTTPAddr, "alice")
	bob := joinWS(t, node2.HTTPAddr, "bob")
	bob.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	const sent = 3
	for i := range sent {
		text := fmt.Sprintf("counted %d", i)
		alice.say(text)
		alice.expect("echo", isMessage("alice", text))
		bob.expect("message from node 1", isMessage("alice", text))
	}

	m1, m2 := scrapeMetrics(t, metrics[0]), scrapeMetrics(t, metrics[1])
	if got := m1["tertulia_cluster_published_total"]; got != sent {
		t.Errorf("node 1 published %v entries, want %d", got, sent)
	}
	if got := m2["tertulia_cluster_published_total"]; got != 0 {
		t.Errorf("node 2 published %v entries, want 0", got)
	}
	// Node 2 had every message from the bus, or from the store where the
	// bus lost one.
	if got := m2["tertulia_cluster_received_total"] + m2["tertulia_cluster_catchup_entries_total"]; got < sent {
		t.Errorf("node 2 received %v and caught up %v entries, want %d in all", m2["tertulia_cluster_received_total"], m2["tertulia_cluster_catchup_entries_total"], sent)
	}
	for i, m := range []map[string]float64{m1, m2} {
		for series, want := range map[string]float64{
			"tertulia_cluster_lease_held": 1, "tertulia_cluster_bus_connected": 1, "tertulia_cluster_bus_disconnects_total": 0,
			"tertulia_cluster_catchup_failures_total": 0,
		} {
			if got, ok := m[series]; !ok || got != want {
				t.Errorf("node %d: %s = %v (present %v), want %v", i+1, series, got, ok, want)
			}
		}
		if _, ok := m["tertulia_cluster_gaps_total"]; !ok {
			t.Errorf("node %d has no tertulia_cluster_gaps_total", i+1)
		}
	}

	// PostgreSQL stops answering node 1.
	pgProxy.Stall()
	if code, body := getReadyz(t, node1.HTTPAddr); code != http.StatusServiceUnavailable || !strings.Contains(body, "fail store") {
		t.Fatalf("/readyz of node 1 without its store: %d %q", code, body)
	}
	if code, body := getReadyz(t, node2.HTTPAddr); code != http.StatusOK {
		t.Fatalf("/readyz of node 2 while node 1's store is away: %d %q", code, body)
	}
	pgProxy.Resume()
	awaitReady(t, node1.HTTPAddr)

	// NATS stops answering node 1: it fences itself (closes its sessions)
	// and is not ready.
	natsProxy.Stall()
	select {
	case <-alice.closed:
	case <-time.After(waitTimeout):
		t.Fatal("node 1 kept its sessions without its lease")
	}
	var ce *websocket.CloseError
	if err := alice.closeErr(); !errors.As(err, &ce) || ce.Text != "cluster connection lost" {
		t.Fatalf("websocket closed with %v, want reason cluster connection lost", err)
	}
	if code, body := getReadyz(t, node1.HTTPAddr); code != http.StatusServiceUnavailable || !strings.Contains(body, "fail cluster") {
		t.Fatalf("/readyz of node 1 without its lease: %d %q", code, body)
	}
	if got := scrapeMetrics(t, metrics[0])["tertulia_cluster_lease_held"]; got != 0 {
		t.Fatalf("node 1 without its lease: lease_held %v", got)
	}
	// The connection breaks (a disconnect), then NATS is reachable again:
	// node 1 reconnects, takes its lease again and is ready.
	natsProxy.Cut()
	natsProxy.Resume()
	awaitReady(t, node1.HTTPAddr)
	m1 = scrapeMetrics(t, metrics[0])
	if m1["tertulia_cluster_bus_disconnects_total"] < 1 || m1["tertulia_cluster_lease_held"] != 1 || m1["tertulia_cluster_bus_connected"] != 1 {
		t.Fatalf("node 1 after NATS came back: disconnects %v, lease_held %v, bus_connected %v",
			m1["tertulia_cluster_bus_disconnects_total"], m1["tertulia_cluster_lease_held"], m1["tertulia_cluster_bus_connected"])
	}
	// It counts the fence as one; it never had its lease unrenewed while
	// NATS answered it.
	if m1["tertulia_cluster_fences_total"] < 1 || m1["tertulia_cluster_soft_periods_total"] != 0 {
		t.Fatalf("node 1 after NATS came back: fences %v, soft periods %v; want at least one fence and no soft period",
			m1["tertulia_cluster_fences_total"], m1["tertulia_cluster_soft_periods_total"])
	}
	carol := joinWS(t, node1.HTTPAddr, "carol")
	carol.say("back again")
	bob.expect("message after the node came back", isMessage("carol", "back again"))
}
