package cluster_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// logMessages is a slog handler that hands each record's message to a
// channel (dropped when nobody reads).
type logMessages chan string

func (l logMessages) Enabled(context.Context, slog.Level) bool { return true }
func (l logMessages) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logMessages) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logMessages) WithGroup(string) slog.Handler      { return l }

// awaitLog waits for a message starting with prefix.
func awaitLog(t *testing.T, logs logMessages, prefix string) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m := <-logs:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-timer.C:
			t.Fatalf("no log %q", prefix)
		}
	}
}

// joined is what cluster.Join gave.
type joined struct {
	n   *cluster.Node
	err error
}

// joinInBackground starts a node with cfg, and gives its Join's result.
func joinInBackground(cfg cluster.Config) <-chan joined {
	done := make(chan joined, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		n, err := cluster.Join(ctx, cfg)
		done <- joined{n, err}
	}()
	return done
}

// JetStream that does not answer at first (as while a NATS cluster that
// has just formed elects its leaders) delays a node's start, which says
// what it waits for, and the node starts once JetStream answers; its
// presence likewise.
func TestNodeStartWaitsForJetStream(t *testing.T) {
	srv := natstest.StartUsers(t, "a")
	must(t, srv.Deny("a", "$JS.API.>"))
	logs := make(logMessages, 64)
	done := joinInBackground(cluster.Config{URLs: []string{srv.URLFor("a")}, NodeID: "a", LeaseTTL: time.Second,
		Log: slog.New(logs)})
	awaitLog(t, logs, "cluster start: waiting for JetStream")
	must(t, srv.Deny("a"))
	j := await(t, done, "the node started")
	must(t, j.err)
	t.Cleanup(j.n.Close)
	if !j.n.Live() {
		t.Fatal("the node started but does not hold its lease")
	}

	must(t, srv.Deny("a", "$JS.API.>"))
	p := j.n.NewPresence()
	started := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		started <- p.Start(ctx, func(string) []byte { return []byte(`[]`) }, func(string, string, []byte) {})
	}()
	awaitLog(t, logs, "cluster start: waiting for JetStream")
	must(t, srv.Deny("a"))
	must(t, await(t, started, "presence started"))
	p.Close()
}

// A node whose JetStream never answers fails its start once the start-up
// deadline passes, saying what it waited for.
func TestNodeStartFailsAtItsDeadline(t *testing.T) {
	srv := natstest.StartUsers(t, "a")
	must(t, srv.Deny("a", "$JS.API.>"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	begun := time.Now()
	_, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URLFor("a")}, NodeID: "a", LeaseTTL: time.Second,
		StartTimeout: 3 * time.Second, Log: slog.New(logMessages(nil))})
	if err == nil {
		t.Fatal("the node started without JetStream")
	}
	if took := time.Since(begun); took > 3*time.Second+2*time.Second {
		t.Errorf("the start failed after %v, want about its 3 s deadline", took)
	}
	if msg := err.Error(); !strings.Contains(msg, "nodes bucket") || !strings.Contains(msg, "start-up deadline") {
		t.Fatalf("error %q: want it to name the step and the deadline", msg)
	}
}

// A node started before its NATS server waits for it, saying so, and
// starts once the server runs, within the start-up deadline.
func TestNodeStartWaitsForNATS(t *testing.T) {
	srv := natstest.Later(t)
	logs := make(logMessages, 64)
	done := joinInBackground(cluster.Config{URLs: []string{srv.URL()}, NodeID: "a", LeaseTTL: time.Second,
		Log: slog.New(logs)})
	awaitLog(t, logs, "cluster start: waiting for NATS")
	must(t, srv.StartNow())
	j := await(t, done, "the node started")
	must(t, j.err)
	t.Cleanup(j.n.Close)
	if !j.n.Live() {
		t.Fatal("the node started but does not hold its lease")
	}
}

// A node whose NATS server never runs fails its start once the start-up
// deadline passes, saying what it waited for; one whose credentials NATS
// refuses fails at once.
func TestNodeStartWithoutNATSFailsAtItsDeadline(t *testing.T) {
	srv := natstest.Later(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	begun := time.Now()
	_, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "a", LeaseTTL: time.Second,
		StartTimeout: 2 * time.Second, Log: slog.New(logMessages(nil))})
	if err == nil {
		t.Fatal("the node started without NATS")
	}
	if took := time.Since(begun); took < time.Second || took > 2*time.Second+2*time.Second {
		t.Errorf("the start failed after %v, want about its 2 s deadline", took)
	}
	if msg := err.Error(); !strings.Contains(msg, "connect") || !strings.Contains(msg, "NATS did not answer before the start-up deadline") {
		t.Fatalf("error %q: want it to name the connection and the deadline", msg)
	}

	guarded := natstest.StartUsers(t, "a")
	begun = time.Now()
	_, err = cluster.Join(ctx, cluster.Config{URLs: []string{strings.Replace(guarded.URLFor("a"), "a:a@", "a:wrong@", 1)}, NodeID: "a",
		LeaseTTL: time.Second, Log: slog.New(logMessages(nil))})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a node with wrong credentials: %v", err)
	}
	if took := time.Since(begun); took > time.Second {
		t.Errorf("refused credentials failed the start after %v, want at once", took)
	}
}
