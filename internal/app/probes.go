package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/tertulia/tertulia/internal/health"
)

// probes are the liveness and readiness endpoints that operators' tools
// (systemd, a load balancer, Kubernetes) poll on the chat's HTTP server.
// The name keeps them apart from the chat's operators (/op).
type probes struct {
	stopping atomic.Bool

	mu     sync.Mutex
	checks []health.Check
}

// newProbes starts /readyz with the checks every process has: each
// listener in serving (in the order given), and the server not stopping.
func newProbes(serving ...*service) *probes {
	p := &probes{}
	for _, s := range serving {
		p.addReadyCheck(health.Check{Name: s.name, Func: func(context.Context) error {
			if !s.serving.Load() {
				return errors.New(s.title + " listener not serving")
			}
			return nil
		}})
	}
	p.addReadyCheck(health.Check{Name: "running", Func: func(context.Context) error {
		if p.stopping.Load() {
			return errors.New("the server is stopping")
		}
		return nil
	}})
	return p
}

// addReadyCheck adds a condition to GET /readyz. Whoever owns a dependency
// adds its check while New assembles the process, e.g. the store:
//
//	p.addReadyCheck(health.Check{Name: "store", Func: st.Ready})
func (p *probes) addReadyCheck(c health.Check) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, c)
}

func (p *probes) readyChecks() []health.Check {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]health.Check(nil), p.checks...)
}

// handler serves GET /healthz and GET /readyz, and everything else with
// web (the page and the websocket).
func (p *probes) handler(web http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health.Healthz())
	mux.Handle("GET /readyz", health.Readyz(health.DefaultCheckTimeout, p.readyChecks))
	mux.Handle("/", web)
	return mux
}
