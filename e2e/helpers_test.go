// Package e2e runs whole Tertulia servers and talks to them the way users
// and bots do: x/crypto/ssh clients, the OpenSSH client in tmux, websocket
// clients and, for the page, headless Chromium.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/gorilla/websocket"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/wire"
)

// waitTimeout bounds every wait for an event; tests never sleep to
// synchronise, they wait for what they expect or fail after this.
const waitTimeout = 15 * time.Second

type server struct {
	SSHAddr  string
	HTTPAddr string
	cfg      app.Config
	Stop     func() // stops the server and waits for it
}

// startServer runs a whole server in this process on free loopback ports
// and stops it when the test ends.
func startServer(t testing.TB, mutate ...func(*app.Config)) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), mutate...)
}

// startServerIn runs a server whose host keys and data live in dir, so a
// second server in the same dir is a restart. It returns a stop function
// through the server's Stop field.
func startServerIn(t testing.TB, dir string, mutate ...func(*app.Config)) *server {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Listen.SSH, cfg.Listen.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Files.HostKeyDir, cfg.Files.DataDir = dir+"/hostkeys", dir+"/data"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Tests send as fast as they can; the limits have tests of their own.
	cfg.Room.RateBurst, cfg.Room.RatePerSecond = 1<<20, 1<<20
	// All test clients share 127.0.0.1.
	cfg.Conns.PerAddr, cfg.Conns.Rate, cfg.Room.RoomCreateBurst = -1, -1, -1
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, func(a app.Addrs) { ready <- a }) }()
	var addrs app.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(waitTimeout):
		cancel()
		t.Fatal("server did not start in time")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("server did not stop in time")
			}
		})
	}
	t.Cleanup(stop)
	return &server{SSHAddr: addrs.SSH.String(), HTTPAddr: addrs.HTTP.String(), cfg: cfg, Stop: stop}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// --- SSH line mode -----------------------------------------------------

// lineClient is a chatclient.Line whose output lines a goroutine collects,
// so that tests wait for the line they expect.
type lineClient struct {
	t      testing.TB
	line   *chatclient.Line
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	lines  chan string
	closed chan struct{}
}

func guestAuth() []gossh.AuthMethod { return chatclient.GuestAuth() }

func dialSSH(t testing.TB, addr, user string, auth []gossh.AuthMethod) *gossh.Client {
	t.Helper()
	return dialSSHFrom(t, "", addr, user, auth)
}

// dialSSHFrom dials from a chosen loopback source address (e.g. 127.0.0.5),
// so tests can play clients at different addresses.
func dialSSHFrom(t testing.TB, local, addr, user string, auth []gossh.AuthMethod) *gossh.Client {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := chatclient.DialSSH(ctx, &d, addr, &gossh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         waitTimeout,
	})
	if err != nil {
		t.Fatalf("ssh dial as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newLineClient opens a session without a PTY (line mode) and collects its
// output lines.
func newLineClient(t testing.TB, addr, user string, auth ...gossh.AuthMethod) *lineClient {
	t.Helper()
	return newLineClientFrom(t, "", addr, user, auth...)
}

func newLineClientFrom(t testing.TB, local, addr, user string, auth ...gossh.AuthMethod) *lineClient {
	t.Helper()
	return newLineClientInspecting(t, local, addr, user, nil, auth...)
}

// newLineClientInspecting is newLineClientFrom with every output line also
// given to inspect.
func newLineClientInspecting(t testing.TB, local, addr, user string, inspect func(string), auth ...gossh.AuthMethod) *lineClient {
	t.Helper()
	if len(auth) == 0 {
		auth = guestAuth()
	}
	l, err := chatclient.OpenLine(dialSSHFrom(t, local, addr, user, auth))
	if err != nil {
		t.Fatal(err)
	}
	lc := &lineClient{t: t, line: l, client: l.Client, sess: l.Session, stdin: l.Stdin, lines: make(chan string, 100000), closed: make(chan struct{})}
	go func() {
		defer close(lc.closed)
		for {
			s, err := l.NextLine()
			if err == nil || s != "" {
				if inspect != nil {
					inspect(s)
				}
				lc.lines <- s
			}
			if err != nil {
				return
			}
		}
	}()
	return lc
}

func (lc *lineClient) send(text string) {
	lc.t.Helper()
	if err := lc.line.Send(text); err != nil {
		lc.t.Fatalf("ssh send: %v", err)
	}
}

// expect waits for a line containing want and returns it; lines before it
// are skipped.
func (lc *lineClient) expect(want string) string {
	lc.t.Helper()
	return lc.expectFunc(want, func(l string) bool { return strings.Contains(l, want) })
}

func (lc *lineClient) expectFunc(what string, ok func(string) bool) string {
	lc.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case l := <-lc.lines:
			if ok(l) {
				return l
			}
		case <-lc.closed:
			// drain anything scanned before the close
			select {
			case l := <-lc.lines:
				if ok(l) {
					return l
				}
				continue
			default:
			}
			lc.t.Fatalf("ssh output ended before %q", what)
		case <-timer.C:
			lc.t.Fatalf("timed out waiting for ssh line %q", what)
		}
	}
}

