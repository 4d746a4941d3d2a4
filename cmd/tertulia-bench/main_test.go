package main

import (
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	b := appendPayload(nil, 12, 345, 1764097556123456789)
	if string(b) != "b12-345-1764097556123456789" {
		t.Fatalf("payload %q", b)
	}
	s, q, n, end, ok := parsePayload(string(b)+" tail", 0)
	if !ok || s != 12 || q != 345 || n != 1764097556123456789 || end != len(b) {
		t.Fatalf("parse: %d %d %d %d %v", s, q, n, end, ok)
	}
	for _, bad := range []string{"b12-345", "b-1-2", "x1-2-3", "b1-2-", "b1-2-12345678901234567890"} {
		if _, _, _, _, ok := parsePayload(bad, 0); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	h := new(hist)
	var vals []time.Duration
	for range 100000 {
		v := time.Duration(rand.ExpFloat64() * float64(5*time.Millisecond))
		vals = append(vals, v)
		h.add(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(q*float64(len(vals)))]
		got := h.quantile(q)
		if d := float64(got-want) / float64(want); d > 0.04 || d < -0.04 {
			t.Errorf("q%.2f = %s, want %s (±4%%)", q, got, want)
		}
	}
	if h.quantile(1) != vals[len(vals)-1] {
		t.Errorf("max %s, want %s", h.quantile(1), vals[len(vals)-1])
	}
	for i := 0; i < histBuckets-1; i++ {
		if histLow(i) >= histLow(i+1) || histBucket(histLow(i)) != i {
			t.Fatalf("bucket %d: low %d, next %d", i, histLow(i), histLow(i+1))
		}
	}
}

func TestParseStatus(t *testing.T) {
	room, n, ok := parseStatus(" bt7 │ #lobby │ 501 members │ a topic ")
	if !ok || room != "lobby" || n != 501 {
		t.Fatalf("%q %d %v", room, n, ok)
	}
	if _, _, ok := parseStatus("> typing"); ok {
		t.Fatal("input line parsed as status")
	}
}

func TestLineEventsAndRecording(t *testing.T) {
	r := newRun(config{Rooms: 1}, io.Discard)
	r.reg = newRegistry([]int{0}, 10)
	r.reg.sent[0][3].Store(1764097556123456789)
	r.reg.count[0].Store(4)
	c := &client{signals: make(chan sig, 16)}
	r.lineEvent(c, []byte("-!- welcome bl1"), time.Now())
	r.lineEvent(c, []byte("#lobby members (3): a (ssh), b (web), bl1 (ssh)"), time.Now())
	if c.gotNick != "bl1" || c.lobby != "lobby" || c.count.Load() != 3 {
		t.Fatalf("nick %q lobby %q count %d", c.gotNick, c.lobby, c.count.Load())
	}
	r.lineEvent(c, []byte("#lobby --> x joined (web)"), time.Now())
	r.lineEvent(c, []byte("#lobby <-- y left (quit)"), time.Now())
	if c.count.Load() != 3 {
		t.Fatalf("count %d after a join and a part", c.count.Load())
	}
	r.recording.Store(true)
	line := []byte("#lobby <bw0> b0-3-1764097556123456789")
	r.lineEvent(c, line, time.Now())
	r.lineEvent(c, line, time.Now())
	// History lines and payloads of other runs are not deliveries.
	r.lineEvent(c, []byte("#lobby @2024-05-01T18:04:05.123Z <bw0> b0-3-1764097556123456789"), time.Now())
	r.lineEvent(c, []byte("#lobby <bw0> b0-3-1764097556000000000"), time.Now())
	if c.track.unique != 1 || c.track.dups != 1 || c.track.stray != 1 {
		t.Fatalf("unique %d dups %d stray %d", c.track.unique, c.track.dups, c.track.stray)
	}
	// One latency, the delivery's: not the duplicate's.
	if h := r.latency.of(c.kind); h.n != 1 {
		t.Fatalf("%d latencies recorded", h.n)
	}
}

func TestScanScreenIgnoresInputLine(t *testing.T) {
	r := newRun(config{Rooms: 1}, io.Discard)
	r.reg = newRegistry([]int{0}, 10)
	r.reg.sent[0][1].Store(1764097556123456789)
	r.reg.sent[0][2].Store(1764097556123456790)
	r.recording.Store(true)
	c := &client{height: 6, signals: make(chan sig, 16)}
	screen := strings.Join([]string{
		"18:04 <bt0> b0-1-1764097556123456789",
		"18:04 <bt0> b0-1-1764097556123456789",
		"",
		"",
		" bt0 │ #lobby │ 2 members ",
		"> b0-2-1764097556123456790",
	}, "\n")
	var rows [][]byte
	for _, row := range strings.Split(screen, "\n") {
		rows = append(rows, []byte(row))
	}
	r.scanScreen(c, rows, time.Now(), nil)
	if c.track.unique != 1 || c.track.dups != 1 {
		t.Fatalf("unique %d dups %d", c.track.unique, c.track.dups)
	}
	if c.track.has(0, 2) {
		t.Fatal("the input line was taken for a delivery")
	}
	if c.lobby != "lobby" || c.count.Load() != 2 {
		t.Fatalf("status: lobby %q count %d", c.lobby, c.count.Load())
	}
}

func TestFlagsPresetThenOverride(t *testing.T) {
	c, err := parseFlags([]string{"--scenario", "web-fanout", "--duration", "5s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.WS != 2000 || c.Senders != 20 || c.Rate != 100 || c.Duration != 5*time.Second || c.TargetP99 != 50*time.Millisecond {
		t.Fatalf("%+v", c)
	}
	if _, err := parseFlags([]string{"--http-addr", "192.0.2.1:80"}, io.Discard); err == nil {
		t.Fatal("a remote address was accepted without --allow-remote")
	}
	if _, err := parseFlags([]string{"--ws", "20000"}, io.Discard); err == nil {
		t.Fatal("more clients than --max-conns were accepted")
	}
}

// The scaling preset runs one room per size; --sizes and --pty-sizes
// replace its sizes, and sizes above --max-conns are refused.
func TestScalingFlags(t *testing.T) {
	c, err := parseFlags([]string{"--scenario", "scaling", "--sizes", "100, 1000", "--pty-sizes", "100"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Sizes, []int{100, 1000}) || !slices.Equal(c.PTYSizes, []int{100}) || c.Senders != 10 || c.Rate != 10 {
		t.Fatalf("sizes %v, pty sizes %v, %d senders at %g/s", c.Sizes, c.PTYSizes, c.Senders, c.Rate)
	}
	if c.MaxTime <= 0 || c.MaxTime > 3*(10*time.Minute+c.Duration) {
		t.Fatalf("max time %s: not bounded by the runs", c.MaxTime)
	}
	for _, bad := range [][]string{
		{"--scenario", "scaling", "--sizes", "100,x"},
		{"--scenario", "scaling", "--sizes", "0"},
		{"--scenario", "scaling", "--sizes", "20000", "--max-conns", "12000"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// One --http-addr and one --pid work as they always have; several
// (repeated or comma-separated) spread the websocket clients over the
// servers round-robin, with the senders, in a --kill-node run, all off the
// node to be killed; the kill mode's flags are checked.
func TestClusterFlagsSpreadClients(t *testing.T) {
	one, err := parseFlags([]string{"--http-addr", "127.0.0.1:8181", "--pid", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if one.HTTPAddr != "127.0.0.1:8181" || !slices.Equal(one.HTTPAddrs, []string{"127.0.0.1:8181"}) || one.PID != 0 || len(one.PIDs) != 0 {
		t.Fatalf("one server: %q %v pid %d %v", one.HTTPAddr, one.HTTPAddrs, one.PID, one.PIDs)
	}
	def, err := parseFlags(nil, io.Discard)
	if err != nil || !slices.Equal(def.HTTPAddrs, []string{"127.0.0.1:8080"}) || def.HTTPAddr != "127.0.0.1:8080" {
		t.Fatalf("default address: %v %q (%v)", def.HTTPAddrs, def.HTTPAddr, err)
	}

	args := []string{"--http-addr", "127.0.0.1:8181,127.0.0.1:8182", "--http-addr", "127.0.0.1:8183",
		"--pid", "101,102", "--pid", "103", "--ws", "9", "--senders", "3", "--rate", "30", "--duration", "10s",
		"--kill-node", "3", "--kill-after", "4s"}
	c, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.HTTPAddrs, []string{"127.0.0.1:8181", "127.0.0.1:8182", "127.0.0.1:8183"}) || c.HTTPAddr != "127.0.0.1:8181" {
		t.Fatalf("addresses %v, first %q", c.HTTPAddrs, c.HTTPAddr)
	}
	if !slices.Equal(c.PIDs, []int{101, 102, 103}) || c.PID != 101 || c.KillNode != 3 || c.KillAfter != 4*time.Second {
		t.Fatalf("pids %v (first %d), kill node %d after %s", c.PIDs, c.PID, c.KillNode, c.KillAfter)
	}
	r := newRun(c, io.Discard)
	r.buildClients()
	perNode := make([]int, 3)
	for _, cl := range r.clients {
		perNode[cl.node]++
		if want := r.wsURLs[cl.node]; want != "ws://"+c.HTTPAddrs[cl.idx%3]+"/ws" {
			t.Errorf("client %d on %s", cl.idx, want)
		}
		if cl.sender >= 0 && r.onKilledNode(cl) {
			t.Errorf("sender %d is on the node to be killed", cl.sender)
		}
	}
	if !slices.Equal(perNode, []int{3, 3, 3}) {
		t.Fatalf("clients per node: %v", perNode)
	}

	for _, bad := range [][]string{
		{"--http-addr", "127.0.0.1:1,192.0.2.1:80"},
		{"--http-addr", "127.0.0.1:1,127.0.0.1:2", "--pid", "x"},
		{"--http-addr", "127.0.0.1:1,127.0.0.1:2", "--pid", "1,2", "--senders", "1", "--kill-node", "3", "--kill-after", "1s"},
		{"--http-addr", "127.0.0.1:1,127.0.0.1:2", "--pid", "1", "--senders", "1", "--kill-node", "2", "--kill-after", "1s"},
		{"--http-addr", "127.0.0.1:1", "--pid", "1", "--senders", "1", "--kill-node", "1", "--kill-after", "1s"},
		{"--http-addr", "127.0.0.1:1,127.0.0.1:2", "--pid", "1,2", "--senders", "1", "--kill-node", "2", "--kill-after", "20s", "--duration", "10s"},
		{"--http-addr", "127.0.0.1:1,127.0.0.1:2", "--pid", "1,2", "--senders", "1", "--line", "1", "--kill-node", "2", "--kill-after", "1s"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestServerLatencyFromItsHistogram(t *testing.T) {
	parse := func(lines ...string) map[string][]latencyBucket {
		out := map[string][]latencyBucket{}
		for _, l := range lines {
			name, val, _ := strings.Cut(l, " ")
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatal(err)
			}
			via, b, ok := parseLatencyBucket(name[strings.IndexByte(name, '{'):], v)
			if !ok {
				t.Fatalf("not a bucket: %s", l)
			}
			out[via] = append(out[via], b)
		}
		return out
	}
	before := parse(`x{via="web",le="0.01"} 100`, `x{via="web",le="0.025"} 100`, `x{via="web",le="+Inf"} 100`,
		`x{via="ssh",le="0.01"} 5`, `x{via="ssh",le="0.025"} 5`, `x{via="ssh",le="+Inf"} 5`)
	// Over the sending: 50 web writes within 10 ms, 50 between 10 and 25
	// ms; no ssh write.
	after := parse(`x{le="0.025",via="web"} 200`, `x{via="web",le="0.01"} 150`, `x{via="web",le="+Inf"} 200`,
		`x{via="ssh",le="0.01"} 5`, `x{via="ssh",le="0.025"} 5`, `x{via="ssh",le="+Inf"} 5`)
	got := latencyBetween(before, after)
	if _, ok := got["ssh"]; ok || len(got) != 1 {
		t.Fatalf("front-ends %v, want only web (ssh wrote nothing)", got)
	}
	web := got["web"]
	if web.Writes != 100 || math.Abs(web.P50-10) > 1e-9 || math.Abs(web.P99-24.7) > 1e-9 {
		t.Fatalf("web %+v, want 100 writes, p50 10 ms (the first bucket's bound), p99 24.7 ms (interpolated)", web)
	}
	// All in the last bucket: the bound below it.
	if q := bucketQuantile(0.99, []latencyBucket{{LE: 0.01, Count: 0}, {LE: math.Inf(1), Count: 10}}); q != 0.01 {
		t.Fatalf("p99 past the last bound: %v", q)
	}
}
