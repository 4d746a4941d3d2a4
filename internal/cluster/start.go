package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStartTimeout is Config.StartTimeout's default: long enough for a
// NATS cluster that has just formed to elect its JetStream meta leader
// and the new buckets' stream leaders (seconds), short enough that a node
// whose JetStream never answers says so.
const DefaultStartTimeout = 30 * time.Second

// Back-off between start-up attempts: doubling from the first to the
// longest.
const (
	firstStartRetry = 100 * time.Millisecond
	maxStartRetry   = 2 * time.Second
)

// errPermanent marks a start-up failure that trying again cannot mend.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// permanent has startStep give up at once with err.
func permanent(err error) error { return errPermanent{err} }

// startContext bounds a start-up: ctx's deadline, or StartTimeout from now
// if that comes first.
func (n *Node) startContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.StartTimeout)
}

// awaited is what a start-up step waits for: named in its logs and in
// its error once it gives up.
type awaited struct {
	name string // "JetStream", "NATS"
	why  string // a likely reason it does not answer yet
}

var (
	awaitJetStream = awaited{"JetStream", "it may be electing a leader"}
	awaitNATS      = awaited{"NATS", "no server of --cluster accepts the connection yet"}
)

// startStep runs one step of the start-up until it succeeds, with a
// bounded back-off, each attempt bounded by the lease TTL (a JetStream
// request slower than that could not keep a lease anyway). Right after a
// NATS cluster forms, JetStream may still be electing its meta leader or
// a new bucket's stream leader, and a first request times out or is
// refused. It gives up when ctx ends (the start-up deadline) or fn returns
// a permanent error.
func (n *Node) startStep(ctx context.Context, what string, fn func(context.Context) error) error {
	return retryStart(ctx, n.log, n.cfg.LeaseTTL, awaitJetStream, what, fn)
}

// retryStart is startStep for a step waiting for w, logging to log.
func retryStart(ctx context.Context, log *slog.Logger, attemptTimeout time.Duration, w awaited, what string, fn func(context.Context) error) error {
	delay := firstStartRetry
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("cluster start: "+w.name+" answered", "step", what, "attempts", attempt)
			}
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return err
		}
		if ctx.Err() != nil {
			return gaveUp(ctx, w, attempt, err)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return gaveUp(context.Background(), w, attempt, err)
		}
		log.Warn("cluster start: waiting for "+w.name+" ("+w.why+"); trying again",
			"step", what, "attempt", attempt, "in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return gaveUp(ctx, w, attempt, err)
		case <-t.C:
		}
		delay = min(2*delay, maxStartRetry)
	}
}

// gaveUp is retryStart's error once it stops trying: err is the last
// attempt's.
func gaveUp(ctx context.Context, w awaited, attempts int, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("start-up stopped: %w", err)
	}
	return fmt.Errorf("%s did not answer before the start-up deadline (%d attempts): %w", w.name, attempts, err)
}