// --- websocket ----------------------------------------------------------

// frame is a server frame as the tests read it: wire.Frame, with members
// shown as nick and front-end only.
type frame struct {
	wire.Frame
	Members []memberFrame `json:"members"`
}

type memberFrame struct {
	Nick string `json:"nick"`
	Via  string `json:"via"`
}

// wsClient is a chatclient.WS whose frames a goroutine collects, so that
// tests wait for the frame they expect.
type wsClient struct {
	t      testing.TB
	ws     *chatclient.WS
	conn   *websocket.Conn
	frames chan *frame // pointers: a frame is 700 bytes, and the buffer is allocated whole
	closed chan struct{}
	mu     sync.Mutex
	err    error
}

func dialWS(t testing.TB, httpAddr string, header http.Header, dialer *websocket.Dialer) (*websocket.Conn, *http.Response, error) {
	if dialer == nil {
		dialer = &websocket.Dialer{HandshakeTimeout: waitTimeout}
	}
	ws, resp, err := chatclient.DialWS(context.Background(), dialer, "ws://"+httpAddr+"/ws", header)
	if err != nil {
		return nil, resp, err
	}
	return ws.Conn, resp, nil
}

// newWSClient connects and reads frames in the background.
func newWSClient(t testing.TB, httpAddr string) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, httpAddr, nil, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	return wrapWS(t, conn)
}

func wrapWS(t testing.TB, conn *websocket.Conn) *wsClient {
	return wrapWSInspecting(t, conn, nil)
}

// wrapWSInspecting is wrapWS with every frame's bytes also given to inspect,
// which then judges frames that are not JSON too.
func wrapWSInspecting(t testing.TB, conn *websocket.Conn, inspect func([]byte)) *wsClient {
	ws := chatclient.NewWS(conn)
	wc := &wsClient{t: t, ws: ws, conn: conn, frames: make(chan *frame, 100000), closed: make(chan struct{})}
	t.Cleanup(func() { conn.Close() })
	go func() {
		defer close(wc.closed)
		for {
			data, err := ws.NextRaw()
			if err != nil {
				wc.mu.Lock()
				wc.err = err
				wc.mu.Unlock()
				return
			}
			data = bytes.Clone(data)
			if inspect != nil {
				inspect(data)
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil && inspect == nil {
				t.Errorf("server sent a frame that is not JSON: %q", data)
				continue
			}
			f.Raw = data
			wc.frames <- &f
		}
	}()
	return wc
}

// joinWS connects as nick and waits for the welcome.
func joinWS(t testing.TB, httpAddr, nick string) *wsClient {
	t.Helper()
	wc := newWSClient(t, httpAddr)
	if err := wc.ws.Hello(nick); err != nil {
		t.Fatalf("websocket send: %v", err)
	}
	wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	return wc
}

func (wc *wsClient) sendJSON(v any) {
	wc.t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = wc.ws.SendRaw(b)
	}
	if err != nil {
		wc.t.Fatalf("websocket send: %v", err)
	}
}

