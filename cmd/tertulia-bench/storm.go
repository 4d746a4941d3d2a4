package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/room"
)

type stormStage struct {
	Kind            string         `json:"kind"`
	Rate            float64        `json:"offered_per_second"`
	Attempts        int            `json:"attempts"`
	OK              int            `json:"ok"`
	Failed          int            `json:"failed"`
	Skipped         int            `json:"skipped_inflight_full"`
	FirstError      string         `json:"first_error,omitempty"`
	Seconds         float64        `json:"seconds"`
	CompletedPerSec float64        `json:"completed_per_second"`
	Latency         latencySummary `json:"connect_latency"`
	ProbeRTT        latencySummary `json:"probe_rtt"`
	ProbeLost       int            `json:"probe_lost"`
	ServerCPUPct    float64        `json:"server_cpu_percent"`
	Pass            bool           `json:"pass"`
	Why             string         `json:"why,omitempty"`
}

type stormBest struct {
	Kind            string  `json:"kind"`
	SustainedRate   float64 `json:"sustained_offered_per_second"`
	CompletedPerSec float64 `json:"completed_per_second"`
	FirstFailure    string  `json:"first_failure,omitempty"`
}

type stormReport struct {
	Error      string         `json:"error,omitempty"`
	Stages     []stormStage   `json:"stages"`
	Best       []stormBest    `json:"best"`
	ProbeRTT   latencySummary `json:"probe_rtt"`
	ProbeLost  int            `json:"probe_lost"`
	ProbeAlive bool           `json:"probe_alive"`
	// Why probes were disconnected, if they were (a dropped probe is
	// replaced before the next kind of storm).
	ProbeDropReason string `json:"probe_drop_reason,omitempty"`
}

// probeLog keeps the probe's round-trip time per message.
type probeLog struct {
	rtt []atomic.Int64 // nanoseconds; 0 = not back (yet)
}

// stormProbe is the existing client whose service the storm watches: a
// websocket client sending itself a message every --probe-every. A probe
// dropped by the server is replaced before the next kind of storm.
type stormProbe struct {
	cur  atomic.Pointer[client]
	log  *probeLog
	made int
	drop []string // why earlier probes were dropped
}

