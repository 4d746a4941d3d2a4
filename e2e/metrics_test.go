package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrapeMetrics fetches /metrics and returns each sample's value by series
// (name and labels as printed).
func scrapeMetrics(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitTimeout}).Get("http://" + addr + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			out[line[:i]] = v
		}
	}
	must(t, sc.Err())
	return out
}

// --metrics-addr serves Prometheus metrics on a listener of its own, and
// the counters move as people chat.
func TestMetrics(t *testing.T) {
	metricsAddr := freePort(t)
	p := startProcess(t, t.TempDir(), "--metrics-addr", metricsAddr, "--max-message", "50")

	// The chat's HTTP server does not serve metrics.
	resp, err := (&http.Client{Timeout: waitTimeout}).Get("http://" + p.HTTPAddr + "/metrics")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the chat's HTTP address: %d, want 404", resp.StatusCode)
	}

	before := scrapeMetrics(t, metricsAddr)
	for _, series := range []string{
		`tertulia_sessions{via="ssh"}`, `tertulia_sessions{via="web"}`,
		`tertulia_rooms`,
		`tertulia_messages_received_total{via="ssh"}`, `tertulia_messages_received_total{via="web"}`,
		`tertulia_deliveries_total`,
		`tertulia_slow_client_drops_total{via="ssh"}`, `tertulia_slow_client_drops_total{via="web"}`,
		`tertulia_ssh_handshake_failures_total`,
		`tertulia_delivery_latency_seconds_count{via="ssh"}`, `tertulia_delivery_latency_seconds_count{via="web"}`,
		`tertulia_delivery_latency_seconds_bucket{via="web",le="0.001"}`,
		`go_goroutines`, `go_memstats_heap_alloc_bytes`, `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
	} {
		if _, ok := before[series]; !ok {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if before[`tertulia_rooms`] != 1 {
		t.Errorf("tertulia_rooms = %v, want 1 (the lobby)", before[`tertulia_rooms`])
	}
	if before[`tertulia_sessions{via="ssh"}`] != 0 || before[`tertulia_sessions{via="web"}`] != 0 {
		t.Errorf("sessions before anyone connects: %v", before)
	}

	ssh := newLineClient(t, p.SSHAddr, "alice")
	ssh.expect("welcome alice")
	web := joinWS(t, p.HTTPAddr, "bob")
	ssh.expect("bob joined")
	for range 3 {
		ssh.send("from ssh")
		web.expect("ssh message", isMessage("alice", "from ssh"))
	}
	web.say("from the web")
	ssh.expect("<bob> from the web")
	ssh.send("/frobnicate")
	ssh.expect("frobnicate")
	web.say(strings.Repeat("x", 51))
	web.expect("too_long", func(f frame) bool { return f.Type == "error" && f.Code == "too_long" })
	ssh.send("/join #ops")
	ssh.expect("#ops --> alice joined (ssh)")

	// A port scanner: it says hello and hangs up in the handshake.
	c, err := net.Dial("tcp", p.SSHAddr)
	must(t, err)
	_, err = io.WriteString(c, "SSH-2.0-scanner\r\n")
	must(t, err)
	c.Close()
	p.expectLog("ssh handshake failed")

	// Inputs, refusals and deliveries are counted before their effects
	// reach anyone, so what the clients saw is all counted. A write's
	// latency is counted after the write, and a front-end writes one event
	// at a time: every event before the last one a client saw is counted.
	during := scrapeMetrics(t, metricsAddr)
	atLeast := func(series string, want float64) {
		t.Helper()
		if got := during[series]; got < want {
			t.Errorf("%s = %v, want at least %v", series, got, want)
		}
	}
	exactly := func(m map[string]float64, series string, want float64) {
		t.Helper()
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	exactly(during, `tertulia_sessions{via="ssh"}`, 1)
	exactly(during, `tertulia_sessions{via="web"}`, 1)
	exactly(during, `tertulia_sessions_opened_total{via="ssh"}`, 1)
	exactly(during, `tertulia_sessions_opened_total{via="web"}`, 1)
	exactly(during, `tertulia_messages_received_total{via="ssh"}`, 5)
	exactly(during, `tertulia_rooms`, 2)
	exactly(during, `tertulia_messages_received_total{via="web"}`, 2)
	exactly(during, `tertulia_inputs_refused_total{reason="unknown_command",via="ssh"}`, 1)
	exactly(during, `tertulia_inputs_refused_total{reason="too_long",via="web"}`, 1)
	exactly(during, `tertulia_ssh_handshake_failures_total`, 1)
	// 4 messages to 2 members, plus the joins and member lists.
	atLeast(`tertulia_deliveries_total`, 8)
	atLeast(`tertulia_delivery_latency_seconds_count{via="ssh"}`, 4)
	atLeast(`tertulia_delivery_latency_seconds_count{via="web"}`, 4)
	atLeast(`process_resident_memory_bytes`, 1)

	// Leaving moves the gauge down and counts the reason.
	web.say("/quit")
	p.expectLogWhere("disconnect", func(r map[string]any) bool { return r["nick"] == "bob" })
	after := scrapeMetrics(t, metricsAddr)
	exactly(after, `tertulia_sessions{via="web"}`, 0)
	exactly(after, `tertulia_sessions_closed_total{reason="quit",via="web"}`, 1)
	exactly(after, `tertulia_sessions{via="ssh"}`, 1)
}
