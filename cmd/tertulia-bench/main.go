// Command tertulia-bench is a load generator for a running Tertulia server.
// It opens websocket clients and SSH clients (line mode and full-screen PTY
// sessions), puts them in one or more rooms, has some of them send at a given
// rate, and reports connect times, delivery latency (send to receive, per
// delivery), deliveries per second, lost and duplicated deliveries, and the
// server's memory and CPU (from /proc/PID with --pid, or from /metrics).
//
// Every run is bounded: by --duration, by --max-time for the whole run, and
// by a connection count (--max-conns). It only ever connects to the
// addresses it is given, which must be loopback unless --allow-remote.
//
//	go run ./cmd/tertulia-bench --scenario web-fanout --http-addr 127.0.0.1:8181 --pid $(pidof tertulia)
//
// See docs/performance.md for the scenarios and the reference figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

type config struct {
	Scenario string `json:"scenario"`
	HTTPAddr string `json:"http_addr"`
	SSHAddr  string `json:"ssh_addr"`

	WS    int `json:"ws"`
	Line  int `json:"line"`
	PTY   int `json:"pty"`
	Rooms int `json:"rooms"`

	Senders    int           `json:"senders"`
	SenderKind string        `json:"sender_kind"`
	Rate       float64       `json:"rate"`
	Duration   time.Duration `json:"duration_ns"`
	Grace      time.Duration `json:"grace_ns"`

	ConnectTimeout     time.Duration `json:"connect_timeout_ns"`
	ConnectConcurrency int           `json:"connect_concurrency"`
	ConnectRate        float64       `json:"connect_rate"`
	MaxLag             int64         `json:"max_lag"`
	Settle             time.Duration `json:"settle_ns"`
	Width              int           `json:"pty_width"`
	Height             int           `json:"pty_height"`
	EmulateEvery       int           `json:"emulate_every"`

	PID        int    `json:"pid"`
	MetricsURL string `json:"metrics_url"`
	PprofURL   string `json:"pprof_url"`

	MaxConns    int           `json:"max_conns"`
	MaxTime     time.Duration `json:"max_time_ns"`
	AllowRemote bool          `json:"allow_remote"`
	NickPrefix  string        `json:"nick_prefix"`

	StormKinds       string        `json:"storm_kinds"`
	StormStart       float64       `json:"storm_start"`
	StormMax         float64       `json:"storm_max"`
	StormFactor      float64       `json:"storm_factor"`
	StormStage       time.Duration `json:"storm_stage_ns"`
	StormInflight    int           `json:"storm_inflight"`
	StormTimeout     time.Duration `json:"storm_timeout_ns"`
	StormMaxAttempts int           `json:"storm_max_attempts"`
	ProbeEvery       time.Duration `json:"probe_every_ns"`

	TargetP99      time.Duration `json:"target_p99_ns"`
	TargetWSBytes  int64         `json:"target_ws_bytes"`
	TargetPTYBytes int64         `json:"target_pty_bytes"`

	JSON    bool   `json:"-"`
	JSONOut string `json:"-"`
}

