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
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/room"
)

// Defaults for the SSH limits.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxLine          = 16 << 10
	// DefaultSessionTimeout is how long an authenticated connection may take
	// to ask for a shell or a command.
	DefaultSessionTimeout = 10 * time.Second
	// DefaultKeepalive is how often idle peers are asked to answer, so
	// dead ones are found.
	DefaultKeepalive = 30 * time.Second
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
	sessionTimeout   time.Duration
	keepalive        time.Duration
	maxChannels      int
	limiter          *connlimit.Limiter
	proxyFrom        []netip.Prefix // nil: no PROXY protocol
	srv              *ssh.Server
	lineBufs         sync.Pool   // *[]byte, held only while a line-mode batch is written (writeLines)
	profileRows      profileRows // terminal rows in each colour profile (see screen)
	frameBufs        sync.Pool   // *[]byte, held only while a terminal frame is built and written (screen.draw)
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

// WithSessionTimeout bounds the time from the end of the handshake to the
// session's shell or exec request.
func WithSessionTimeout(d time.Duration) Option { return func(s *Server) { s.sessionTimeout = d } }

// WithKeepalive sets the keepalive interval (0: none). A peer that does not
// answer within one interval is disconnected.
func WithKeepalive(d time.Duration) Option { return func(s *Server) { s.keepalive = d } }

// WithMaxChannels caps the session channels one connection may have open at
// once; further ones are refused.
func WithMaxChannels(n int) Option { return func(s *Server) { s.maxChannels = n } }

// WithConnLimiter counts SSH connections per address against l, shared
// with the web front-end.
func WithConnLimiter(l *connlimit.Limiter) Option { return func(s *Server) { s.limiter = l } }

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
		sessionTimeout:   DefaultSessionTimeout,
		keepalive:        DefaultKeepalive,
		maxChannels:      DefaultMaxChannels,
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.hostKeys) == 0 {
		return nil, errors.New("sshchat: no host keys")
	}
	// The server as layers, outermost first: the connection before any SSH
	// work, the handshake, authentication, the channels, and the chat
	// session as a stack of wish middlewares.
	srv, err := wish.NewServer(
		ssh.WrapConn(s.admitConn),
		s.handshake(),
		// Any key is welcome: a key only identifies a user once the client
		// has proved it holds it, which is read from the session afterwards.
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		// Keyboard-interactive with no questions lets people without keys in
		// as guests.
		wish.WithKeyboardInteractiveAuth(func(ssh.Context, gossh.KeyboardInteractiveChallenge) bool { return true }),
		s.sessionChannels(),
		// wish.WithMiddleware makes the last middleware the outermost: a
		// session goes through these from the bottom up.
		wish.WithMiddleware(
			s.chat,
			s.keepAliveMiddleware,
			s.cutStuckWriter,
			s.connect,
			cutConnAfterSession,
		),
	)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Serve accepts SSH connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.proxyFrom != nil {
		ln = s.proxyListener(ln)
	}
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

// handshake sets the host keys (given here, so that wish generates no key
// of its own), bounds the handshake and counts the connections that fail
// before a session.
func (s *Server) handshake() ssh.Option {
	return func(srv *ssh.Server) error {
		for _, k := range s.hostKeys {
			srv.AddHostKey(k)
		}
		srv.HandshakeTimeout = s.handshakeTimeout
		srv.ConnectionFailedCallback = func(conn net.Conn, err error) {
			// Counted before it is logged: whoever reads the log line finds
			// the failure in the metrics too.
			if s.handshakeFailed != nil {
				s.handshakeFailed()
			}
			s.log.Info("ssh handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		}
		return nil
	}
}

// sessionChannels serves session channels through sessionChannel, which
// caps them and filters their requests; no other channel type is served.
func (s *Server) sessionChannels() ssh.Option {
	return func(srv *ssh.Server) error {
		srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannel}
		return nil
	}
}

// keyFingerprint is the SHA256 fingerprint of the key the client proved it
// holds, or "" when it authenticated without one. It reads the session, never
// what an auth callback was offered: a client may offer any public key.
func keyFingerprint(sess ssh.Session) string {
	if pk := sess.PublicKey(); pk != nil {
		return gossh.FingerprintSHA256(pk)
	}
	return ""
}

// admitConn refuses banned addresses and addresses over their connection
// cap before any SSH work, and closes connections that have not asked for
// a shell or command in time. Returning nil closes the connection.
func (s *Server) admitConn(ctx ssh.Context, conn net.Conn) net.Conn {
	host := connlimit.HostOf(conn.RemoteAddr().String())
	if s.hub.IsBannedAddr(host) {
		s.log.Info("ssh connection refused", "remote", host, "reason", "banned")
		return nil
	}
	release := func() {}
	if s.limiter != nil {
		r, err := s.limiter.Acquire(host)
		if err != nil {
			if s.handshakeFailed != nil {
				s.handshakeFailed()
			}
			s.log.Info("ssh connection refused", "remote", host, "reason", err)
			return nil
		}
		release = r
	}
	st := &connState{}
	ctx.SetValue(connStateKey{}, st)
	timer := time.AfterFunc(s.handshakeTimeout+s.sessionTimeout, func() {
		if !st.started.Load() {
			s.log.Info("ssh connection closed", "remote", host, "reason", "no session in time")
			conn.Close()
		}
	})
	return &countedConn{Conn: conn, release: func() { timer.Stop(); release() }}
}

// countedConn releases its connection-limit slot when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// keepAlive asks the peer to answer every interval and closes a connection
// that does not, until done is closed. It runs on a timer rather than in a
// goroutine of its own: a goroutine's stack for each of thousands of idle
// sessions, for a question asked twice a minute. The returned function stops
// it.
func (s *Server) keepAlive(sess ssh.Session, done <-chan struct{}) (stop func()) {
	conn, ok := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || s.keepalive <= 0 {
		return func() {}
	}
	// mu orders the timer's creation before its use by the probe it runs.
	var (
		mu sync.Mutex
		t  *time.Timer
	)
	probe := func() {
		select {
		case <-done:
			return
		default:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		wait := time.NewTimer(s.keepalive)
		defer wait.Stop()
		select {
		case err := <-answered:
			if err == nil {
				mu.Lock()
				t.Reset(s.keepalive)
				mu.Unlock()
				return
			}
		case <-wait.C:
		case <-done:
			return
		}
		s.log.Info("ssh peer did not answer keepalive", "remote", sess.RemoteAddr().String())
		conn.Close()
	}
	mu.Lock()
	t = time.AfterFunc(s.keepalive, probe)
	mu.Unlock()
	return func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
	}
}

// The chat session's middlewares, from the outermost in.

// cutConnAfterSession cuts what is left of the connection once its session
// is over, after a grace that lets the client close it first: a connection
// serves one chat session (see connState.grantShell).
func cutConnAfterSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if conn, _ := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn); conn != nil {
			defer func() { time.AfterFunc(writerGrace, func() { _ = conn.Close() }) }()
		}
		next(sess)
	}
}