func (r *run) newProbe(ctx context.Context, p *stormProbe) error {
	p.made++
	c := &client{
		kind: kindWS, nick: fmt.Sprintf("%sprobe%d", r.cfg.NickPrefix, p.made), sender: 0,
		signals: make(chan sig, 16), readerDone: make(chan struct{}), dropped: &r.dropped,
		probe: p.log,
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	if err := r.connectWS(pctx, c); err != nil {
		c.close()
		return err
	}
	if old := p.cur.Swap(c); old != nil {
		old.close()
	}
	return nil
}

// storm opens connections at increasing rates, stage by stage, until a stage
// fails (an error, a connection slower than --storm-timeout, the in-flight
// limit reached, or fewer than 90 % completed in time), while a websocket
// probe measures how an existing client is served.
func (r *run) storm(ctx context.Context) *stormReport {
	sr := &stormReport{}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()

	every := r.cfg.ProbeEvery
	maxSeq := int(r.cfg.Duration/every) + 10
	r.reg = newRegistry([]int{0}, maxSeq)
	probe := &stormProbe{log: &probeLog{rtt: make([]atomic.Int64, maxSeq)}}
	if err := r.newProbe(ctx, probe); err != nil {
		sr.Error = "probe client: " + err.Error()
		return sr
	}
	defer func() { probe.cur.Load().close() }()
	r.recording.Store(true)
	probeStop := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		t := time.NewTicker(every)
		defer t.Stop()
		buf := make([]byte, 0, 48)
		for seq := 0; seq < maxSeq; seq++ {
			select {
			case <-t.C:
			case <-probeStop:
				return
			}
			nanos := time.Now().UnixNano()
			r.reg.sent[0][seq].Store(nanos)
			buf = appendPayload(buf[:0], 0, seq, nanos)
			if probe.cur.Load().send("", string(buf)) != nil {
				r.reg.sent[0][seq].Store(0) // a dead probe: not counted
			}
			r.reg.count[0].Store(int64(seq + 1))
		}
	}()

	var total atomic.Int64
	var nickSeq atomic.Int64
	for _, k := range strings.Split(r.cfg.StormKinds, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if k != "ssh" && k != "ws" && k != "pty" {
			sr.Error = fmt.Sprintf("unknown storm kind %q", k)
			break
		}
		if c := probe.cur.Load(); c.dead.Load() {
			if p := c.deadWhy.Load(); p != nil {
				probe.drop = append(probe.drop, *p)
			}
			if err := r.newProbe(ctx, probe); err != nil {
				sr.Error = "replacing the probe client: " + err.Error()
				break
			}
		}
		best := stormBest{Kind: k}
		for rate := r.cfg.StormStart; rate <= r.cfg.StormMax && ctx.Err() == nil; rate *= r.cfg.StormFactor {
			if int(total.Load()) >= r.cfg.StormMaxAttempts {
				break
			}
			st := r.stormStage(ctx, k, rate, probe, &total, &nickSeq)
			sr.Stages = append(sr.Stages, st)
			r.logf("storm %s %.0f/s: %d ok, %d failed, %d skipped, %.0f/s completed, connect p99 %.1fms, probe p99 %.1fms max %.1fms: %s",
				k, rate, st.OK, st.Failed, st.Skipped, st.CompletedPerSec, st.Latency.P99, st.ProbeRTT.P99, st.ProbeRTT.Max, passWord(st.Pass))
			if !st.Pass {
				best.FirstFailure = fmt.Sprintf("%.0f/s: %s", rate, st.Why)
				break
			}
			best.SustainedRate, best.CompletedPerSec = rate, max(best.CompletedPerSec, st.CompletedPerSec)
		}
		sr.Best = append(sr.Best, best)
		sleepCtx(ctx, 2*time.Second) // let the server finish closing
	}
	close(probeStop)
	<-probeDone
	sleepCtx(context.Background(), time.Second) // the last echoes
	r.recording.Store(false)
	sr.ProbeRTT, sr.ProbeLost = r.probeStats(probe, 0, int(r.reg.count[0].Load()))
	last := probe.cur.Load()
	sr.ProbeAlive = !last.dead.Load()
	if p := last.deadWhy.Load(); p != nil && !sr.ProbeAlive {
		probe.drop = append(probe.drop, *p)
	}
	sr.ProbeDropReason = strings.Join(probe.drop, "; ")
	return sr
}