// scenarios are the presets of docs/performance.md; flags given on the
// command line override them.
var scenarios = map[string]func(*config){
	"web-fanout": func(c *config) {
		c.WS, c.Senders, c.Rate, c.Duration, c.TargetP99 = 2000, 20, 100, 60*time.Second, 50*time.Millisecond
	},
	"terminal-fanout": func(c *config) {
		c.PTY, c.Senders, c.Rate, c.Duration, c.TargetP99 = 500, 10, 10, 60*time.Second, 100*time.Millisecond
	},
	"capacity": func(c *config) {
		c.WS, c.PTY, c.Senders, c.Duration = 10000, 1000, 0, 30*time.Second
		c.TargetWSBytes, c.TargetPTYBytes = 48<<10, 384<<10
	},
	"storm": func(c *config) {
		c.Duration = 180 * time.Second
	},
	"custom": func(*config) {},
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "tertulia-bench:", err)
		return 2
	}
	if lim, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "tertulia-bench: raising the open-files limit:", err)
	} else if need := uint64(cfg.WS+cfg.Line+cfg.PTY) + 64; lim < need {
		fmt.Fprintf(stderr, "tertulia-bench: the open-files limit is %d, %d clients need about %d (raise the hard limit)\n", lim, cfg.WS+cfg.Line+cfg.PTY, need)
		return 2
	}
	if cfg.PID > 0 {
		if _, err := readProc(cfg.PID); err != nil {
			fmt.Fprintln(stderr, "tertulia-bench: --pid:", err)
			return 2
		}
		if lim := serverFileLimit(cfg.PID); lim > 0 && lim < int64(cfg.WS+cfg.Line+cfg.PTY)+64 {
			fmt.Fprintf(stderr, "tertulia-bench: the server's open-files limit is %d, too low for %d sessions: start it from a shell with `ulimit -n 65536` (or the hard limit)\n", lim, cfg.WS+cfg.Line+cfg.PTY)
			return 2
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxTime)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	r := newRun(cfg, stderr)
	rep := r.execute(ctx)
	if ctx.Err() != nil && rep.Aborted == "" {
		rep.Aborted = "stopped early: " + context.Cause(ctx).Error()
	}
	if cfg.JSON {
		writeJSON(stdout, rep)
	} else {
		writeTable(stdout, rep)
	}
	if cfg.JSONOut != "" {
		f, err := os.Create(cfg.JSONOut)
		if err == nil {
			writeJSON(f, rep)
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, "tertulia-bench: --json-out:", err)
		}
	}
	if rep.Aborted != "" || !rep.allPassed() {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	// First pass: which preset. Second pass: defaults, then the preset, then
	// the flags given, so that what is on the command line wins.
	var first config
	fs := newFlagSet(&first, io.Discard)
	if err := fs.Parse(args); err != nil {
		fs = newFlagSet(&first, stderr)
		return first, fs.Parse(args)
	}
	preset, ok := scenarios[first.Scenario]
	if !ok {
		return first, fmt.Errorf("unknown --scenario %q", first.Scenario)
	}
	var c config
	preset(&c)
	fs = newFlagSet(&c, stderr)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.WS < 0 || c.Line < 0 || c.PTY < 0 || c.Senders < 0 || c.Rooms < 1:
		return c, errors.New("client, sender and room counts cannot be negative")
	case c.WS+c.Line+c.PTY > c.MaxConns:
		return c, fmt.Errorf("%d clients is more than --max-conns %d", c.WS+c.Line+c.PTY, c.MaxConns)
	case c.Senders > c.WS+c.Line+c.PTY:
		return c, errors.New("more senders than clients")
	case c.SenderKind != "any" && c.SenderKind != "ws" && c.SenderKind != "line" && c.SenderKind != "pty":
		return c, fmt.Errorf("--sender-kind %q: any, ws, line or pty", c.SenderKind)
	case c.SenderKind == "ws" && c.Senders > c.WS, c.SenderKind == "line" && c.Senders > c.Line, c.SenderKind == "pty" && c.Senders > c.PTY:
		return c, errors.New("more senders than clients of --sender-kind")
	case c.Senders > 0 && (c.Rate <= 0 || c.Rate > 100000):
		return c, errors.New("--rate must be in (0, 100000]")
	case c.Duration <= 0 || c.Duration > 24*time.Hour:
		return c, errors.New("--duration must be positive (and under a day)")
	case c.Rooms > 1 && c.Rooms > c.WS+c.Line+c.PTY:
		return c, errors.New("more rooms than clients")
	case c.StormInflight < 1 || c.StormInflight > c.MaxConns:
		return c, errors.New("--storm-inflight must be between 1 and --max-conns")
	case c.StormFactor <= 1:
		return c, errors.New("--storm-factor must be above 1")
	case c.ProbeEvery < 10*time.Millisecond:
		return c, errors.New("--probe-every must be at least 10ms")
	case c.Width < 40 || c.Height < 5:
		return c, errors.New("PTY size too small (at least 40x5)")
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 15*time.Minute + c.Duration
	}
	if c.ConnectConcurrency < 1 {
		c.ConnectConcurrency = 1
	}
	if c.EmulateEvery < 1 {
		c.EmulateEvery = 1
	}
	for _, a := range []string{c.HTTPAddr, c.SSHAddr} {
		if err := checkAddr(a, c.AllowRemote); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkAddr makes sure the tool loads only a server on this machine, unless
// told otherwise.
func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tertulia-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Scenario, "scenario", "custom", "preset: web-fanout, terminal-fanout, capacity, storm or custom (flags given override the preset)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "the server's HTTP address (websockets at /ws)")
	fs.StringVar(&c.SSHAddr, "ssh-addr", "127.0.0.1:2222", "the server's SSH address")
	fs.IntVar(&c.WS, "ws", c.WS, "websocket clients")
	fs.IntVar(&c.Line, "line", c.Line, "SSH line-mode clients (no PTY)")
	fs.IntVar(&c.PTY, "pty", c.PTY, "SSH clients with a PTY (the full-screen interface)")
	fs.IntVar(&c.Rooms, "rooms", 1, "rooms to spread the clients over: 1 is the lobby; more are bench1, bench2... joined with /join")
	fs.IntVar(&c.Senders, "senders", c.Senders, "clients that send (spread evenly over all clients)")
	fs.StringVar(&c.SenderKind, "sender-kind", "any", "which clients send: any (spread over all), ws, line or pty")
	fs.Float64Var(&c.Rate, "rate", orF(c.Rate, 10), "messages per second, all senders together")
	fs.DurationVar(&c.Duration, "duration", orD(c.Duration, 10*time.Second), "how long to send (capacity: how long to hold the idle sessions; storm: bound of the whole storm)")
	fs.DurationVar(&c.Grace, "grace", 5*time.Second, "after the last send, how long to wait for deliveries before counting the missing as lost")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 30*time.Second, "time allowed for one client to connect and join")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", 16, "clients connecting at once")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "at most this many new clients per second (0: no limit beyond --max-lag)")
	fs.Int64Var(&c.MaxLag, "max-lag", 64, "pause connecting while sampled clients have more than this many join events still to read (keeps clients far from the server's outbound queue limit)")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "pause after connecting, before measuring memory or sending")
	fs.IntVar(&c.Width, "pty-width", 80, "terminal width of PTY clients")
	fs.IntVar(&c.Height, "pty-height", 24, "terminal height of PTY clients")
	fs.IntVar(&c.EmulateEvery, "emulate-every", 100, "when nothing is sent, run a terminal emulator on one PTY client in this many (to pace connections); the others discard their output")
	fs.IntVar(&c.PID, "pid", 0, "the server's process id, to read its memory and CPU from /proc")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "the server's Prometheus /metrics URL (process_resident_memory_bytes, process_cpu_seconds_total), if --pid is not usable")
	fs.StringVar(&c.PprofURL, "pprof-url", "", "the server's pprof base URL (its --pprof-addr, e.g. http://127.0.0.1:6060): memory is then also measured after forcing a garbage collection through /debug/pprof/heap?gc=1, as an idle server reaches within two minutes anyway")
	fs.IntVar(&c.MaxConns, "max-conns", 12000, "refuse to open more connections than this")
	fs.DurationVar(&c.MaxTime, "max-time", 0, "hard bound of the whole run (default: 15m plus --duration)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow non-loopback addresses (only load servers you run)")
	fs.StringVar(&c.NickPrefix, "nick-prefix", "b", "prefix of the clients' nicks")
	fs.StringVar(&c.StormKinds, "storm-kinds", "ssh,ws", "storm: what to open, in order: ssh (handshake+auth+session, line mode), pty, ws (upgrade+hello)")
	fs.Float64Var(&c.StormStart, "storm-start", 50, "storm: first rate, connections per second")
	fs.Float64Var(&c.StormMax, "storm-max", 10000, "storm: highest rate tried")
	fs.Float64Var(&c.StormFactor, "storm-factor", 1.5, "storm: rate multiplier between stages")
	fs.DurationVar(&c.StormStage, "storm-stage", 3*time.Second, "storm: duration of one stage")
	fs.IntVar(&c.StormInflight, "storm-inflight", 1000, "storm: most connections being opened at once; reaching it fails the stage")
	fs.DurationVar(&c.StormTimeout, "storm-timeout", 5*time.Second, "storm: a connection taking longer than this fails the stage")
	fs.IntVar(&c.StormMaxAttempts, "storm-max-attempts", 100000, "storm: most connections opened in all")
	fs.DurationVar(&c.ProbeEvery, "probe-every", time.Second, "storm: how often the probe client sends itself a message; keep it under the server's --rate (default 2 a second), or the server refuses and then drops it for flooding")
	fs.DurationVar(&c.TargetP99, "target-p99", c.TargetP99, "fail the run if the p99 delivery latency is above this (0: no target)")
	fs.Int64Var(&c.TargetWSBytes, "target-ws-bytes", c.TargetWSBytes, "capacity: fail if a websocket session costs more resident memory than this")
	fs.Int64Var(&c.TargetPTYBytes, "target-pty-bytes", c.TargetPTYBytes, "capacity: fail if a PTY session costs more resident memory than this")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&c.JSONOut, "json-out", "", "also write the report as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tertulia-bench [flags]\n\nLoad generator for a running Tertulia server (see docs/performance.md).\nEvery run is bounded in time and connections and loads only the given (loopback) addresses.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func checkAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not a loopback address (use --allow-remote for a server of yours elsewhere)", addr)
	}
	return nil
}

