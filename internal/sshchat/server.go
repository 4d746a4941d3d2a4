// Package sshchat is the SSH front-end: a wish server whose sessions get a
// Bubble Tea interface when they have a PTY and a plain line protocol when
// they do not.
package sshchat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/room"
)

// Defaults for the SSH limits.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxLine          = 16 << 10
	// writerGrace bounds how long a closing session may take to write out
	// its queue before its connection is cut.
	writerGrace = 2 * time.Second
)

// Server is the SSH front-end.
type Server struct {
	hub              *room.Hub
	log              *slog.Logger
	hostKeys         []gossh.Signer
	handshakeTimeout time.Duration
	maxLine          int
	handshakeFailed  func()
	srv              *ssh.Server
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithHostKeys sets the host keys (see LoadHostKeys).
func WithHostKeys(keys ...gossh.Signer) Option {
	return func(s *Server) { s.hostKeys = append(s.hostKeys, keys...) }
}

// WithHandshakeTimeout bounds the SSH handshake, authentication included.
func WithHandshakeTimeout(d time.Duration) Option { return func(s *Server) { s.handshakeTimeout = d } }

// WithMaxLine bounds one input line in line mode, in bytes.
func WithMaxLine(n int) Option { return func(s *Server) { s.maxLine = n } }

// WithHandshakeFailed is called for each connection that fails before a
// session (bad version line, timeout, failed authentication), for metrics.
func WithHandshakeFailed(f func()) Option { return func(s *Server) { s.handshakeFailed = f } }

// New builds the SSH front-end attached to hub.
func New(hub *room.Hub, opts ...Option) (*Server, error) {
	s := &Server{
		hub:              hub,
		log:              slog.Default(),
		handshakeTimeout: DefaultHandshakeTimeout,
		maxLine:          DefaultMaxLine,
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.hostKeys) == 0 {
		return nil, errors.New("sshchat: no host keys")
	}
	srv, err := wish.NewServer(
		// Any key is welcome: a key only identifies a user once the client
		// has proved it holds it, which is read from the session afterwards.
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		// Keyboard-interactive with no questions lets people without keys in
		// as guests.
		wish.WithKeyboardInteractiveAuth(func(ssh.Context, gossh.KeyboardInteractiveChallenge) bool { return true }),
		wish.WithMiddleware(func(ssh.Handler) ssh.Handler { return s.handle }),
	)
	if err != nil {
		return nil, err
	}
	for _, k := range s.hostKeys {
		srv.AddHostKey(k)
	}
	srv.HandshakeTimeout = s.handshakeTimeout
	srv.ConnectionFailedCallback = func(conn net.Conn, err error) {
		s.log.Info("ssh handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		if s.handshakeFailed != nil {
			s.handshakeFailed()
		}
	}
	s.srv = srv
	return s, nil
}

// Serve accepts SSH connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for connections to end (the hub's
// Shutdown is what asks them to).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return s.srv.Close()
	}
	return err
}

// Fingerprint is the SHA256 fingerprint of the key the client proved it
// holds, or "" when it authenticated without one. It reads the session, never
// what an auth callback was offered: a client may offer any public key.
func Fingerprint(sess ssh.Session) string {
	if pk := sess.PublicKey(); pk != nil {
		return gossh.FingerprintSHA256(pk)
	}
	return ""
}

func (s *Server) handle(sess ssh.Session) {
	remote := sess.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	cs, err := s.hub.Connect(room.Identity{
		Nick:        room.SuggestNick(sess.User()),
		Via:         room.ViaSSH,
		Fingerprint: Fingerprint(sess),
		Remote:      remote,
		AltNick:     true,
	})
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "tertulia: %v\r\n", err)
		_ = sess.Exit(1)
		return
	}
	defer cs.Leave()
	if _, _, isPty := sess.Pty(); isPty {
		s.runTUI(sess, cs)
	} else {
		s.runLines(sess, cs)
	}
	_ = sess.Exit(0)
}

// awaitWriter waits for a session's writer to finish writing its queue; a
// writer stuck on a peer that does not read is abandoned after a grace
// period, at once for a session dropped as too slow (returning closes the
// channel, which unblocks it).
func (s *Server) awaitWriter(cs *room.Session, done <-chan struct{}) {
	if cs.CloseReason() == room.ReasonSlowClient {
		return
	}
	t := time.NewTimer(writerGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
