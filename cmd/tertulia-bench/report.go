package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

type report struct {
	Config  config    `json:"config"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Aborted string    `json:"aborted,omitempty"`

	Connect  []phaseReport   `json:"connect,omitempty"`
	Delivery *deliveryReport `json:"delivery,omitempty"`
	Capacity []capacityRow   `json:"capacity,omitempty"`
	Storm    *stormReport    `json:"storm,omitempty"`
	Scaling  []scalingRow    `json:"scaling,omitempty"`

	Dropped    int64  `json:"dropped"`
	DropReason string `json:"drop_reason,omitempty"`
	// Errors the server sent the clients once connected (rate_limited...).
	ServerErrors     int64  `json:"server_errors"`
	FirstServerError string `json:"first_server_error,omitempty"`

	ServerBefore    procSample `json:"server_before"`
	ServerConnected procSample `json:"server_connected"`
	ServerAfter     procSample `json:"server_after"`
	ServerPeakRSS   int64      `json:"server_peak_rss_bytes,omitempty"`
	IdleCPUPercent  float64    `json:"server_idle_cpu_percent,omitempty"`

	// CPU used during the run by processes other than the server and this
	// tool (seconds, and percent of the machine): when high, the figures
	// are pessimistic.
	OtherCPU    float64 `json:"other_processes_cpu_seconds"`
	OtherCPUPct float64 `json:"other_processes_cpu_percent"`

	ToolCPUSeconds float64 `json:"tool_cpu_seconds"`
	ToolRSS        int64   `json:"tool_rss_bytes"`

	Targets []targetResult `json:"targets"`
}

// capacityRow is the server's resident memory per session of one kind: the
// growth of its RSS while those sessions connected, divided by their count.
type capacityRow struct {
	Kind       string  `json:"kind"`
	Sessions   int     `json:"sessions"`
	RSSGrowth  int64   `json:"rss_growth_bytes"`
	PerSession float64 `json:"bytes_per_session"`
	// After a forced garbage collection (--pprof-url): the steady state of
	// an idle server.
	RSSGrowthGC  int64   `json:"rss_growth_after_gc_bytes,omitempty"`
	PerSessionGC float64 `json:"bytes_per_session_after_gc,omitempty"`
}

type targetResult struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

func (rep *report) target(name, want, got string, pass bool) {
	rep.Targets = append(rep.Targets, targetResult{name, want, got, pass})
}

func (rep *report) allPassed() bool {
	for _, t := range rep.Targets {
		if !t.Pass {
			return false
		}
	}
	return true
}

// finish computes the derived figures and checks the targets.
func (rep *report) finish(r *run) {
	rep.Seconds = time.Since(rep.Started).Seconds()
	cfg := r.cfg
	prev, prevGC := rep.ServerBefore.RSS, rep.ServerBefore.RSS
	for _, ph := range rep.Connect {
		if ph.RSSAfter > 0 && prev > 0 && ph.OK > 0 {
			g := ph.RSSAfter - prev
			row := capacityRow{Kind: ph.Kind, Sessions: ph.OK, RSSGrowth: g, PerSession: float64(g) / float64(ph.OK)}
			if ph.RSSAfterGC > 0 {
				row.RSSGrowthGC = ph.RSSAfterGC - prevGC
				row.PerSessionGC = float64(row.RSSGrowthGC) / float64(ph.OK)
			}
			rep.Capacity = append(rep.Capacity, row)
		}
		if ph.RSSAfter > 0 {
			prev = ph.RSSAfter
		}
		if ph.RSSAfterGC > 0 {
			prevGC = ph.RSSAfterGC
		}
		if ph.Failed > 0 {
			rep.target("connect "+ph.Kind, "all connect", fmt.Sprintf("%d of %d failed: %s", ph.Failed, ph.Wanted, ph.FirstError), false)
		}
	}
	if d := rep.Delivery; d != nil {
		if k := d.Kill; k != nil {
			// The killed node's clients miss what is said while they are
			// away (and are dropped by it): what counts is the others,
			// and their return.
			rep.target("lost deliveries to clients that stayed connected", "0", fmt.Sprint(k.LostStayed), k.LostStayed == 0 && k.Error == "")
			rep.target("killed node's clients back on the others", "all", fmt.Sprintf("%d of %d", k.Reconnected, k.Clients), k.Clients > 0 && k.Reconnected == k.Clients)
		} else {
			rep.target("lost deliveries", "0", fmt.Sprint(d.Lost), d.Lost == 0)
		}
		rep.target("duplicated deliveries", "0", fmt.Sprint(d.Duplicated), d.Duplicated == 0)
		if d.SendFailed > 0 {
			rep.target("sends", "no failure", fmt.Sprintf("%d failed", d.SendFailed), false)
		}
		if cfg.TargetP99 > 0 {
			rep.target("p99 delivery latency", "≤ "+fmtMS(ms(cfg.TargetP99)), fmtMS(d.Latency.P99), d.Latency.P99 <= ms(cfg.TargetP99) && d.Latency.Count > 0)
		}
	}
	if len(r.clients) > 0 && rep.Storm == nil {
		if cfg.KillNode == 0 {
			rep.target("clients dropped by the server", "0", fmt.Sprint(rep.Dropped), rep.Dropped == 0)
		}
		got := fmt.Sprint(rep.ServerErrors)
		if rep.FirstServerError != "" {
			got += ", first: " + rep.FirstServerError
		}
		rep.target("errors from the server", "0", got, rep.ServerErrors == 0)
	}
	for _, c := range rep.Capacity {
		var want int64
		switch c.Kind {
		case "ws":
			want = cfg.TargetWSBytes
		case "pty":
			want = cfg.TargetPTYBytes
		}
		if want > 0 {
			got, pass := fmtBytes(c.PerSession), c.PerSession <= float64(want)
			if c.PerSessionGC > 0 {
				// An idle server collects within two minutes: judge the
				// steady state, show both.
				got = fmt.Sprintf("%s after GC (%s right after connecting)", fmtBytes(c.PerSessionGC), fmtBytes(c.PerSession))
				pass = c.PerSessionGC <= float64(want)
			}
			rep.target("resident memory per "+c.Kind+" session", "≤ "+fmtBytes(float64(want)), got, pass)
		}
	}
	if s := rep.Storm; s != nil {
		if s.Error != "" {
			rep.target("storm", "runs", s.Error, false)
		} else {
			// Responsiveness is judged up to the sustained rates: beyond
			// them the server is past its limit by definition.
			var maxRTT float64
			lost, stages := 0, 0
			for _, st := range s.Stages {
				if st.Pass {
					maxRTT = max(maxRTT, st.ProbeRTT.Max)
					lost += st.ProbeLost
					stages++
				}
			}
			rep.target("existing client served up to the sustained rates", "nothing lost, max RTT < 1 s",
				fmt.Sprintf("%d stages: lost %d, max RTT %s", stages, lost, fmtMS(maxRTT)), stages > 0 && lost == 0 && maxRTT < 1000)
		}
	}
}

func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	case v >= 1:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fµs", v*1000)
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func writeJSON(w io.Writer, rep *report) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

func writeTable(w io.Writer, rep *report) {
	cfg := rep.Config
	fmt.Fprintf(w, "tertulia-bench  scenario=%s  ws=%d line=%d pty=%d  rooms=%d  senders=%d rate=%g/s  duration=%s  (%.0fs in all)\n",
		cfg.Scenario, cfg.WS, cfg.Line, cfg.PTY, cfg.Rooms, cfg.Senders, cfg.Rate, cfg.Duration, rep.Seconds)
	if rep.Aborted != "" {
		fmt.Fprintf(w, "ABORTED: %s\n", rep.Aborted)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Scaling) > 0 {
		writeScaling(w, rep.Scaling)
		fmt.Fprintln(w, "\ntargets")
		for _, t := range rep.Targets {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", passWord(t.Pass), t.Name, t.Want, t.Got)
		}
		tw.Flush()
		return
	}
	if len(rep.Connect) > 0 {
		fmt.Fprintln(w, "\nconnect")
		fmt.Fprintln(tw, "  kind\tok\tfailed\ttime\tper second\tp50\tp99\tmax\tserver RSS after\t")
		for _, p := range rep.Connect {
			rss := "-"
			if p.RSSAfter > 0 {
				rss = fmtBytes(float64(p.RSSAfter))
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%.1fs\t%.0f\t%s\t%s\t%s\t%s\t\n", p.Kind, p.OK, p.Failed, p.Seconds, p.PerSecond,
				fmtMS(p.Latency.P50), fmtMS(p.Latency.P99), fmtMS(p.Latency.Max), rss)
		}
		tw.Flush()
		for _, p := range rep.Connect {
			if p.FirstError != "" {
				fmt.Fprintf(w, "  first %s error: %s\n", p.Kind, p.FirstError)
			}
		}
	}
	if d := rep.Delivery; d != nil {
		fmt.Fprintln(w, "\ndelivery (send to receive, per receiver and message)")
		fmt.Fprintln(tw, "  sent\texpected\tdelivered\tlost\tduplicated\tper second\tp50\tp90\tp99\tmax\t")
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", d.Sent, d.Expected, d.Delivered, d.Lost, d.Duplicated, d.PerSecond,
			fmtMS(d.Latency.P50), fmtMS(d.Latency.P90), fmtMS(d.Latency.P99), fmtMS(d.Latency.Max))
		tw.Flush()
		if len(d.ByKind) > 1 {
			for k, l := range d.ByKind {
				fmt.Fprintf(w, "  %-5s p50 %s  p90 %s  p99 %s  max %s  (%d deliveries)\n", k, fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.Max), l.Count)
			}
		}
		fmt.Fprintf(w, "  %d receivers, %d senders; sending %.1fs, last deliveries %.2fs after the last send", d.Receivers, d.Senders, d.SendSeconds, d.DrainSeconds)
		if d.Stray+d.WrongRoom > 0 {
			fmt.Fprintf(w, "; %d stray payloads, %d in the wrong room", d.Stray, d.WrongRoom)
		}
		fmt.Fprintln(w)
		if d.PTYFullVT+d.PTYRowRead > 0 {
			fmt.Fprintf(w, "  terminal receivers: %d read with a full terminal emulator, %d with the row model (--vt-every)\n", d.PTYFullVT, d.PTYRowRead)
		}
		for _, e := range d.LostExamples {
			fmt.Fprintf(w, "  lost: %s\n", e)
		}
		if d.ServerCPU > 0 {
			fmt.Fprintf(w, "  server CPU while sending: %.1fs (%.0f%% of one core), %.1fµs per delivery, %.0fµs per message\n",
				d.ServerCPU, d.ServerCPUPct, d.CPUPerDelivery, d.CPUPerMessage)
		}
		for _, via := range slices.Sorted(maps.Keys(d.ServerLatency)) {
			l := d.ServerLatency[via]
			fmt.Fprintf(w, "  server's own latency (%s, publication to write, its histogram): p50 %s, p99 %s over %.0f writes\n", via, fmtMS(l.P50), fmtMS(l.P99), l.Writes)
		}
		fmt.Fprintf(w, "  machine %.0f%% busy while sending; this tool %.1fs CPU", d.MachineBusyPct, d.ToolCPU)
		if d.OtherCPU > 0 {
			fmt.Fprintf(w, ", other processes %.1fs", d.OtherCPU)
			if d.OtherCPU > 0.05*d.SendSeconds {
				fmt.Fprint(w, " (the machine was shared: figures are pessimistic)")
			}
		}
		fmt.Fprintln(w)
		if k := d.Kill; k != nil {
			fmt.Fprintf(w, "  node %d (%s, pid %d) killed %.1fs into the sending", k.Node, k.Addr, k.PID, k.AfterSeconds)
			if k.Error != "" {
				fmt.Fprintf(w, ": %s", k.Error)
			}
			fmt.Fprintf(w, "\n  its clients back on the other nodes: %d of %d", k.Reconnected, k.Clients)
			if k.AllBackSeconds > 0 {
				fmt.Fprintf(w, ", all within %.2fs of the kill", k.AllBackSeconds)
			}
			fmt.Fprintf(w, " (p50 %s, p99 %s)\n", fmtMS(k.Back.P50), fmtMS(k.Back.P99))
			if k.FirstError != "" {
				fmt.Fprintf(w, "  first reconnection error: %s\n", k.FirstError)
			}
			fmt.Fprintf(w, "  lost by the %d receivers that stayed connected: %d; by the moved ones while away: %d (they are in the history they got back, not counted here)\n",
				k.StayedReceivers, k.LostStayed, k.LostMoved)
		}
		if rows := d.PerSecond1; len(rows) > 0 {
			worst := rows[0]
			for _, row := range rows {
				if row.P99 > worst.P99 {
					worst = row
				}
			}
			fmt.Fprintf(w, "  worst second: %d (p50 %s, p99 %s, max %s, sampled)\n", worst.Second, fmtMS(worst.P50), fmtMS(worst.P99), fmtMS(worst.Max))
		}
	}
	if len(rep.Capacity) > 0 {
		fmt.Fprintln(w, "\nserver resident memory per session")
		fmt.Fprintln(tw, "  kind\tsessions\tRSS growth\tper session\tafter GC\tper session after GC\t")
		for _, c := range rep.Capacity {
			gc, per := "-", "-"
			if c.PerSessionGC > 0 {
				gc, per = fmtBytes(float64(c.RSSGrowthGC)), fmtBytes(c.PerSessionGC)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t\n", c.Kind, c.Sessions, fmtBytes(float64(c.RSSGrowth)), fmtBytes(c.PerSession), gc, per)
		}
		tw.Flush()
		if rep.IdleCPUPercent > 0 {
			fmt.Fprintf(w, "  server CPU with every session idle: %.1f%% of one core\n", rep.IdleCPUPercent)
		}
	}
	if s := rep.Storm; s != nil {
		fmt.Fprintln(w, "\nconnection storm (each: connect, authenticate, get the welcome, close)")
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Error)
		}
		fmt.Fprintln(tw, "  kind\toffered/s\tattempts\tok\tfailed\tcompleted/s\tconnect p50\tp99\tserver CPU\tprobe p50\tprobe p99\tprobe max\tresult\t")
		for _, st := range s.Stages {
			fmt.Fprintf(tw, "  %s\t%.0f\t%d\t%d\t%d\t%.0f\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%s\t\n", st.Kind, st.Rate, st.Attempts, st.OK, st.Failed+st.Skipped,
				st.CompletedPerSec, fmtMS(st.Latency.P50), fmtMS(st.Latency.P99), st.ServerCPUPct, fmtMS(st.ProbeRTT.P50), fmtMS(st.ProbeRTT.P99), fmtMS(st.ProbeRTT.Max), passOr(st))
		}
		tw.Flush()
		for _, b := range s.Best {
			fmt.Fprintf(w, "  %s: sustained %.0f/s offered (%.0f/s completed)", b.Kind, b.SustainedRate, b.CompletedPerSec)
			if b.FirstFailure != "" {
				fmt.Fprintf(w, "; first failure at %s", b.FirstFailure)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  probe (existing websocket client, one message per %s) over the whole storm: p50 %s, p99 %s, max %s, lost %d, still connected: %v\n",
			cfg.ProbeEvery, fmtMS(s.ProbeRTT.P50), fmtMS(s.ProbeRTT.P99), fmtMS(s.ProbeRTT.Max), s.ProbeLost, s.ProbeAlive)
		if s.ProbeDropReason != "" {
			fmt.Fprintf(w, "  probes disconnected by the server: %s\n", s.ProbeDropReason)
		}
	}
	fmt.Fprintln(w, "\nserver")
	if rep.Storm != nil && rep.ServerBefore.OK {
		fmt.Fprintf(w, "  RSS %s before, %s after; CPU %.1fs during the storm\n", fmtBytes(float64(rep.ServerBefore.RSS)),
			fmtBytes(float64(rep.ServerAfter.RSS)), rep.ServerAfter.CPU-rep.ServerBefore.CPU)
	} else if rep.ServerBefore.OK {
		fmt.Fprintf(w, "  RSS %s before, %s connected, %s after (peak %s); threads %d\n",
			fmtBytes(float64(rep.ServerBefore.RSS)), fmtBytes(float64(rep.ServerConnected.RSS)), fmtBytes(float64(rep.ServerAfter.RSS)),
			fmtBytes(float64(max(rep.ServerPeakRSS, rep.ServerAfter.RSS))), rep.ServerAfter.Threads)
		fmt.Fprintf(w, "  CPU %.1fs during the run\n", rep.ServerAfter.CPU-rep.ServerBefore.CPU)
	} else {
		fmt.Fprintln(w, "  not measured (give --pid or --metrics-url)")
	}
	if rep.Dropped > 0 {
		fmt.Fprintf(w, "  %d clients disconnected by the server during the run, e.g. %s\n", rep.Dropped, rep.DropReason)
	}
	fmt.Fprintf(w, "  this tool: %.1fs CPU, %s resident\n", rep.ToolCPUSeconds, fmtBytes(float64(rep.ToolRSS)))
	if rep.OtherCPU > 0 {
		fmt.Fprintf(w, "  other processes: %.1fs CPU (%.0f%% of the machine) during the run\n", rep.OtherCPU, rep.OtherCPUPct)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets")
		for _, t := range rep.Targets {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", passWord(t.Pass), t.Name, t.Want, t.Got)
		}
		tw.Flush()
	}
}

func passOr(st stormStage) string {
	if st.Pass {
		return "pass"
	}
	return "FAIL: " + st.Why
}