// run is one execution of the tool.
type run struct {
	cfg      config
	log      io.Writer
	probe    serverProbe
	wsURL    string
	wsDialer *websocket.Dialer

	clients []*client
	reg     *registry
	stats   deliveryStats
	series  series

	recording  atomic.Bool
	readyCount atomic.Int64
	dropped    atomic.Int64
	lag        atomic.Int64 // largest backlog of join events among sampled clients

	sampleMu sync.Mutex
	samples  []*client
	latest   *client // the client that became ready last

	peakMu  sync.Mutex
	peakRSS int64
}

func newRun(cfg config, log io.Writer) *run {
	return &run{
		cfg:   cfg,
		log:   log,
		probe: serverProbe{pid: cfg.PID, metricsURL: cfg.MetricsURL},
		wsURL: "ws://" + cfg.HTTPAddr + "/ws",
		wsDialer: &websocket.Dialer{
			HandshakeTimeout: cfg.ConnectTimeout,
			ReadBufferSize:   4096,
			WriteBufferSize:  1024,
			NetDialContext:   (&net.Dialer{Timeout: cfg.ConnectTimeout}).DialContext,
		},
	}
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func (r *run) roomName(i int) string {
	if r.cfg.Rooms <= 1 {
		return ""
	}
	return fmt.Sprintf("bench%d", i+1)
}

// markReady counts c as connected and in its room.
func (r *run) markReady(c *client) {
	c.readyOrd = r.readyCount.Add(1)
	c.ready.Store(true)
	r.sampleMu.Lock()
	defer r.sampleMu.Unlock()
	r.latest = c
	sample := c.readyOrd%25 == 1
	if c.kind == kindPTY {
		// Only terminals with an emulator know their count, and in several
		// rooms their status line shows their own room's.
		sample = c.emulate && r.cfg.Rooms == 1 && (c.idx%25 == 0 || !r.sending())
	}
	if sample && len(r.samples) < 1024 {
		r.samples = append(r.samples, c)
	}
}

func (r *run) sending() bool { return r.cfg.Senders > 0 }

// updateLag estimates how far behind the clients are in reading events:
// the lobby's member count as the newest client saw it at its join, minus
// the count each sampled client has reached by reading joins and parts.
func (r *run) updateLag() {
	r.sampleMu.Lock()
	samples := slices.Clone(r.samples)
	latest := r.latest
	r.sampleMu.Unlock()
	var ref int64
	if latest != nil && latest.kind != kindPTY || latest != nil && latest.emulate {
		ref = latest.count.Load()
	}
	for _, c := range samples {
		if !c.dead.Load() {
			ref = max(ref, c.count.Load())
		}
	}
	var lag int64
	for _, c := range samples {
		if !c.dead.Load() {
			lag = max(lag, ref-c.count.Load())
		}
	}
	r.lag.Store(lag)
}

func (r *run) backlog() int64 { return r.lag.Load() }

// phaseReport describes the connection of one kind of client.
type phaseReport struct {
	Kind       string         `json:"kind"`
	Wanted     int            `json:"wanted"`
	OK         int            `json:"ok"`
	Failed     int            `json:"failed"`
	FirstError string         `json:"first_error,omitempty"`
	Seconds    float64        `json:"seconds"`
	PerSecond  float64        `json:"per_second"`
	Latency    latencySummary `json:"connect_latency"`
	// Server resident memory after this phase (and the settle pause), and
	// after a forced garbage collection (with --pprof-url).
	RSSAfter   int64 `json:"server_rss_after,omitempty"`
	RSSAfterGC int64 `json:"server_rss_after_gc,omitempty"`
}

// connectAll connects clients (all of one kind), pacing so that nobody
// falls behind reading the join events the newcomers cause.
func (r *run) connectAll(ctx context.Context, list []*client) phaseReport {
	rep := phaseReport{Wanted: len(list)}
	if len(list) > 0 {
		rep.Kind = list[0].kind.String()
	}
	start := time.Now()
	lat := new(hist)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	lastLog := time.Now()
	for w := 0; w < r.cfg.ConnectConcurrency; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(list) || ctx.Err() != nil {
					return
				}
				if r.cfg.ConnectRate > 0 {
					at := start.Add(time.Duration(float64(i) / r.cfg.ConnectRate * float64(time.Second)))
					sleepCtx(ctx, time.Until(at))
				}
				for r.backlog() > r.cfg.MaxLag && ctx.Err() == nil {
					sleepCtx(ctx, 2*time.Millisecond)
				}
				c := list[i]
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
				var err error
				if c.kind == kindWS {
					err = r.connectWS(cctx, c)
				} else {
					err = r.connectSSH(cctx, c)
				}
				cancel()
				c.connectDur = time.Since(t0)
				mu.Lock()
				if err != nil {
					c.connectErr = err
					rep.Failed++
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
					c.close()
				} else {
					rep.OK++
					lat.add(c.connectDur)
				}
				if time.Since(lastLog) > 5*time.Second {
					lastLog = time.Now()
					r.logf("connecting %s: %d/%d ok, %d failed, backlog %d", rep.Kind, rep.OK, len(list), rep.Failed, r.backlog())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.PerSecond = float64(rep.OK) / rep.Seconds
	}
	rep.Latency = lat.summary()
	r.logf("connected %s: %d ok, %d failed in %.1fs", rep.Kind, rep.OK, rep.Failed, rep.Seconds)
	return rep
}

// settle waits for every sampled client to have read the joins (bounded),
// then for --settle.
func (r *run) settle(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Minute)
	for r.backlog() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	if b := r.backlog(); b > 0 {
		r.logf("clients still %d join events behind after 2 minutes", b)
	}
	sleepCtx(ctx, r.cfg.Settle)
}

