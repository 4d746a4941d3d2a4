package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// deliveryReport is the outcome of the sending phase.
type deliveryReport struct {
	Senders   int `json:"senders"`
	Receivers int `json:"receivers"`
	// Terminal receivers by how they read their screen: a full terminal
	// emulator (--vt-every) or the row model.
	PTYFullVT       int                       `json:"pty_full_vt,omitempty"`
	PTYRowRead      int                       `json:"pty_row_model,omitempty"`
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
	// ServerLatency: the server's own publication-to-write latency over
	// the sending, by front-end (with --metrics-url).
	ServerLatency map[string]serverLatency `json:"server_latency,omitempty"`
	// Busy CPU of the whole machine while sending, and the part of it used
	// by neither the server nor this tool: other processes competing for
	// the cores make the figures pessimistic.
	MachineBusyPct float64     `json:"machine_busy_percent"`
	OtherCPU       float64     `json:"other_processes_cpu_seconds"`
	PerSecond1     []secondRow `json:"latency_per_second"`
	// --kill-node: the node killed while sending, and its clients' return.
	Kill *killReport `json:"kill,omitempty"`
}

// send runs the senders for --duration, waits for the deliveries (at most
// --grace after the last send), and counts.
func (r *run) send(ctx context.Context) *deliveryReport {
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
		if c.kind == kindPTY && c.emulate && c.fullVT {
			dr.PTYFullVT++
		} else if c.kind == kindPTY && c.emulate {
			dr.PTYRowRead++
		}
		if c.sender >= 0 {
			senders = append(senders, c)
		}
	}
	start := time.Now().Add(50 * time.Millisecond)
	r.series.reset(start, cfg.Duration)
	r.recording.Store(true)
	s0, t0, m0 := r.probe.sample(ctx), selfSample(), readMachineCPU()
	r.logf("sending %.0f messages/s from %d senders for %s to %d receivers", cfg.Rate, len(senders), cfg.Duration, dr.Receivers)
	stopProfile := r.startCPUProfile()
	killed := make(chan struct{})
	if cfg.KillNode > 0 {
		i := r.killIndex()
		dr.Kill = &killReport{Node: cfg.KillNode, PID: cfg.PIDs[i], Addr: cfg.HTTPAddrs[i], AfterSeconds: cfg.KillAfter.Seconds()}
		go func() {
			defer close(killed)
			r.killAt(ctx, start.Add(cfg.KillAfter), dr.Kill)
		}()
	} else {
		close(killed)
	}
	r.runSenders(ctx, senders, start)
	<-killed
	sendEnd := time.Now()
	for s := range r.reg.count {
		dr.Expected += r.reg.count[s].Load() * members[r.reg.room[s]]
	}
	graceEnd := time.Now().Add(cfg.Grace)
	for r.stats.unique.Load() < dr.Expected && time.Now().Before(graceEnd) && ctx.Err() == nil {
		sleepCtx(ctx, 10*time.Millisecond)
	}
	drainEnd := time.Now()
	r.recording.Store(false)
	stopProfile()
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

	r.countDeliveries(dr)
	if dr.Kill != nil {
		r.finishKill(dr.Kill)
	}
	if w := drainEnd.Sub(start).Seconds(); w > 0 {
		dr.PerSecond = float64(dr.Delivered) / w
	}
	if s0.Latency != nil && s1.Latency != nil {
		dr.ServerLatency = latencyBetween(s0.Latency, s1.Latency)
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

// startCPUProfile starts the tool's own CPU profile (--cpuprofile) and
// returns what stops it; a profile that cannot be written is reported and
// the run goes on without it.
func (r *run) startCPUProfile() (stop func()) {
	if r.cfg.CPUProfile == "" {
		return func() {}
	}
	f, err := os.Create(r.cfg.CPUProfile)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		r.logf("--cpuprofile: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			r.logf("--cpuprofile: %v", err)
		}
	}
}

// runSenders has each sender send its share of --rate from start for
// --duration, the senders staggered evenly within one interval, and
// returns when all have stopped. Each message carries its sender, sequence
// number and send time, which are also registered for the receivers.
func (r *run) runSenders(ctx context.Context, senders []*client, start time.Time) {
	cfg := r.cfg
	end := start.Add(cfg.Duration)
	interval := time.Duration(float64(cfg.Senders) / cfg.Rate * float64(time.Second))
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
}

// countDeliveries fills dr's counts and latencies, per receiver and
// message: what was sent, delivered, lost, duplicated or misrouted.
func (r *run) countDeliveries(dr *deliveryReport) {
	all := new(hist)
	byKind := make([]*hist, numKinds)
	for k := range byKind {
		byKind[k] = r.latency.of(kind(k))
		all.merge(byKind[k])
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
		t.mu.Unlock()
		if dr.Kill != nil && !c.moved.Load() {
			dr.Kill.StayedReceivers++
		}
		for s := range r.reg.count {
			if r.reg.room[s] != c.room {
				continue
			}
			n := int(r.reg.count[s].Load())
			for seq := 0; seq < n; seq++ {
				if t.has(s, seq) {
					continue
				}
				dr.Lost++
				if dr.Kill != nil && c.moved.Load() {
					dr.Kill.LostMoved++
				} else if dr.Kill != nil {
					dr.Kill.LostStayed++
				}
				partial[[2]int{s, seq}] = true
				if len(dr.LostExamples) < 5 {
					dr.LostExamples = append(dr.LostExamples, lostExample(c, s, seq))
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
}

// lostExample says which receiver missed which message, and whether it was
// still connected.
func lostExample(c *client, sender, seq int) string {
	why := "connected"
	if c.moved.Load() {
		why = "moved to another node"
	}
	if c.dead.Load() {
		why = "disconnected"
		if p := c.deadWhy.Load(); p != nil {
			why += ": " + *p
		}
	}
	return fmt.Sprintf("%s (%s, %s) never saw message %d of sender %d", c.gotNickOr(), c.kind, why, seq, sender)
}

func (c *client) gotNickOr() string {
	if c.ready.Load() && c.gotNick != "" {
		return c.gotNick
	}
	return c.nick
}
