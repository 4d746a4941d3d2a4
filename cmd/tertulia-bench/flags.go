package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

type config struct {
	Scenario string `json:"scenario"`
	HTTPAddr string `json:"http_addr"` // the first of HTTPAddrs
	SSHAddr  string `json:"ssh_addr"`
	// HTTPAddrs are the servers (nodes of a cluster) the websocket clients
	// are spread over, round-robin.
	HTTPAddrs []string `json:"http_addrs,omitempty"`

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
	VTEvery            int           `json:"vt_every"`
	WSPollers          int           `json:"ws_pollers"`

	PID        int    `json:"pid"` // the first of PIDs
	PIDs       []int  `json:"pids,omitempty"`
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

	// KillNode (1-based, into HTTPAddrs and PIDs) is killed with SIGKILL
	// KillAfter into the sending; its clients reconnect to the others.
	KillNode  int           `json:"kill_node,omitempty"`
	KillAfter time.Duration `json:"kill_after_ns,omitempty"`

	TargetP99      time.Duration `json:"target_p99_ns"`
	TargetWSBytes  int64         `json:"target_ws_bytes"`
	TargetPTYBytes int64         `json:"target_pty_bytes"`

	// Scaling: one run per room size, websocket then PTY (see scaling.go).
	Sizes    []int `json:"sizes,omitempty"`
	PTYSizes []int `json:"pty_sizes,omitempty"`

	JSON    bool   `json:"-"`
	JSONOut string `json:"-"`
	// CPUProfile: where to write the tool's own CPU profile of the
	// sending phase ("": none).
	CPUProfile string `json:"-"`
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
	"scaling": func(c *config) {
		c.Sizes, c.PTYSizes = []int{100, 1000, 5000, 10000}, []int{100, 500, 1500}
		c.Senders, c.Rate, c.Duration = 10, 10, 60*time.Second
		// Members of a big room learn the count from a summary a second:
		// allow a second of joins before pausing.
		c.MaxLag = 1000
	},
	"storm": func(c *config) {
		c.Duration = 180 * time.Second
	},
	"custom": func(*config) {},
}

// parseFlags reads the command line over the chosen preset and checks it.
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
	c.HTTPAddr = c.HTTPAddrs[0]
	if len(c.PIDs) > 0 {
		c.PID = c.PIDs[0]
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	c.fillUnset()
	return c, nil
}

// validate refuses a configuration the run cannot honour or that would load
// a server the user did not name as theirs.
func (c *config) validate() error {
	if c.Scenario == "scaling" {
		return c.validateScaling()
	}
	clients := c.WS + c.Line + c.PTY
	switch {
	case c.WS < 0 || c.Line < 0 || c.PTY < 0 || c.Senders < 0 || c.Rooms < 1:
		return errors.New("client, sender and room counts cannot be negative")
	case clients > c.MaxConns:
		return fmt.Errorf("%d clients is more than --max-conns %d", clients, c.MaxConns)
	case c.Senders > clients:
		return errors.New("more senders than clients")
	case c.SenderKind != "any" && c.SenderKind != "ws" && c.SenderKind != "line" && c.SenderKind != "pty":
		return fmt.Errorf("--sender-kind %q: any, ws, line or pty", c.SenderKind)
	case c.SenderKind == "ws" && c.Senders > c.WS, c.SenderKind == "line" && c.Senders > c.Line, c.SenderKind == "pty" && c.Senders > c.PTY:
		return errors.New("more senders than clients of --sender-kind")
	case c.Senders > 0 && (c.Rate <= 0 || c.Rate > 100000):
		return errors.New("--rate must be in (0, 100000]")
	case c.Duration <= 0 || c.Duration > 24*time.Hour:
		return errors.New("--duration must be positive (and under a day)")
	case c.Rooms > 1 && c.Rooms > clients:
		return errors.New("more rooms than clients")
	case c.StormInflight < 1 || c.StormInflight > c.MaxConns:
		return errors.New("--storm-inflight must be between 1 and --max-conns")
	case c.StormFactor <= 1:
		return errors.New("--storm-factor must be above 1")
	case c.ProbeEvery < 10*time.Millisecond:
		return errors.New("--probe-every must be at least 10ms")
	case c.Width < 40 || c.Height < 5:
		return errors.New("PTY size too small (at least 40x5)")
	}
	for _, a := range append([]string{c.SSHAddr}, c.HTTPAddrs...) {
		if err := checkAddr(a, c.AllowRemote); err != nil {
			return err
		}
	}
	return c.validateKill()
}

// validateKill checks the node-kill mode: a node named by its place in
// --http-addr and --pid, killed while sending, whose websocket clients
// reconnect to the other nodes.
func (c *config) validateKill() error {
	switch {
	case c.KillNode == 0 && c.KillAfter == 0:
		return nil
	case c.KillNode < 1 || c.KillNode > len(c.HTTPAddrs):
		return fmt.Errorf("--kill-node must be between 1 and the number of --http-addr (%d)", len(c.HTTPAddrs))
	case len(c.HTTPAddrs) < 2:
		return errors.New("--kill-node needs at least two --http-addr: its clients reconnect to the others")
	case len(c.PIDs) != len(c.HTTPAddrs):
		return errors.New("--kill-node needs one --pid per --http-addr, in the same order")
	case c.KillAfter <= 0 || c.KillAfter >= c.Duration:
		return errors.New("--kill-after must be positive and under --duration")
	case c.Senders == 0:
		return errors.New("--kill-node measures deliveries: give --senders")
	case c.Line > 0 || c.PTY > 0 || c.Rooms > 1:
		return errors.New("--kill-node: websocket clients in one room only (--line 0 --pty 0 --rooms 1)")
	}
	return nil
}

