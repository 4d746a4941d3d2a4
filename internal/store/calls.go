package store

import (
	"context"
	"log/slog"
	"time"
)

// DefaultCallTimeout bounds one store operation made for a user.
const DefaultCallTimeout = 5 * time.Second

// Calls runs the store operations made for users, for every package that
// makes them (the chat core and access): each gets the same timeout, cut
// short once the context Calls was made with ends (at shutdown: nothing
// waits on a store the server is closing), and a failure is logged once,
// here, with its underlying error.
type Calls struct {
	ctx     context.Context
	timeout time.Duration
	log     *slog.Logger
}

// NewCalls returns a Calls whose operations end with ctx, each after
// timeout at most, logging failures to log.
func NewCalls(ctx context.Context, timeout time.Duration, log *slog.Logger) *Calls {
	return &Calls{ctx: ctx, timeout: timeout, log: log}
}

// Failure is a store operation that failed. Its text is Refusal, what the
// user is told was not done; Err, already logged, is for the logs only.
type Failure struct {
	Refusal string
	Err     error
}

func (f *Failure) Error() string { return f.Refusal }
func (f *Failure) Unwrap() error { return f.Err }

// Do runs f, one store operation. If f fails, the error is logged as
// "store "+what with logAttrs (the process logger folds repeats of it, see
// internal/logx) and Do returns a *Failure with refusal.
//
// An answer of the store that is not a failure (a nick taken, a code not
// found) is for f to turn into its own outcome and a nil error.
func (c *Calls) Do(what, refusal string, f func(ctx context.Context) error, logAttrs ...any) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		c.log.Error("store "+what, append(logAttrs, "err", err)...)
		return &Failure{Refusal: refusal, Err: err}
	}
	return nil
}
