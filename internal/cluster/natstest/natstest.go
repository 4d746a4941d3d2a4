// Package natstest runs NATS servers with JetStream for tests: embedded in
// the test process (the pinned github.com/nats-io/nats-server/v2 module),
// on a free loopback port, storing in a temporary folder.
package natstest

import (
	"fmt"
	"net/url"
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
func Start(t testing.TB) *Server { return StartUsers(t) }

// StartUsers runs a server until the test ends whose clients sign in as
// one of users (password: the name; URLFor), each allowed everything
// until Deny; none: no sign-in.
func StartUsers(t testing.TB, users ...string) *Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	for _, u := range users {
		opts.Users = append(opts.Users, &server.User{Username: u, Password: u})
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

// URLFor is the client URL with user's credentials.
func (s *Server) URLFor(user string) string {
	u, err := url.Parse(s.URL())
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, user)
	return u.String()
}

// Deny refuses user's publishes to subjects from now on (none: allows
// everything again), through a configuration reload as an operator would
// make: the user's connections stay up.
func (s *Server) Deny(user string, subjects ...string) error {
	opts := s.opts.Clone()
	for _, u := range opts.Users {
		if u.Username != user {
			continue
		}
		u.Permissions = nil
		if len(subjects) > 0 {
			u.Permissions = &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: subjects}}
		}
	}
	if err := s.srv.ReloadOptions(opts); err != nil {
		return err
	}
	s.opts = opts
	return nil
}