// fillUnset gives the values that depend on others, and the lower bounds
// of the pacing knobs, to a validated configuration.
func (c *config) fillUnset() {
	if c.MaxTime <= 0 {
		c.MaxTime = 15*time.Minute + c.Duration
		if runs := len(c.Sizes) + len(c.PTYSizes); c.Scenario == "scaling" && runs > 0 {
			c.MaxTime = time.Duration(runs) * (10*time.Minute + c.Duration)
		}
	}
	if c.ConnectConcurrency < 1 {
		c.ConnectConcurrency = 1
	}
	if c.EmulateEvery < 1 {
		c.EmulateEvery = 1
	}
	if c.VTEvery < 1 {
		c.VTEvery = 1
	}
}

// newFlagSet defines the flags over c, whose preset values are the defaults.
func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tertulia-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Scenario, "scenario", "custom", "preset: web-fanout, terminal-fanout, capacity, storm, scaling or custom (flags given override the preset)")
	fs.Var(sizeList{&c.Sizes}, "sizes", "scaling: websocket room sizes, comma-separated, one run each (e.g. 100,1000,5000,10000)")
	fs.Var(sizeList{&c.PTYSizes}, "pty-sizes", "scaling: PTY room sizes, comma-separated, one run each (e.g. 100,500,1500)")
	c.HTTPAddrs = []string{"127.0.0.1:8080"}
	fs.Var(&addrList{v: &c.HTTPAddrs}, "http-addr", "the server's HTTP address (websockets at /ws); several (repeated or comma-separated: the nodes of a cluster) spread the websocket clients over them, round-robin")
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
	fs.Int64Var(&c.MaxLag, "max-lag", orI(c.MaxLag, 64), "pause connecting while sampled clients have more than this many join events still to read (keeps clients far from the server's outbound queue limit)")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "pause after connecting, before measuring memory or sending")
	fs.IntVar(&c.Width, "pty-width", 80, "terminal width of PTY clients")
	fs.IntVar(&c.Height, "pty-height", 24, "terminal height of PTY clients")
	fs.IntVar(&c.EmulateEvery, "emulate-every", 100, "when nothing is sent, run a terminal emulator on one PTY client in this many (to pace connections); the others discard their output")
	fs.IntVar(&c.WSPollers, "ws-pollers", 2, "read the websocket clients on this many goroutines, each waiting on its own epoll set (Linux), which costs the tool about half the CPU of a goroutine per connection; 0: a goroutine per connection")
	fs.IntVar(&c.VTEvery, "vt-every", 10, "when messages are sent (or with --rooms above 1), one PTY client in this many reads its output with a full terminal emulator and its whole screen after every chunk; the others with a model of the rows the server's frames write (far cheaper; the same counts of deliveries and duplicates). 1: all of them emulate")
	fs.Var(&pidList{v: &c.PIDs}, "pid", "the server's process id, to read its memory and CPU from /proc; several (repeated or comma-separated: a cluster's nodes, in the order of --http-addr) are summed")
	fs.IntVar(&c.KillNode, "kill-node", 0, "kill the Nth node (of --http-addr and --pid, from 1) with SIGKILL --kill-after into the sending; its websocket clients reconnect to the other nodes, and the report says when they all were back and what the others lost")
	fs.DurationVar(&c.KillAfter, "kill-after", 0, "with --kill-node: when to kill it, from the start of sending")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "the server's Prometheus /metrics URL: its memory and CPU if --pid is not given, and (with --pid too) its own delivery latency, publication to write, reported beside the tool's send-to-receive figures")
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
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile of the sending phase (first send to the end of the grace period) to this file; scaling: one file per size, named FILE-ws10000 etc.")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tertulia-bench [flags]\n\nLoad generator for a running Tertulia server (see docs/performance.md).\nEvery run is bounded in time and connections and loads only the given (loopback) addresses.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// checkAddr makes sure the tool loads only a server on this machine, unless
// told otherwise.
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

func orF(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orI(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// addrList is a flag of addresses, repeated or comma-separated; the first
// one given replaces the default.
type addrList struct {
	v   *[]string
	set bool
}

func (l *addrList) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l *addrList) Set(s string) error {
	if !l.set {
		*l.v, l.set = nil, true
	}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l.v = append(*l.v, part)
		}
	}
	if len(*l.v) == 0 {
		return errors.New("no address")
	}
	return nil
}

// pidList is a flag of process ids, repeated or comma-separated.
type pidList struct{ v *[]int }

func (l *pidList) String() string {
	if l.v == nil {
		return ""
	}
	var parts []string
	for _, n := range *l.v {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func (l *pidList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a process id", part)
		}
		if n > 0 { // 0: none, as before
			*l.v = append(*l.v, n)
		}
	}
	return nil
}

// sizeList is a flag of comma-separated positive counts.
type sizeList struct{ v *[]int }

func (l sizeList) String() string {
	if l.v == nil {
		return ""
	}
	var parts []string
	for _, n := range *l.v {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func (l sizeList) Set(s string) error {
	var sizes []int
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive count", part)
		}
		sizes = append(sizes, n)
	}
	*l.v = sizes
	return nil
}

func orD(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