func passWord(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// probeStats summarises the probe's messages [from, to).
func (r *run) probeStats(probe *stormProbe, from, to int) (latencySummary, int) {
	h := new(hist)
	lost := 0
	for seq := from; seq < to; seq++ {
		if r.reg.sent[0][seq].Load() == 0 {
			continue
		}
		if d := probe.log.rtt[seq].Load(); d > 0 {
			h.add(time.Duration(d))
		} else {
			lost++
		}
	}
	return h.summary(), lost
}

func (r *run) stormStage(ctx context.Context, k string, rate float64, probe *stormProbe, total, nickSeq *atomic.Int64) stormStage {
	st := stormStage{Kind: k, Rate: rate}
	n := int(rate * r.cfg.StormStage.Seconds())
	sem := make(chan struct{}, r.cfg.StormInflight)
	lat := new(hist)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	lastEnd := start
	probeFrom := int(r.reg.count[0].Load())
	s0 := r.probe.sample(ctx)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sleepCtx(ctx, time.Until(start.Add(time.Duration(float64(i)/rate*float64(time.Second)))))
		if int(total.Load()) >= r.cfg.StormMaxAttempts {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			st.Skipped++
			continue
		}
		total.Add(1)
		st.Attempts++
		nick := fmt.Sprintf("%sz%d", r.cfg.NickPrefix, nickSeq.Add(1))
		wg.Go(func() {
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, r.cfg.StormTimeout)
			t0 := time.Now()
			err := r.stormOnce(actx, k, nick)
			cancel()
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				st.OK++
				lat.add(end.Sub(t0))
			} else {
				st.Failed++
				if st.FirstError == "" {
					st.FirstError = err.Error()
				}
			}
			if end.After(lastEnd) {
				lastEnd = end
			}
		})
	}
	wg.Wait()
	st.Seconds = max(lastEnd.Sub(start), r.cfg.StormStage).Seconds()
	st.CompletedPerSec = float64(st.OK) / st.Seconds
	st.Latency = lat.summary()
	if s1 := r.probe.sample(ctx); s0.OK && s1.OK {
		st.ServerCPUPct = 100 * (s1.CPU - s0.CPU) / s1.At.Sub(s0.At).Seconds()
	}
	sleepCtx(ctx, 500*time.Millisecond) // echoes of the probe's last messages
	st.ProbeRTT, st.ProbeLost = r.probeStats(probe, probeFrom, int(r.reg.count[0].Load()))
	switch {
	case st.Failed > 0:
		st.Why = fmt.Sprintf("%d of %d failed (%s)", st.Failed, st.Attempts, st.FirstError)
	case st.Skipped > 0:
		st.Why = fmt.Sprintf("%d connections in progress at once (--storm-inflight): the server fell behind", r.cfg.StormInflight)
	case st.CompletedPerSec < 0.9*rate:
		st.Why = fmt.Sprintf("only %.0f/s completed", st.CompletedPerSec)
	case probe.cur.Load().dead.Load():
		st.Why = "the probe client was disconnected"
		if p := probe.cur.Load().deadWhy.Load(); p != nil {
			st.Why += " (" + *p + ")"
		}
	default:
		st.Pass = true
	}
	return st
}

// stormOnce opens one connection, waits until the server has welcomed the
// user, and closes it.
func (r *run) stormOnce(ctx context.Context, k, nick string) error {
	if k == "ws" {
		ws, resp, err := chatclient.DialWS(ctx, r.wsDialer, r.wsURL(), nil)
		if err != nil {
			if resp != nil {
				return fmt.Errorf("upgrade: %s", resp.Status)
			}
			return err
		}
		defer ws.Close()
		if d, ok := ctx.Deadline(); ok {
			_ = ws.Conn.SetReadDeadline(d)
			_ = ws.Conn.SetWriteDeadline(d)
		}
		if err := ws.Hello(nick); err != nil {
			return err
		}
		for {
			f, err := ws.Next()
			if err != nil {
				return err
			}
			switch f.Type {
			case "welcome":
				return nil
			case "error":
				return fmt.Errorf("hello refused: %s", f.Raw)
			}
		}
	}
	cl, _, err := r.dialSSH(ctx, nick)
	if err != nil {
		return err
	}
	defer cl.Close()
	if k != "pty" {
		l, err := chatclient.OpenLine(cl)
		if err != nil {
			return err
		}
		for {
			ev, _, err := l.Next()
			if ev.Kind == room.KindWelcome {
				return nil
			}
			if err != nil {
				return sessionEnded(ctx, err)
			}
		}
	}
	sess, err := cl.NewSession()
	if err != nil {
		return err
	}
	if err := sess.RequestPty("xterm-256color", r.cfg.Height, r.cfg.Width, nil); err != nil {
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sess.Shell(); err != nil {
		return err
	}
	// The terminal interface is not a contract: the status line's member
	// count tells the session is in.
	want := []byte(" members")
	br := bufio.NewReaderSize(stdout, 16<<10)
	var tail []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := br.Read(buf)
		chunk := append(tail, buf[:n]...)
		if bytes.Contains(chunk, want) {
			return nil
		}
		tail = append(tail[:0], chunk[max(0, len(chunk)-len(want)):]...)
		if err != nil {
			return sessionEnded(ctx, err)
		}
	}
}

// sessionEnded is the error of a session whose output ended (err) before
// the welcome.
func sessionEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("session ended before the welcome: " + err.Error())
}
