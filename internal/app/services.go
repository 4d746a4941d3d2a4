package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connGrace is how long connections that carry no session may stay open
// once every session has left during shutdown.
const connGrace = time.Second

// A service is one listener and the server behind it.
type service struct {
	name  string // in logs, errors and /readyz
	title string // in the readiness message: "SSH listener not serving"
	addr  string
	// serve serves ln until shutdown; it returns nil once shut down.
	serve func(ln net.Listener) error
	// shutdown stops accepting and waits, until ctx ends, for the
	// service's connections to close.
	shutdown func(ctx context.Context)
	// drainsSessions: the service's connections carry chat sessions, so
	// its shutdown waits for the hub to end them, then a short grace
	// (connGrace) for connections without a session.
	drainsSessions bool

	ln      net.Listener
	serving atomic.Bool
}

// listenAll binds every service in order. On a failure the listeners
// already bound are closed.
func listenAll(services []*service) error {
	for i, s := range services {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			closeListeners(services[:i])
			return fmt.Errorf("%s listener: %w", s.name, err)
		}
		s.ln = ln
	}
	return nil
}

func closeListeners(services []*service) {
	for _, s := range services {
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
	}
}

// serveAll serves every service, each on its goroutine; the first failure
// of any is sent to errc (buffered for all of them).
func serveAll(services []*service, errc chan<- error) {
	for _, s := range services {
		s.serving.Store(true)
		go func() {
			defer s.serving.Store(false)
			if err := s.serve(s.ln); err != nil {
				errc <- fmt.Errorf("%s server: %w", s.name, err)
			}
		}()
	}
}

// shutdownAll stops the services, last started first. Every service's
// shutdown begins at once, since a server waits for its connections and
// those close only as endSessions ends the chat sessions; endSessions runs
// meanwhile. Services carrying sessions get until a short grace after the
// last session left; the others until ctx ends.
func shutdownAll(ctx context.Context, services []*service, endSessions func(context.Context) error) error {
	connCtx, connCancel := context.WithCancel(ctx)
	defer connCancel()
	var wg sync.WaitGroup
	for i := len(services) - 1; i >= 0; i-- {
		s := services[i]
		sctx := ctx
		if s.drainsSessions {
			// Connections without a session (SSH handshakes in progress,
			// clients that keep their connection once the session ended,
			// half-sent HTTP requests) are cut a short grace after the
			// last session left, not at the deadline: port 22 always has
			// a scanner or two mid-handshake.
			sctx = connCtx
		}
		wg.Go(func() { s.shutdown(sctx) })
	}
	err := endSessions(ctx)
	if err == nil {
		defer time.AfterFunc(connGrace, connCancel).Stop()
	}
	wg.Wait()
	return err
}

// shutdownHTTP stops an HTTP server, closing the connections still
// mid-request when ctx ends.
func shutdownHTTP(srv *http.Server) func(context.Context) {
	return func(ctx context.Context) {
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	}
}

// serveHTTP serves srv on ln; a shutdown is not a failure.
func serveHTTP(srv *http.Server) func(net.Listener) error {
	return func(ln net.Listener) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