func (wc *wsClient) say(text string) {
	wc.t.Helper()
	if err := wc.ws.Say("lobby", text); err != nil {
		wc.t.Fatalf("websocket send: %v", err)
	}
}

// expect waits for a frame matching ok, skipping others.
func (wc *wsClient) expect(what string, ok func(frame) bool) frame {
	wc.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case f := <-wc.frames:
			if ok(*f) {
				return *f
			}
		case <-wc.closed:
			select {
			case f := <-wc.frames:
				if ok(*f) {
					return *f
				}
				continue
			default:
			}
			wc.t.Fatalf("websocket closed (%v) before %s", wc.closeErr(), what)
		case <-timer.C:
			wc.t.Fatalf("timed out waiting for frame: %s", what)
		}
	}
}

func (wc *wsClient) closeErr() error {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.err
}

func isMessage(from, text string) func(frame) bool {
	return func(f frame) bool { return f.Type == "message" && f.From == from && f.Text == text }
}

// --- SSH with a PTY -----------------------------------------------------

// ptyClient is an SSH session with a PTY whose output drives a terminal
// emulator, so tests read the screen a user would see.
type ptyClient struct {
	t     testing.TB
	sess  *gossh.Session
	stdin io.WriteCloser
	mu    sync.Mutex
	emu   *vt.Emulator
	wake  chan struct{}
	bells atomic.Int32
}

func newPTYClient(t testing.TB, addr, user string, width, height int) *ptyClient {
	t.Helper()
	c := dialSSH(t, addr, user, guestAuth())
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", height, width, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	pc := &ptyClient{t: t, sess: sess, stdin: stdin, emu: vt.NewEmulator(width, height), wake: make(chan struct{}, 1)}
	pc.emu.SetCallbacks(vt.Callbacks{Bell: func() { pc.bells.Add(1) }})
	// The emulator answers terminal queries the way a real terminal would.
	go func() { _, _ = io.Copy(stdin, pc.emu) }()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				pc.mu.Lock()
				_, _ = pc.emu.Write(buf[:n])
				pc.mu.Unlock()
				select {
				case pc.wake <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { sess.Close() })
	return pc
}

func (pc *ptyClient) screen() string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.emu.String()
}

// waitScreen waits until the screen contains every want.
func (pc *ptyClient) waitScreen(want ...string) string {
	pc.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s := pc.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		select {
		case <-pc.wake:
		case <-timer.C:
			pc.t.Fatalf("screen never showed %q; screen:\n%s", missing, s)
		}
	}
}

// key sends raw key bytes (e.g. "\x0e" for Ctrl-N, "\x1b[5~" for PgUp).
func (pc *ptyClient) key(b string) {
	pc.t.Helper()
	if _, err := io.WriteString(pc.stdin, b); err != nil {
		pc.t.Fatal(err)
	}
}

func (pc *ptyClient) typeLine(s string) {
	pc.t.Helper()
	if _, err := io.WriteString(pc.stdin, s+"\r"); err != nil {
		pc.t.Fatal(err)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if handedPorts.take(addr) {
			return addr
		}
	}
}

// portLedger remembers the addresses freePort handed out in this test
// process: the kernel may give a closed port again at once, and two
// servers of one test were once given the same route port (NATS refused
// its configuration: "Duplicate route entry detected").
type portLedger struct {
	mu    sync.Mutex
	taken map[string]bool
}

var handedPorts = &portLedger{taken: make(map[string]bool)}