// forceGC asks the server for a heap profile with gc=1, which runs a
// garbage collection first.
func (r *run) forceGC(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.cfg.PprofURL, "/")+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// execute runs the scenario and returns its report.
func (r *run) execute(ctx context.Context) *report {
	rep := &report{Config: r.cfg, Started: time.Now()}
	m0, tool0, srv0 := readMachineCPU(), selfSample(), r.probe.sample(ctx)
	defer func() {
		// What other processes took from the machine during the run.
		m1, tool1, srv1 := readMachineCPU(), selfSample(), r.probe.sample(context.Background())
		if m0.OK && m1.OK && srv0.OK && srv1.OK {
			rep.OtherCPU = max(0, (m1.Busy-m0.Busy)-(srv1.CPU-srv0.CPU)-(tool1.CPU-tool0.CPU))
			rep.OtherCPUPct = 100 * rep.OtherCPU / (m1.Total - m0.Total)
		}
	}()
	if r.cfg.Scenario == "storm" {
		rep.ServerBefore = srv0
		rep.Storm = r.storm(ctx)
		rep.ServerAfter = r.probe.sample(context.Background())
		t1 := selfSample()
		rep.ToolCPUSeconds, rep.ToolRSS = t1.CPU-tool0.CPU, t1.RSS
		rep.finish(r)
		return rep
	}
	r.buildClients()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	bgctx, bgstop := context.WithCancel(ctx)
	defer bgstop()
	go func() {
		for {
			select {
			case <-tick.C:
				r.updateLag()
			case <-bgctx.Done():
				return
			}
		}
	}()
	if r.probe.enabled() {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if s := r.probe.sample(bgctx); s.OK {
						r.peakMu.Lock()
						r.peakRSS = max(r.peakRSS, s.RSS)
						r.peakMu.Unlock()
					}
				case <-bgctx.Done():
					return
				}
			}
		}()
	}

	rep.ServerBefore = r.probe.sample(ctx)
	toolBefore := selfSample()
	for k := kind(0); k < numKinds; k++ {
		var list []*client
		for _, c := range r.clients {
			if c.kind == k {
				list = append(list, c)
			}
		}
		if len(list) == 0 || ctx.Err() != nil {
			continue
		}
		ph := r.connectAll(ctx, list)
		r.settle(ctx)
		if s := r.probe.sample(ctx); s.OK {
			ph.RSSAfter = s.RSS
		}
		if r.cfg.PprofURL != "" && r.forceGC(ctx) == nil {
			sleepCtx(ctx, 5*time.Second) // the scavenger returns the freed pages
			if s := r.probe.sample(ctx); s.OK {
				ph.RSSAfterGC = s.RSS
			}
		}
		rep.Connect = append(rep.Connect, ph)
	}
	rep.ServerConnected = r.probe.sample(ctx)
	if ctx.Err() == nil {
		if r.sending() {
			rep.Delivery = r.send(ctx, rep)
		} else {
			r.logf("holding %d idle sessions for %s", r.readyCount.Load(), r.cfg.Duration)
			s0, t0 := r.probe.sample(ctx), time.Now()
			sleepCtx(ctx, r.cfg.Duration)
			s1 := r.probe.sample(ctx)
			if s0.OK && s1.OK {
				rep.IdleCPUPercent = 100 * (s1.CPU - s0.CPU) / time.Since(t0).Seconds()
			}
		}
	}
	rep.ServerAfter = r.probe.sample(context.Background())
	toolAfter := selfSample()
	rep.ToolCPUSeconds = toolAfter.CPU - toolBefore.CPU
	rep.ToolRSS = toolAfter.RSS
	rep.Dropped = r.dropped.Load()
	for _, c := range r.clients {
		rep.ServerErrors += c.errorsSeen.Load()
		if p := c.firstError.Load(); p != nil && rep.FirstServerError == "" {
			rep.FirstServerError = *p
		}
	}
	for _, c := range r.clients {
		if c.connectErr == nil && c.dead.Load() && rep.DropReason == "" {
			if p := c.deadWhy.Load(); p != nil {
				rep.DropReason = *p
			}
		}
	}
	r.peakMu.Lock()
	rep.ServerPeakRSS = r.peakRSS
	r.peakMu.Unlock()
	r.logf("closing %d clients", len(r.clients))
	r.closeAll()
	rep.finish(r)
	return rep
}

