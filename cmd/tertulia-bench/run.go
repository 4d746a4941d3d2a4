package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// run is one execution of the tool.
type run struct {
	cfg      config
	log      io.Writer
	probe    *serverProbe
	wsURLs   []string // one per --http-addr
	wsDialer *websocket.Dialer
	pollers  *wsPollers // nil: a reader goroutine per websocket

	clients []*client
	reg     *registry
	stats   deliveryStats
	latency latencies
	series  series

	recording  atomic.Bool
	readyCount atomic.Int64
	dropped    atomic.Int64
	lag        atomic.Int64 // largest backlog of join events among sampled clients
	killedAt   atomic.Int64 // --kill-node: when it was killed, unix nanoseconds

	sampleMu sync.Mutex
	samples  []*client
	latest   *client // the client that became ready last

	peakMu  sync.Mutex
	peakRSS int64
}

func newRun(cfg config, log io.Writer) *run {
	return &run{
		cfg:    cfg,
		log:    log,
		probe:  newServerProbe(cfg.PIDs, cfg.MetricsURL),
		wsURLs: wsURLs(cfg),
		wsDialer: &websocket.Dialer{
			HandshakeTimeout: cfg.ConnectTimeout,
			ReadBufferSize:   4096,
			WriteBufferSize:  1024,
			NetDialContext:   (&net.Dialer{Timeout: cfg.ConnectTimeout}).DialContext,
		},
	}
}

// wsURLs are the servers' websocket addresses: at least one.
func wsURLs(cfg config) []string {
	addrs := cfg.HTTPAddrs
	if len(addrs) == 0 {
		addrs = []string{cfg.HTTPAddr}
	}
	var urls []string
	for _, a := range addrs {
		urls = append(urls, "ws://"+a+"/ws")
	}
	return urls
}

// wsURL is the first server's websocket address.
func (r *run) wsURL() string { return r.wsURLs[0] }

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
	r.pollers = newWSPollers(r.cfg.WSPollers, r.onWSFrame, r.wsEnded)
	defer r.pollers.close()

	bgctx, bgstop := context.WithCancel(ctx)
	defer bgstop()
	r.watch(bgctx)

	rep.ServerBefore = r.probe.sample(ctx)
	toolBefore := selfSample()
	for k := kind(0); k < numKinds; k++ {
		if ph, ok := r.connectKind(ctx, k); ok {
			rep.Connect = append(rep.Connect, ph)
		}
	}
	rep.ServerConnected = r.probe.sample(ctx)
	if ctx.Err() == nil {
		if r.sending() {
			rep.Delivery = r.send(ctx)
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
	r.tallyErrors(rep)
	r.peakMu.Lock()
	rep.ServerPeakRSS = r.peakRSS
	r.peakMu.Unlock()
	r.logf("closing %d clients", len(r.clients))
	r.closeAll()
	rep.finish(r)
	return rep
}

// watch runs, until ctx ends, the estimate of the clients' backlog and,
// with a server probe, the sampling of the server's peak memory.
func (r *run) watch(ctx context.Context) {
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				r.updateLag()
			case <-ctx.Done():
				return
			}
		}
	}()
	if !r.probe.enabled() {
		return
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if s := r.probe.sampleRSS(ctx); s.OK {
					r.peakMu.Lock()
					r.peakRSS = max(r.peakRSS, s.RSS)
					r.peakMu.Unlock()
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

// connectKind connects the clients of kind k, lets them settle and
// measures the server's memory after them; ok is false when there are none
// or the run is over.
func (r *run) connectKind(ctx context.Context, k kind) (ph phaseReport, ok bool) {
	var list []*client
	for _, c := range r.clients {
		if c.kind == k {
			list = append(list, c)
		}
	}
	if len(list) == 0 || ctx.Err() != nil {
		return ph, false
	}
	ph = r.connectAll(ctx, list)
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
	return ph, true
}

// tallyErrors adds to rep what went wrong on the clients' side: drops,
// server errors (and the first of them), and why a dropped client was
// dropped.
func (r *run) tallyErrors(rep *report) {
	rep.Dropped = r.dropped.Load()
	for _, c := range r.clients {
		rep.ServerErrors += c.errorsSeen.Load()
		if p := c.firstError.Load(); p != nil && rep.FirstServerError == "" {
			rep.FirstServerError = *p
		}
	}
	for _, c := range r.clients {
		if c.connectErr == nil && (c.dead.Load() || c.moved.Load()) && rep.DropReason == "" {
			if p := c.deadWhy.Load(); p != nil {
				rep.DropReason = *p
			}
		}
	}
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
				node:       i % len(r.wsURLs),
				nick:       fmt.Sprintf("%s%s%d", cfg.NickPrefix, tag, i),
				signals:    make(chan sig, 16),
				readerDone: make(chan struct{}),
				dropped:    &r.dropped,
				width:      cfg.Width, height: cfg.Height,
			}
			if k == kindPTY {
				c.emulate = cfg.Senders > 0 || cfg.Rooms > 1 || i%cfg.EmulateEvery == 0
				// When nothing is sent, the few that read their screen
				// emulate it fully, as they always have.
				c.fullVT = !(cfg.Senders > 0 || cfg.Rooms > 1) || i%cfg.VTEvery == 0
			}
			r.clients = append(r.clients, c)
			n++
		}
	}
	add(kindWS, cfg.WS, "w")
	add(kindLine, cfg.Line, "l")
	add(kindPTY, cfg.PTY, "t")
	pool := r.clients
	if cfg.SenderKind != "" && cfg.SenderKind != "any" || cfg.KillNode > 0 {
		pool = nil
		for _, c := range r.clients {
			// No sender on the node to be killed: what it takes in just
			// before it dies may be lost for everyone.
			if (cfg.SenderKind == "" || cfg.SenderKind == "any" || c.kind.String() == cfg.SenderKind) && !r.onKilledNode(c) {
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