// take reports whether addr was not handed out before, and marks it.
func (l *portLedger) take(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.taken[addr] {
		return false
	}
	l.taken[addr] = true
	return true
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// sshRefused connects and expects the server to end the session at once
// with an error; it returns what the server said.
func sshRefused(t testing.TB, local, addr, user string, auth ...gossh.AuthMethod) string {
	t.Helper()
	if len(auth) == 0 {
		auth = guestAuth()
	}
	c := dialSSHFrom(t, local, addr, user, auth)
	sess, err := c.NewSession()
	must(t, err)
	var out lockedBuffer
	sess.Stdout, sess.Stderr = &out, &out
	_, _ = sess.StdinPipe()
	must(t, sess.Shell())
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("session as %s from %s was not refused", user, local)
	}
	if err == nil {
		t.Fatalf("session as %s from %s ended cleanly; output: %s", user, local, out.String())
	}
	return out.String()
}

// sshDialRefused expects the server to close a connection from local before
// the SSH handshake completes.
func sshDialRefused(t testing.TB, local, addr string) {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer conn.Close()
	_, _, _, err = gossh.NewClientConn(conn, addr, &gossh.ClientConfig{User: "x", Auth: guestAuth(), HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitTimeout})
	if err == nil {
		t.Fatalf("SSH handshake from %s succeeded; it should have been refused", local)
	}
}

// wsDialStatusFrom tries a websocket from local and returns the HTTP status
// of a refused upgrade (0 if it was accepted).
func wsDialStatusFrom(t testing.TB, local, httpAddr string) int {
	t.Helper()
	d := &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return nd.Dial(network, addr)
	}}
	conn, resp, err := dialWS(t, httpAddr, nil, d)
	if err == nil {
		conn.Close()
		return 0
	}
	if resp == nil {
		t.Fatalf("websocket from %s: %v", local, err)
	}
	return resp.StatusCode
}

// dialWSFrom opens a websocket from a chosen loopback source address.
func dialWSFrom(t testing.TB, local, httpAddr string) *wsClient {
	t.Helper()
	d := &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return nd.Dial(network, addr)
	}}
	conn, _, err := dialWS(t, httpAddr, nil, d)
	if err != nil {
		t.Fatalf("websocket dial from %s: %v", local, err)
	}
	return wrapWS(t, conn)
}

// lockedBuffer collects stdout and stderr, written from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- a network that misbehaves ---------------------------------------------

// netProxy is a TCP proxy in front of a server whose network a test breaks
// on purpose: Stall stops every byte both ways (a tunnel, a sleeping NAT:
// connections stay open, new ones are accepted, nothing arrives) until
// Resume; StallReplies stops only what the server sends; Cut closes every
// connection through it.
type netProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu     sync.Mutex
	resume chan struct{} // non-nil while stalled; closed by Resume
	// repliesOnly: the stall holds only the server's bytes.
	repliesOnly bool
	conns       map[net.Conn]struct{}
	closed      bool
}

func newNetProxy(t testing.TB, target string) *netProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &netProxy{t: t, ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Resume()
		p.Cut()
	})
	return p
}

// Addr is where clients connect instead of the server.
func (p *netProxy) Addr() string { return p.ln.Addr().String() }

func (p *netProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(server, client, false)
		go p.pipe(client, server, true)
	}
}

// pipe copies src to dst, holding what it read while the proxy is stalled;
// reply: src is the server.
func (p *netProxy) pipe(dst, src net.Conn, reply bool) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			stalled := p.resume
			if p.repliesOnly && !reply {
				stalled = nil
			}
			p.mu.Unlock()
			if stalled != nil {
				<-stalled
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stall holds every byte, both ways, on every connection until Resume.
func (p *netProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// StallReplies holds every byte the server sends, on every connection,
// until Resume; what clients send still gets through.
func (p *netProxy) StallReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
	p.repliesOnly = true
}

// Resume lets held and new bytes through again.
func (p *netProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repliesOnly = false
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

// Cut closes every connection through the proxy, both ends.
func (p *netProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