// buildClients lays out the clients: websocket first, then line mode, then
// PTY; rooms round-robin; senders evenly spread.
func (r *run) buildClients() {
	cfg := r.cfg
	n := 0
	add := func(k kind, count int, tag string) {
		for i := 0; i < count; i++ {
			c := &client{
				idx: n, kind: k, room: n % cfg.Rooms, sender: -1,
				nick:       fmt.Sprintf("%s%s%d", cfg.NickPrefix, tag, i),
				signals:    make(chan sig, 16),
				readerDone: make(chan struct{}),
				dropped:    &r.dropped,
				width:      cfg.Width, height: cfg.Height,
			}
			if k == kindPTY {
				c.emulate = cfg.Senders > 0 || cfg.Rooms > 1 || i%cfg.EmulateEvery == 0
			}
			r.clients = append(r.clients, c)
			n++
		}
	}
	add(kindWS, cfg.WS, "w")
	add(kindLine, cfg.Line, "l")
	add(kindPTY, cfg.PTY, "t")
	pool := r.clients
	if cfg.SenderKind != "" && cfg.SenderKind != "any" {
		pool = nil
		for _, c := range r.clients {
			if c.kind.String() == cfg.SenderKind {
				pool = append(pool, c)
			}
		}
	}
	rooms := make([]int, cfg.Senders)
	for s := 0; s < cfg.Senders; s++ {
		c := pool[s*len(pool)/cfg.Senders]
		c.sender = s
		rooms[s] = c.room
	}
	perSender := cfg.Rate / math.Max(1, float64(cfg.Senders))
	maxSeq := int(perSender*cfg.Duration.Seconds()) + 2
	r.reg = newRegistry(rooms, maxSeq)
}

