// Package natstest runs NATS servers with JetStream for tests: embedded in
// the test process (the pinned github.com/nats-io/nats-server/v2 module),
// on a free loopback port, storing in a temporary folder.
package natstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server.
type Server struct {
	srv  *server.Server
	opts *server.Options
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() error {
	srv, err := server.NewServer(s.opts)
	if err != nil {
		return err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats server not ready in 10 s")
	}
	s.srv = srv
	return nil
}

// URL is the client URL (nats://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.ClientURL() }

// Shutdown stops the server.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}
