package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

func TestCallsLogOnceAndRefuse(t *testing.T) {
	var logs bytes.Buffer
	c := store.NewCalls(context.Background(), time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	cause := errors.New("disk full")
	err := c.Do("thing", "the thing was not done", func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a store operation without a deadline")
		}
		return cause
	}, "room", "lobby")
	var f *store.Failure
	if !errors.As(err, &f) || f.Refusal != "the thing was not done" || err.Error() != "the thing was not done" || !errors.Is(err, cause) {
		t.Fatalf("Do = %#v", err)
	}
	if got := logs.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `msg="store thing"`) || !strings.Contains(got, "room=lobby") || !strings.Contains(got, `err="disk full"`) {
		t.Fatalf("logged %q", got)
	}
	if err := c.Do("thing", "refused", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// Operations under way when the Calls' context ends are cut short.
func TestCallsEndWithTheirContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := store.NewCalls(ctx, time.Hour, slog.New(slog.DiscardHandler))
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- c.Do("slow", "refused", func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want it cut short", err)
	}
}