func (r *run) closeAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range r.clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.close()
		})
	}
	wg.Wait()
}

// deliveryReport is the outcome of the sending phase.
type deliveryReport struct {
	Senders         int                       `json:"senders"`
	Receivers       int                       `json:"receivers"`
	Sent            int64                     `json:"sent"`
	SendFailed      int64                     `json:"send_failed"`
	Expected        int64                     `json:"expected"`
	Delivered       int64                     `json:"delivered"`
	Lost            int64                     `json:"lost"`
	Duplicated      int64                     `json:"duplicated"`
	Stray           int64                     `json:"stray"`
	WrongRoom       int64                     `json:"wrong_room"`
	MessagesPartial int64                     `json:"messages_partially_delivered"`
	LostExamples    []string                  `json:"lost_examples,omitempty"`
	Latency         latencySummary            `json:"latency"`
	ByKind          map[string]latencySummary `json:"latency_by_kind"`
	SendSeconds     float64                   `json:"send_seconds"`
	DrainSeconds    float64                   `json:"drain_seconds"`
	PerSecond       float64                   `json:"deliveries_per_second"`
	ServerCPU       float64                   `json:"server_cpu_seconds"`
	ServerCPUPct    float64                   `json:"server_cpu_percent"`
	CPUPerDelivery  float64                   `json:"server_cpu_us_per_delivery"`
	CPUPerMessage   float64                   `json:"server_cpu_us_per_message"`
	ToolCPU         float64                   `json:"tool_cpu_seconds"`
	// Busy CPU of the whole machine while sending, and the part of it used
	// by neither the server nor this tool: other processes competing for
	// the cores make the figures pessimistic.
	MachineBusyPct float64     `json:"machine_busy_percent"`
	OtherCPU       float64     `json:"other_processes_cpu_seconds"`
	PerSecond1     []secondRow `json:"latency_per_second"`
}

