package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// The scaling scenario runs one room (the lobby) at several sizes, one run
// each, so that how the costs grow with the room is visible at a glance:
// fill time, how long a newcomer waits for its welcome and member list
// while the room fills, delivery latency at --rate, server CPU per
// delivery and memory per session.

// maxScalingRuns bounds the runs of one invocation.
const maxScalingRuns = 12

// scalingRow is one room size's figures.
type scalingRow struct {
	Kind      string `json:"kind"`
	Size      int    `json:"size"`
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	// FillSeconds: from the first connection to the last client ready.
	FillSeconds float64 `json:"fill_seconds"`
	// Join: from dialling to the welcome and the first member list, for
	// every client while the room filled.
	JoinP50 float64 `json:"join_p50_ms"`
	JoinP99 float64 `json:"join_p99_ms"`

	DeliveryP50    float64 `json:"delivery_p50_ms"`
	DeliveryP99    float64 `json:"delivery_p99_ms"`
	Deliveries     int64   `json:"deliveries"`
	Lost           int64   `json:"lost"`
	Duplicated     int64   `json:"duplicated"`
	Dropped        int64   `json:"dropped"`
	CPUPerDelivery float64 `json:"server_cpu_us_per_delivery"`
	// ServerP99: the server's own publication-to-write p99 (with
	// --metrics-url), without the tool's reading.
	ServerP99 float64 `json:"server_p99_ms,omitempty"`
	// BytesPerSession: the server's RSS growth over the fill divided by
	// the sessions (after a forced collection with --pprof-url).
	BytesPerSession float64 `json:"bytes_per_session"`
	AfterGC         bool    `json:"after_gc"`
	// OtherCPUPct: the machine's CPU taken by other processes during the
	// run; when high, the figures are pessimistic.
	OtherCPUPct float64 `json:"other_processes_cpu_percent"`
	Aborted     string  `json:"aborted,omitempty"`
}

func (c *config) validateScaling() error {
	runs := len(c.Sizes) + len(c.PTYSizes)
	switch {
	case runs == 0:
		return errors.New("scaling: give --sizes and/or --pty-sizes")
	case runs > maxScalingRuns:
		return fmt.Errorf("scaling: at most %d sizes in all", maxScalingRuns)
	case c.Senders < 1 || c.Rate <= 0 || c.Rate > 100000:
		return errors.New("scaling: needs --senders of at least 1 and --rate in (0, 100000]")
	case c.Duration <= 0 || c.Duration > time.Hour:
		return errors.New("scaling: --duration must be positive (and at most an hour a size)")
	case c.Width < 40 || c.Height < 5:
		return errors.New("PTY size too small (at least 40x5)")
	}
	for _, n := range append(append([]int(nil), c.Sizes...), c.PTYSizes...) {
		if n > c.MaxConns {
			return fmt.Errorf("scaling: a room of %d is more than --max-conns %d", n, c.MaxConns)
		}
	}
	for _, a := range []string{c.HTTPAddr, c.SSHAddr} {
		if err := checkAddr(a, c.AllowRemote); err != nil {
			return err
		}
	}
	return nil
}

