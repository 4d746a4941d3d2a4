// Package natstest runs NATS servers with JetStream for tests: embedded in
// the test process (the pinned github.com/nats-io/nats-server/v2 module),
// on a free loopback port, storing in a temporary folder.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
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
	for _, u := range slices.Sorted(slices.Values(users)) { // sorted: see StartCluster
		opts.Users = append(opts.Users, &server.User{Username: u, Password: u})
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Later prepares a server on a free loopback port, stopped until
// StartNow, so that a client can be pointed at it (URL) before it runs.
func Later(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{opts: &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}}
	t.Cleanup(s.Shutdown)
	return s
}

// StartNow runs a server prepared by Later.
func (s *Server) StartNow() error { return s.start() }

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

// URL is the client URL (nats://127.0.0.1:port), also of a server
// prepared by Later that does not run yet.
func (s *Server) URL() string {
	if s.srv == nil {
		return fmt.Sprintf("nats://%s:%d", s.opts.Host, s.opts.Port)
	}
	return s.srv.ClientURL()
}

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

// Cluster is embedded servers routed to one another as one NATS cluster
// with JetStream (a bucket of three replicas lives on three of them).
type Cluster struct {
	Servers []*Server
}

// StartCluster runs n servers as one cluster until the test ends, users
// as in StartUsers, and waits until JetStream has its leader on each.
func StartCluster(t testing.TB, n int, users ...string) *Cluster {
	t.Helper()
	var routes []string
	var routePorts []int
	// Every listener stays open until all are taken, so that the kernel
	// cannot give one port twice (NATS refuses a duplicate route).
	var held []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		routePorts = append(routePorts, port)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", port))
	}
	for _, l := range held {
		l.Close()
	}
	// A configuration reload (Deny) sorts the running server's routes and
	// users in place while its route goroutines read them (a data race in
	// nats-server): given sorted, they are never written.
	slices.Sort(routes)
	users = slices.Sorted(slices.Values(users))
	c := &Cluster{}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("natstest-%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		for _, u := range users {
			opts.Users = append(opts.Users, &server.User{Username: u, Password: u})
		}
		s := &Server{opts: opts}
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		c.Servers = append(c.Servers, s)
	}
	// No event says JetStream has elected its leader: ask each server's
	// health check until it says so.
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range c.Servers {
		for {
			h := s.srv.Healthz(nil)
			if h.Status == "ok" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not healthy: %s", s.opts.ServerName, h.Error)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Name is the server's name in its cluster (as stream infos give leaders).
func (s *Server) Name() string { return s.opts.ServerName }

// URLFor is every server's client URL with user's credentials, comma
// separated.
func (c *Cluster) URLFor(user string) string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URLFor(user)
	}
	return strings.Join(urls, ",")
}

// Deny is Server.Deny on every server.
func (c *Cluster) Deny(user string, subjects ...string) error {
	for _, s := range c.Servers {
		if err := s.Deny(user, subjects...); err != nil {
			return err
		}
	}
	return nil
}
