// Package health serves the HTTP probes an operator (systemd, a load
// balancer, Kubernetes, a monitoring check) asks a Tertulia process:
//
//   - GET /healthz: the process is up and its HTTP server answers.
//   - GET /readyz: every readiness check passes (listeners serving, store
//     reachable...). 200 when all pass, 503 otherwise; the body lists each
//     check as "ok NAME" or "fail NAME: reason".
//
// Checks are pluggable: whoever owns a dependency adds a named Check.
package health

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultCheckTimeout bounds each readiness check.
const DefaultCheckTimeout = 2 * time.Second

// Check is one named readiness condition. Func returns nil when ready; it
// must honour ctx (it is bounded by a timeout) and be safe for concurrent
// use.
type Check struct {
	Name string
	Func func(context.Context) error
}

// Result is the outcome of one Check.
type Result struct {
	Name string
	Err  error
}

// Run runs every check concurrently, each bounded by timeout, and returns
// the results in the checks' order and whether all passed.
func Run(ctx context.Context, timeout time.Duration, checks []Check) ([]Result, bool) {
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		results[i].Name = c.Name
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i].Err = runOne(cctx, c)
		})
	}
	wg.Wait()
	ok := true
	for _, r := range results {
		if r.Err != nil {
			ok = false
		}
	}
	return results, ok
}

// runOne runs a check and gives up when ctx ends, even if the check does
// not: a hung dependency makes the probe fail, not hang.
func runOne(ctx context.Context, c Check) (err error) {
	if c.Func == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- c.Func(ctx)
	}()
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// Healthz answers 200 "ok" while the process serves HTTP at all.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		_, _ = fmt.Fprintln(w, "ok")
	})
}

// Readyz answers 200 when every check returned by checks passes, 503
// otherwise, with one line per check.
func Readyz(timeout time.Duration, checks func() []Check) http.Handler {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results, ok := Run(r.Context(), timeout, checks())
		var b strings.Builder
		for _, res := range results {
			if res.Err != nil {
				fmt.Fprintf(&b, "fail %s: %v\n", res.Name, res.Err)
			} else {
				fmt.Fprintf(&b, "ok %s\n", res.Name)
			}
		}
		noStore(w)
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(b.String()))
	})
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