// scaling runs each size in turn, each as a run of its own (connect, settle,
// send, close), pausing --settle between them so that the server has taken
// the last run's sessions out.
func scaling(ctx context.Context, cfg config, log io.Writer) *report {
	rep := &report{Config: cfg, Started: time.Now()}
	type size struct {
		kind string
		n    int
	}
	var sizes []size
	for _, n := range cfg.Sizes {
		sizes = append(sizes, size{"ws", n})
	}
	for _, n := range cfg.PTYSizes {
		sizes = append(sizes, size{"pty", n})
	}
	for i, s := range sizes {
		if ctx.Err() != nil {
			break
		}
		sub := cfg
		sub.Scenario, sub.Rooms, sub.Line = "custom", 1, 0
		sub.WS, sub.PTY, sub.SenderKind = 0, 0, s.kind
		if s.kind == "ws" {
			sub.WS = s.n
		} else {
			sub.PTY = s.n
		}
		sub.Senders = min(cfg.Senders, s.n)
		// Each run's nicks differ, in case the last run's are still
		// being let go.
		sub.NickPrefix = fmt.Sprintf("%ss%d", cfg.NickPrefix, i)
		if cfg.CPUProfile != "" {
			sub.CPUProfile = fmt.Sprintf("%s-%s%d", cfg.CPUProfile, s.kind, s.n)
		}
		fmt.Fprintf(log, "%s scaling: %s room of %d\n", time.Now().Format("15:04:05.000"), s.kind, s.n)
		one := newRun(sub, log).execute(ctx)
		rep.Scaling = append(rep.Scaling, scalingRowOf(s.kind, s.n, one))
		rep.Dropped += one.Dropped
		rep.ServerErrors += one.ServerErrors
		if rep.FirstServerError == "" {
			rep.FirstServerError = one.FirstServerError
		}
		for _, t := range one.Targets {
			t.Name = fmt.Sprintf("%s %d: %s", s.kind, s.n, t.Name)
			rep.Targets = append(rep.Targets, t)
		}
		if i < len(sizes)-1 {
			sleepCtx(ctx, cfg.Settle)
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep
}

func scalingRowOf(kind string, n int, one *report) scalingRow {
	row := scalingRow{Kind: kind, Size: n, Dropped: one.Dropped, Aborted: one.Aborted, OtherCPUPct: one.OtherCPUPct}
	if len(one.Connect) > 0 {
		ph := one.Connect[0]
		row.Connected, row.Failed, row.FillSeconds = ph.OK, ph.Failed, ph.Seconds
		row.JoinP50, row.JoinP99 = ph.Latency.P50, ph.Latency.P99
	}
	if d := one.Delivery; d != nil {
		row.DeliveryP50, row.DeliveryP99 = d.Latency.P50, d.Latency.P99
		row.Deliveries, row.Lost, row.Duplicated = d.Delivered, d.Lost, d.Duplicated
		row.CPUPerDelivery = d.CPUPerDelivery
		for _, l := range d.ServerLatency { // one front-end per scaling run
			row.ServerP99 = max(row.ServerP99, l.P99)
		}
	}
	for _, c := range one.Capacity {
		if c.PerSessionGC > 0 {
			row.BytesPerSession, row.AfterGC = c.PerSessionGC, true
		} else {
			row.BytesPerSession = c.PerSession
		}
	}
	return row
}

// writeScaling prints the scaling rows as one markdown table.
func writeScaling(w io.Writer, rows []scalingRow) {
	fmt.Fprintln(w, "| clients | room size | connected | fill | join p50 | join p99 | delivery p50 | delivery p99 | deliveries | lost | dup | dropped | server CPU / delivery | memory / session | other processes' CPU | server's own p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		cpu, mem, own := "n/a", "n/a", "n/a"
		if r.ServerP99 > 0 {
			own = fmtMS(r.ServerP99)
		}
		if r.CPUPerDelivery > 0 {
			cpu = fmt.Sprintf("%.1f µs", r.CPUPerDelivery)
		}
		if r.BytesPerSession > 0 {
			mem = fmtBytes(r.BytesPerSession)
			if r.AfterGC {
				mem += " (after GC)"
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f s | %s | %s | %s | %s | %d | %d | %d | %d | %s | %s | %.0f%% | %s |\n",
			r.Kind, r.Size, r.Connected, r.FillSeconds, fmtMS(r.JoinP50), fmtMS(r.JoinP99),
			fmtMS(r.DeliveryP50), fmtMS(r.DeliveryP99), r.Deliveries, r.Lost, r.Duplicated, r.Dropped, cpu, mem, r.OtherCPUPct, own)
		if r.Aborted != "" {
			fmt.Fprintf(w, "|   (%s %d: %s) |\n", r.Kind, r.Size, r.Aborted)
		}
	}
	fmt.Fprintln(w, "\nfill: first dial to last client ready; join: dial to welcome and first member list, every client during the fill;")
	fmt.Fprintln(w, "server's own p99: publication to write in the server's delivery latency histogram (--metrics-url), without the tool's reading;")
	fmt.Fprintln(w, "memory n/a: the server's RSS did not grow (it still held the last size's heap; start a fresh server per size for memory).")
}