// send runs the senders for --duration, waits for the deliveries (at most
// --grace after the last send), and counts.
func (r *run) send(ctx context.Context, rep *report) *deliveryReport {
	cfg := r.cfg
	dr := &deliveryReport{Senders: cfg.Senders}
	var senders []*client
	members := make([]int64, cfg.Rooms)
	for _, c := range r.clients {
		if c.connectErr != nil {
			continue
		}
		members[c.room]++
		dr.Receivers++
		if c.sender >= 0 {
			senders = append(senders, c)
		}
	}
	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(cfg.Duration)
	r.series.reset(start, cfg.Duration)
	r.recording.Store(true)
	s0, t0, m0 := r.probe.sample(ctx), selfSample(), readMachineCPU()
	interval := time.Duration(float64(cfg.Senders) / cfg.Rate * float64(time.Second))
	r.logf("sending %.0f messages/s from %d senders for %s to %d receivers", cfg.Rate, len(senders), cfg.Duration, dr.Receivers)
	var wg sync.WaitGroup
	for _, c := range senders {
		wg.Go(func() {
			s := c.sender
			offset := time.Duration(float64(s) / cfg.Rate * float64(time.Second))
			room := r.roomName(c.room)
			buf := make([]byte, 0, 48)
			for seq := 0; seq < r.reg.maxSeq; seq++ {
				at := start.Add(offset + time.Duration(seq)*interval)
				if !at.Before(end) || ctx.Err() != nil {
					return
				}
				sleepCtx(ctx, time.Until(at))
				nanos := time.Now().UnixNano()
				r.reg.sent[s][seq].Store(nanos)
				buf = appendPayload(buf[:0], s, seq, nanos)
				if err := c.send(room, string(buf)); err != nil {
					r.reg.sent[s][seq].Store(0)
					r.reg.failed[s].Add(1)
					return
				}
				r.reg.count[s].Store(int64(seq + 1))
			}
		})
	}
	wg.Wait()
	sendEnd := time.Now()
	expected := func() int64 {
		var e int64
		for s := range r.reg.count {
			e += r.reg.count[s].Load() * members[r.reg.room[s]]
		}
		return e
	}
	dr.Expected = expected()
	graceEnd := time.Now().Add(cfg.Grace)
	for r.stats.unique.Load() < dr.Expected && time.Now().Before(graceEnd) && ctx.Err() == nil {
		sleepCtx(ctx, 10*time.Millisecond)
	}
	drainEnd := time.Now()
	r.recording.Store(false)
	s1, t1, m1 := r.probe.sample(context.Background()), selfSample(), readMachineCPU()
	dr.ToolCPU = t1.CPU - t0.CPU
	if m0.OK && m1.OK && m1.Total > m0.Total {
		dr.MachineBusyPct = 100 * (m1.Busy - m0.Busy) / (m1.Total - m0.Total)
		if s0.OK && s1.OK {
			dr.OtherCPU = max(0, (m1.Busy-m0.Busy)-(s1.CPU-s0.CPU)-dr.ToolCPU)
		}
	}
	dr.PerSecond1 = r.series.rows()
	dr.SendSeconds = sendEnd.Sub(start).Seconds()
	dr.DrainSeconds = drainEnd.Sub(sendEnd).Seconds()

	// Count, per receiver and message.
	all := new(hist)
	byKind := make([]*hist, numKinds)
	for k := range byKind {
		byKind[k] = new(hist)
	}
	for s := range r.reg.count {
		dr.Sent += r.reg.count[s].Load()
		dr.SendFailed += r.reg.failed[s].Load()
	}
	partial := map[[2]int]bool{}
	for _, c := range r.clients {
		if c.connectErr != nil {
			continue
		}
		t := &c.track
		t.mu.Lock()
		dr.Delivered += t.unique
		dr.Duplicated += t.dups
		dr.Stray += t.stray
		dr.WrongRoom += t.wrong
		all.merge(t.lat)
		byKind[c.kind].merge(t.lat)
		t.mu.Unlock()
		for s := range r.reg.count {
			if r.reg.room[s] != c.room {
				continue
			}
			n := int(r.reg.count[s].Load())
			for seq := 0; seq < n; seq++ {
				if !t.has(s, seq) {
					dr.Lost++
					partial[[2]int{s, seq}] = true
					if len(dr.LostExamples) < 5 {
						why := "connected"
						if c.dead.Load() {
							why = "disconnected"
							if p := c.deadWhy.Load(); p != nil {
								why += ": " + *p
							}
						}
						dr.LostExamples = append(dr.LostExamples, fmt.Sprintf("%s (%s, %s) never saw message %d of sender %d", c.gotNickOr(), c.kind, why, seq, s))
					}
				}
			}
		}
	}
	dr.MessagesPartial = int64(len(partial))
	dr.Latency = all.summary()
	dr.ByKind = map[string]latencySummary{}
	for k, h := range byKind {
		if h.n > 0 {
			dr.ByKind[kind(k).String()] = h.summary()
		}
	}
	if w := drainEnd.Sub(start).Seconds(); w > 0 {
		dr.PerSecond = float64(dr.Delivered) / w
	}
	if s0.OK && s1.OK {
		dr.ServerCPU = s1.CPU - s0.CPU
		dr.ServerCPUPct = 100 * dr.ServerCPU / drainEnd.Sub(s0.At).Seconds()
		if dr.Delivered > 0 {
			dr.CPUPerDelivery = dr.ServerCPU / float64(dr.Delivered) * 1e6
		}
		if dr.Sent > 0 {
			dr.CPUPerMessage = dr.ServerCPU / float64(dr.Sent) * 1e6
		}
	}
	r.logf("sent %d, delivered %d of %d, lost %d, duplicated %d", dr.Sent, dr.Delivered, dr.Expected, dr.Lost, dr.Duplicated)
	return dr
}

func (c *client) gotNickOr() string {
	if c.ready.Load() && c.gotNick != "" {
		return c.gotNick
	}
	return c.nick
}

func orF(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orD(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
