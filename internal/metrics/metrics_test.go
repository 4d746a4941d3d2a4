package metrics

import (
	"bufio"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// scrape fetches the exposition text and returns each sample line's value
// by its series (name with labels, as printed).
func scrape(t *testing.T, m *Metrics) (map[string]float64, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	return parseText(string(body)), string(body)
}

// parseText reads the series and values of Prometheus text exposition.
func parseText(body string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

func TestObserverSeries(t *testing.T) {
	m := New()
	m.RoomsChanged(1)
	m.SessionOpened(room.ViaSSH)
	m.SessionOpened(room.ViaSSH)
	m.SessionOpened(room.ViaWeb)
	m.SessionClosed(room.ViaSSH, room.ReasonSlowClient)
	m.SessionClosed(room.ViaWeb, room.ReasonQuit)
	m.SessionClosed(room.ViaWeb, room.CloseReason{Code: room.CodeKicked, Text: "kicked by alice: spam"})
	m.SessionOpened(room.ViaWeb)
	m.InputReceived(room.ViaWeb)
	m.InputReceived(room.ViaWeb)
	m.InputReceived(room.ViaSSH)
	m.InputRefused(room.ViaWeb, "too_long")
	m.InputRefused(room.ViaSSH, "unknown_command")
	m.InputRefused(room.ViaSSH, "unknown_command")
	m.Delivered(3)
	m.Delivered(2)
	m.Written(room.ViaWeb, 300*time.Microsecond)
	m.Written(room.ViaWeb, 2*time.Second)
	m.Written(room.ViaSSH, time.Millisecond)
	m.SSHHandshakeFailed()
	m.RoomsChanged(4)

	got, body := scrape(t, m)
	want := map[string]float64{
		`tertulia_sessions{via="ssh"}`:                                   1,
		`tertulia_sessions{via="web"}`:                                   0,
		`tertulia_sessions_opened_total{via="ssh"}`:                      2,
		`tertulia_sessions_opened_total{via="web"}`:                      2,
		`tertulia_sessions_closed_total{reason="slow_client",via="ssh"}`: 1,
		`tertulia_sessions_closed_total{reason="quit",via="web"}`:        1,
		`tertulia_sessions_closed_total{reason="kicked",via="web"}`:      1,
		`tertulia_slow_client_drops_total{via="ssh"}`:                    1,
		`tertulia_slow_client_drops_total{via="web"}`:                    0,
		`tertulia_rooms`: 4,
		`tertulia_messages_received_total{via="web"}`:                       2,
		`tertulia_messages_received_total{via="ssh"}`:                       1,
		`tertulia_inputs_refused_total{reason="too_long",via="web"}`:        1,
		`tertulia_inputs_refused_total{reason="unknown_command",via="ssh"}`: 2,
		`tertulia_deliveries_total`:                                         5,
		`tertulia_delivery_latency_seconds_count{via="web"}`:                2,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="0.0005"}`:   1,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="2.5"}`:      2,
		`tertulia_delivery_latency_seconds_count{via="ssh"}`:                1,
		`tertulia_ssh_handshake_failures_total`:                             1,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="0.00025"}`:  0,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="1"}`:        1,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="+Inf"}`:     2,
		`tertulia_delivery_latency_seconds_bucket{via="ssh",le="0.0005"}`:   0,
		`tertulia_delivery_latency_seconds_bucket{via="ssh",le="0.001"}`:    1,
	}
	for series, v := range want {
		g, ok := got[series]
		if !ok {
			t.Errorf("missing series %s", series)
			continue
		}
		if g != v {
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
	// The Go runtime and process collectors are there too.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if _, ok := got[name]; !ok {
			t.Errorf("missing %s in:\n%s", name, body)
		}
	}
	for _, help := range []string{"# HELP tertulia_sessions ", "# TYPE tertulia_delivery_latency_seconds histogram", "# TYPE tertulia_deliveries_total counter"} {
		if !strings.Contains(body, help) {
			t.Errorf("exposition lacks %q", help)
		}
	}
}

// Two Metrics do not share state: there is no global registry.
func TestNoGlobals(t *testing.T) {
	a, b := New(), New()
	a.Delivered(7)
	got, _ := scrape(t, b)
	if got["tertulia_deliveries_total"] != 0 {
		t.Fatalf("second Metrics saw the first's deliveries: %v", got["tertulia_deliveries_total"])
	}
}

// The observer is called from many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			via := room.ViaSSH
			if i%2 == 0 {
				via = room.ViaWeb
			}
			for range 1000 {
				m.SessionOpened(via)
				m.InputReceived(via)
				m.Delivered(2)
				m.Written(via, time.Millisecond)
				m.SessionClosed(via, room.ReasonClosed)
			}
		})
	}
	wg.Wait()
	got, _ := scrape(t, m)
	if got["tertulia_deliveries_total"] != 16000 {
		t.Fatalf("deliveries = %v, want 16000", got["tertulia_deliveries_total"])
	}
	if got[`tertulia_sessions{via="ssh"}`] != 0 || got[`tertulia_sessions{via="web"}`] != 0 {
		t.Fatalf("sessions gauges not back to 0: %v %v", got[`tertulia_sessions{via="ssh"}`], got[`tertulia_sessions{via="web"}`])
	}
}

// A front-end the package does not know gets its series created as used,
// as the known ones are.
func TestUnknownFrontEnd(t *testing.T) {
	m := New()
	irc := room.Via("irc")
	m.SessionOpened(irc)
	m.InputReceived(irc)
	m.Written(irc, time.Millisecond)
	m.SessionClosed(irc, room.ReasonSlowClient)
	got, body := scrape(t, m)
	for series, want := range map[string]float64{
		`tertulia_sessions{via="irc"}`:                       0,
		`tertulia_sessions_opened_total{via="irc"}`:          1,
		`tertulia_messages_received_total{via="irc"}`:        1,
		`tertulia_delivery_latency_seconds_count{via="irc"}`: 1,
		`tertulia_slow_client_drops_total{via="irc"}`:        1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v\n%s", series, v, ok, want, body)
		}
	}
}

// A cluster node's series read its counters at each scrape.
func TestClusterSeries(t *testing.T) {
	m := New()
	if got, _ := scrape(t, m); func() bool { _, ok := got["tertulia_cluster_lease_held"]; return ok }() {
		t.Fatal("a single node shows cluster series")
	}
	var mu sync.Mutex
	stats := ClusterStats{Published: 3, Received: 5, Gaps: 1, CatchUpEntries: 2, CatchUpFailures: 4, Disconnects: 6, Connected: true, LeaseHeld: true}
	m.ObserveCluster(func() ClusterStats {
		mu.Lock()
		defer mu.Unlock()
		return stats
	})
	got, body := scrape(t, m)
	for series, want := range map[string]float64{
		"tertulia_cluster_published_total": 3, "tertulia_cluster_received_total": 5, "tertulia_cluster_gaps_total": 1,
		"tertulia_cluster_catchup_entries_total": 2, "tertulia_cluster_catchup_failures_total": 4,
		"tertulia_cluster_bus_disconnects_total": 6, "tertulia_cluster_bus_connected": 1, "tertulia_cluster_lease_held": 1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v\n%s", series, v, ok, want, body)
		}
	}
	for _, typ := range []string{"# TYPE tertulia_cluster_gaps_total counter", "# TYPE tertulia_cluster_lease_held gauge"} {
		if !strings.Contains(body, typ) {
			t.Errorf("exposition lacks %q", typ)
		}
	}
	mu.Lock()
	stats.Published, stats.LeaseHeld, stats.Connected = 4, false, false
	mu.Unlock()
	got, _ = scrape(t, m)
	if got["tertulia_cluster_published_total"] != 4 || got["tertulia_cluster_lease_held"] != 0 || got["tertulia_cluster_bus_connected"] != 0 {
		t.Errorf("after a change: %v", got)
	}
}
