package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/metrics"
)

// connGrace is how long connections that carry no session may stay open
// once every session has left during shutdown.
const connGrace = time.Second

// ops is what operators and their tools see of a process besides the chat:
// the health and readiness probes on the HTTP server, and the Prometheus
// metrics on their own listener.
type ops struct {
	log     *slog.Logger
	metrics *metrics.Metrics

	sshServing  atomic.Bool
	httpServing atomic.Bool
	stopping    atomic.Bool

	mu     sync.Mutex
	checks []health.Check

	metricsLn  net.Listener
	metricsSrv *http.Server
}

func newOps(cfg Config, log *slog.Logger) *ops {
	o := &ops{log: log, metrics: metrics.New()}
	o.addReadyCheck(health.Check{Name: "ssh", Func: func(context.Context) error {
		if !o.sshServing.Load() {
			return errors.New("SSH listener not serving")
		}
		return nil
	}})
	o.addReadyCheck(health.Check{Name: "http", Func: func(context.Context) error {
		if !o.httpServing.Load() {
			return errors.New("HTTP listener not serving")
		}
		return nil
	}})
	o.addReadyCheck(health.Check{Name: "running", Func: func(context.Context) error {
		if o.stopping.Load() {
			return errors.New("the server is stopping")
		}
		return nil
	}})
	for _, c := range cfg.ReadyChecks {
		o.addReadyCheck(c)
	}
	return o
}

// addReadyCheck adds a condition to GET /readyz. Whoever owns a dependency
// adds its check while Run assembles the process, e.g. the store:
//
//	o.addReadyCheck(health.Check{Name: "store", Func: st.Ping})
func (o *ops) addReadyCheck(c health.Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks = append(o.checks, c)
}

func (o *ops) readyChecks() []health.Check {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]health.Check(nil), o.checks...)
}

// handler serves GET /healthz and GET /readyz, and everything else with
// web (the page and the websocket).
func (o *ops) handler(web http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health.Healthz())
	mux.Handle("GET /readyz", health.Readyz(health.DefaultCheckTimeout, o.readyChecks))
	mux.Handle("/", web)
	return mux
}

// listenMetrics binds the metrics listener; addr "" leaves metrics off.
func (o *ops) listenMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.metrics.Handler())
	o.metricsLn = ln
	o.metricsSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// metricsAddr is the metrics listener's address, nil when off.
func (o *ops) metricsAddr() net.Addr {
	if o.metricsLn == nil {
		return nil
	}
	return o.metricsLn.Addr()
}

func (o *ops) metricsAddrString() string {
	if a := o.metricsAddr(); a != nil {
		return a.String()
	}
	return ""
}

// serveMetrics serves until shutdown; a failure is sent to errc.
func (o *ops) serveMetrics(errc chan<- error) {
	if o.metricsSrv == nil {
		return
	}
	go func() {
		if err := o.metricsSrv.Serve(o.metricsLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics server: %w", err)
		}
	}()
}

// closeMetrics releases the metrics listener when Run fails before serving.
func (o *ops) closeMetrics() {
	if o.metricsLn != nil {
		_ = o.metricsLn.Close()
	}
}

// shutdownMetrics stops the metrics server (scrapes in flight may finish).
func (o *ops) shutdownMetrics(ctx context.Context) {
	if o.metricsSrv == nil {
		return
	}
	if err := o.metricsSrv.Shutdown(ctx); err != nil {
		_ = o.metricsSrv.Close()
	}
}