// chatSessionKey holds the connection's *room.Session in its context, for
// the middlewares inside connect.
type chatSessionKey struct{}

func chatSessionOf(sess ssh.Session) *room.Session {
	cs, _ := sess.Context().Value(chatSessionKey{}).(*room.Session)
	return cs
}

// connect joins the hub as the SSH user, with the key the client proved it
// holds, and leaves when the middlewares inside return or the connection
// ends, whichever comes first. A refusal is written to stderr.
func (s *Server) connect(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		cs, err := s.hub.Connect(room.Identity{
			Nick:        room.SuggestNick(sess.User()),
			Via:         room.ViaSSH,
			Fingerprint: keyFingerprint(sess),
			Remote:      connlimit.HostOf(sess.RemoteAddr().String()),
			AltNick:     true,
			// An exec request is a one-shot command (oneshot.go): the
			// rooms see no one come or go.
			OneShot: sess.RawCommand() != "",
			Bot:     wantsBot(sess),
		})
		if err != nil {
			fmt.Fprintf(sess.Stderr(), "tertulia: %v\r\n", err)
			_ = sess.Exit(1)
			return
		}
		defer cs.Leave()
		// The session leaves as soon as its connection ends, whatever its
		// writer is doing: nothing here waits on the terminal to notice.
		defer context.AfterFunc(sess.Context(), func() { cs.Close(room.ReasonClosed) })()
		sess.Context().SetValue(chatSessionKey{}, cs)
		next(sess)
	}
}

// BotEnv is the environment variable a line-mode client sets to say it is
// a program (ssh -T -o SetEnv=TERTULIA_BOT=1): as a websocket hello's
// "bot": true, no message of the day, no history replayed on joining,
// shown as a bot to others. Ignored with a terminal.
const BotEnv = "TERTULIA_BOT"

// wantsBot says whether a session without a terminal set BotEnv to 1,
// true or yes.
func wantsBot(sess ssh.Session) bool {
	if _, _, pty := sess.Pty(); pty {
		return false
	}
	for _, kv := range sess.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k == BotEnv {
			switch strings.ToLower(v) {
			case "1", "true", "yes":
				return true
			}
		}
	}
	return false
}

// cutStuckWriter cuts the connection of a session that ended (quit,
// kicked, dropped, server stopping) while its writer is stuck on a peer
// that does not read, which would otherwise hold its goroutines for as long
// as the peer likes: once the writer has had its grace, the connection is
// closed, which unblocks every write on it.
func (s *Server) cutStuckWriter(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		cs := chatSessionOf(sess)
		conn, _ := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
		remote := connlimit.HostOf(sess.RemoteAddr().String())
		var finished atomic.Bool
		defer finished.Store(true)
		cs.OnClose(func(room.CloseReason) {
			time.AfterFunc(2*writerGrace, func() {
				if !finished.Load() && conn != nil {
					s.log.Info("ssh connection cut", "nick", cs.Nick(), "remote", remote, "reason", "writer stuck after the session ended")
					_ = conn.Close()
				}
			})
		})
		next(sess)
	}
}

// keepAliveMiddleware asks an idle peer to answer for as long as the
// session lasts (see keepAlive).
func (s *Server) keepAliveMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		defer s.keepAlive(sess, chatSessionOf(sess).Done())()
		next(sess)
	}
}

// chat serves the session: the full-screen interface with a PTY, line mode
// without. It is the innermost handler: next is wish's no-op.
func (s *Server) chat(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		cs := chatSessionOf(sess)
		if sess.RawCommand() != "" {
			status := s.runOneShot(sess, cs)
			cs.Leave()
			_ = sess.Exit(status)
			return
		}
		if _, _, isPty := sess.Pty(); isPty {
			s.runTUI(sess, cs)
		} else {
			s.runLines(sess, cs)
		}
		// Out of its rooms and its nick free before the client sees the
		// end: whoever takes the nick next must not find it still held.
		cs.Leave()
		_ = sess.Exit(0)
	}
}

// awaitWriter waits for a session's writer to finish writing its queue; a
// writer stuck on a peer that does not read is abandoned after a grace
// period, at once for a session dropped as too slow (returning closes the
// channel, which unblocks it).
func (s *Server) awaitWriter(cs *room.Session, done <-chan struct{}) {
	if cs.CloseReason().DropsQueue() {
		return
	}
	t := time.NewTimer(writerGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
