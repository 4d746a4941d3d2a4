// Package logx holds log/slog helpers shared by the whole process.
package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultRepeatWindow is how often one repeated error is written.
const DefaultRepeatWindow = 10 * time.Second

// maxTracked bounds the errors remembered at once: a flood of distinct
// errors is written as it comes rather than grow this table.
const maxTracked = 256

// Dedup is a slog.Handler that writes an ERROR record whose message and
// "err" attribute were already written within the window only once per
// window, with a "repeated" count of the ones it held back: a full disk
// refuses every message and would otherwise log each refusal. Other
// records pass through untouched.
type Dedup struct {
	next  slog.Handler
	state *dedupState
}

type dedupState struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	written    time.Time // when this error was last written
	suppressed int       // held back since then
}

// NewDedup wraps next; window <= 0 takes DefaultRepeatWindow and now nil
// takes time.Now.
func NewDedup(next slog.Handler, window time.Duration, now func() time.Time) *Dedup {
	if window <= 0 {
		window = DefaultRepeatWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Dedup{next: next, state: &dedupState{window: window, now: now, seen: map[string]*repeat{}}}
}

// Enabled implements slog.Handler.
func (d *Dedup) Enabled(ctx context.Context, l slog.Level) bool { return d.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (d *Dedup) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return d.next.Handle(ctx, r)
	}
	errText, ok := errAttr(r)
	if !ok {
		return d.next.Handle(ctx, r)
	}
	repeated, write := d.state.admit(r.Message + "\x00" + errText)
	if !write {
		return nil
	}
	if repeated > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", repeated))
	}
	return d.next.Handle(ctx, r)
}

// admit says whether a record with this key is written now, and how many
// like it were held back since the last one written.
func (s *dedupState) admit(key string) (repeated int, write bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.seen[key]; rp != nil {
		if now.Sub(rp.written) < s.window {
			rp.suppressed++
			return 0, false
		}
		repeated = rp.suppressed
		rp.written, rp.suppressed = now, 0
		return repeated, true
	}
	if len(s.seen) >= maxTracked {
		s.forgetOld(now)
	}
	if len(s.seen) < maxTracked {
		s.seen[key] = &repeat{written: now}
	}
	return 0, true
}

// forgetOld drops the errors whose window is over; their held-back count
// is lost only if they never come again.
func (s *dedupState) forgetOld(now time.Time) {
	for k, rp := range s.seen {
		if now.Sub(rp.written) >= s.window {
			delete(s.seen, k)
		}
	}
}

func errAttr(r slog.Record) (string, bool) {
	var text string
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			text, found = a.Value.String(), true
			return false
		}
		return true
	})
	return text, found
}

// WithAttrs implements slog.Handler; the derived handler shares the counts.
func (d *Dedup) WithAttrs(as []slog.Attr) slog.Handler {
	return &Dedup{next: d.next.WithAttrs(as), state: d.state}
}

// WithGroup implements slog.Handler; the derived handler shares the counts.
func (d *Dedup) WithGroup(name string) slog.Handler {
	return &Dedup{next: d.next.WithGroup(name), state: d.state}
}
