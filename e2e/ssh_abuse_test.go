package e2e

// SSH requests that OpenSSH never sends, sent raw with
// golang.org/x/crypto/ssh: huge terminal sizes, env floods, many session
// channels, stalled terminals and forwarding requests. The memory attacks
// run against the server binary in a process of its own, whose resident
// memory (/proc/PID/status) is the server's alone.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

const (
	// memoryBudget is what one attack may add to the resident memory.
	memoryBudget = 100 << 20
	// memoryRunaway kills the server: without the fixes these attacks take
	// gigabytes within seconds, and the host with them.
	memoryRunaway = 2 << 30
	// settledSlack is how far above its baseline the memory may stay once
	// the attacker has left ("near its baseline").
	settledSlack = 32 << 20
	// goroutineSlack allows for goroutines that come and go on their own
	// (timers' callbacks, the store's background work).
	goroutineSlack = 3
)

// residentOf is process pid's VmRSS.
func residentOf(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// memoryWatch samples a server process's resident memory during an
// attack, keeps its peak and closes over once it passes
// baseline+memoryBudget, so that the attack can stop at once; past
// memoryRunaway it kills the server rather than let it take the host.
// The server runs as its own process (the binary, without the race
// detector), so the figures are the server's alone: not the test's
// clients, not other tests' servers, not the race detector's shadow.
type memoryWatch struct {
	pid  int
	base int64
	over chan struct{}
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int64
}

func watchMemory(t testing.TB, p *process) *memoryWatch {
	t.Helper()
	pid := p.cmd.Process.Pid
	base, err := residentOf(pid)
	must(t, err)
	w := &memoryWatch{pid: pid, base: base, peak: base, over: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		exceeded := false
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			rss, err := residentOf(pid)
			if err != nil {
				return // the process is gone
			}
			w.mu.Lock()
			w.peak = max(w.peak, rss)
			w.mu.Unlock()
			if rss > w.base+memoryBudget && !exceeded {
				exceeded = true
				close(w.over)
			}
			if rss > w.base+memoryRunaway {
				_ = p.cmd.Process.Kill()
			}
		}
	}()
	t.Cleanup(w.finish)
	return w
}

// exceeded reports whether the budget was passed (without waiting).
func (w *memoryWatch) exceeded() bool {
	select {
	case <-w.over:
		return true
	default:
		return false
	}
}

func (w *memoryWatch) finish() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// report stops sampling, logs baseline, peak and settled figures and fails
// when the peak passed the budget or the memory did not come back.
func (w *memoryWatch) report(t testing.TB, what string) {
	t.Helper()
	w.finish()
	// The server lets go of the attacker's connection, and Go returns
	// freed memory to the system, on their own time: wait (bounded) for
	// the memory to come back.
	after, err := residentOf(w.pid)
	must(t, err)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(2 * waitTimeout); after > w.base+settledSlack && time.Now().Before(deadline); {
		<-tick.C
		after, err = residentOf(w.pid)
		must(t, err)
	}
	w.mu.Lock()
	peak := w.peak
	w.mu.Unlock()
	t.Logf("%s: server resident memory baseline %.1f MB, peak %.1f MB (+%.1f MB), after %.1f MB (+%.1f MB)",
		what, mb(w.base), mb(peak), mb(peak-w.base), mb(after), mb(after-w.base))
	if peak > w.base+memoryBudget {
		t.Errorf("%s: resident memory grew by %.1f MB, more than %d MB", what, mb(peak-w.base), memoryBudget>>20)
	}
	if after > w.base+settledSlack {
		t.Errorf("%s: resident memory stayed %.1f MB above its baseline after the attacker left", what, mb(after-w.base))
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// awaitGoroutines waits until the process is back to at most base+slack
// goroutines, and fails with a dump of them otherwise.
func awaitGoroutines(t testing.TB, what string, base int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > base+goroutineSlack {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %d goroutines, baseline %d; still running:\n%s", what, runtime.NumGoroutine(), base, buf)
		}
		<-tick.C
	}
	t.Logf("%s: %d goroutines (baseline %d)", what, runtime.NumGoroutine(), base)
}

// rawChannel opens a session channel and answers nothing the server asks
// on it (exit-status and the like).
func rawChannel(t testing.TB, c *gossh.Client) (gossh.Channel, <-chan struct{}, error) {
	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		return nil, nil, err
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		gossh.DiscardRequests(reqs)
	}()
	return ch, closed, nil
}

func mustRawChannel(t testing.TB, c *gossh.Client) (gossh.Channel, <-chan struct{}) {
	t.Helper()
	ch, closed, err := rawChannel(t, c)
	must(t, err)
	return ch, closed
}

func ptyRequest(term string, cols, rows uint32) []byte {
	return gossh.Marshal(struct {
		Term              string
		Columns, Rows     uint32
		WidthPx, HeightPx uint32
		Modes             string
	}{term, cols, rows, 0, 0, "\x00"})
}

func windowChange(cols, rows uint32) []byte {
	return gossh.Marshal(struct{ Columns, Rows, WidthPx, HeightPx uint32 }{cols, rows, 0, 0})
}

func envRequest(key string, valueLen int) []byte {
	return gossh.Marshal(struct{ Key, Value string }{key, strings.Repeat("v", valueLen)})
}

// request sends a channel request asking for a reply and fails the test
// if the channel is gone or no reply comes.
func request(t testing.TB, ch gossh.Channel, name string, payload []byte) bool {
	t.Helper()
	type reply struct {
		ok  bool
		err error
	}
	replied := make(chan reply, 1)
	go func() {
		ok, err := ch.SendRequest(name, true, payload)
		replied <- reply{ok, err}
	}()
	select {
	case r := <-replied:
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		return r.ok
	case <-time.After(waitTimeout):
		t.Fatalf("%s: no reply", name)
		return false
	}
}

// bounded runs send (a flood of requests) and fails the test, closing the
// client, if it does not finish in time: a server that stops reading the
// connection leaves the client's writes blocked.
func bounded(t testing.TB, c *gossh.Client, what string, send func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- send() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(waitTimeout):
		c.Close()
		t.Fatalf("%s: the server stopped reading the connection", what)
	}
}

// readUntil reads r until its output contains want, or the memory watch
// sees the budget passed (then it returns false at once).
func readUntil(t testing.TB, r io.Reader, want string, w *memoryWatch) bool {
	t.Helper()
	found := make(chan struct{})
	go func() {
		var seen bytes.Buffer
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			seen.Write(buf[:n])
			if bytes.Contains(seen.Bytes(), []byte(want)) {
				close(found)
				_, _ = io.Copy(io.Discard, r)
				return
			}
			if seen.Len() > 1<<20 {
				seen.Next(seen.Len() - len(want))
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-found:
		return true
	case <-w.over:
		return false
	case <-time.After(waitTimeout):
		t.Fatalf("the terminal never showed %q", want)
		return false
	}
}

// A pty-req claiming a terminal 2^32-1 columns or rows wide once took the
// server to 12.6 GB. The sizes are clamped: the session works, memory stays
// within budget and comes back, and the session ends with its connection.
func TestHugePTYIsClamped(t *testing.T) {
	srv := startProcess(t, t.TempDir())
	observer := newLineClient(t, srv.SSHAddr, "observer")
	observer.expect("welcome observer")
	const huge = 1<<32 - 1
	for _, tc := range []struct {
		name       string
		cols, rows uint32
	}{{"width", huge, 24}, {"height", 80, huge}, {"both", huge, huge}, {"zero", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			w := watchMemory(t, srv)
			c := dialSSH(t, srv.SSHAddr, "huge", guestAuth())
			ch, _ := mustRawChannel(t, c)
			if !request(t, ch, "pty-req", ptyRequest("xterm-256color", tc.cols, tc.rows)) {
				t.Fatal("pty-req refused; it should be clamped")
			}
			if !request(t, ch, "shell", nil) {
				t.Fatal("shell refused")
			}
			observer.expect("--> huge joined")
			// The frame is drawn (and read) before the attacker leaves.
			if !readUntil(t, ch, "Welcome to Tertulia", w) {
				t.Fatalf("resident memory passed its budget while drawing the first frame")
			}
			// Window changes to the same sizes, drawn too.
			bounded(t, c, "window changes", func() error {
				for range 10 {
					if _, err := ch.SendRequest("window-change", false, windowChange(tc.cols, tc.rows)); err != nil {
						return err
					}
					if _, err := ch.SendRequest("window-change", false, windowChange(tc.rows, tc.cols)); err != nil {
						return err
					}
				}
				return nil
			})
			if w.exceeded() {
				t.Fatalf("resident memory passed its budget after window changes")
			}
			observer.send("/who")
			observer.expect("#lobby members (2)")
			c.Close()
			observer.expect("<-- huge left")
			w.report(t, "huge PTY "+tc.name)
		})
	}
}

// Every env request was once kept, so 2.4 GB of them on one channel took
// the server to 3.9 GB; after a shell on a first channel, a second channel
// could go on for ever. A channel may now set a few small variables before
// its shell and no more.
func TestEnvFloodIsBounded(t *testing.T) {
	srv := startProcess(t, t.TempDir(), "--ssh-session-timeout", "3s")
	observer := newLineClient(t, srv.SSHAddr, "observer")
	observer.expect("welcome observer")
	const (
		floods   = 2000      // requests per flood
		bigValue = 200 << 10 // bytes per request
	)

	// flood sends n env requests without waiting for replies, then one that
	// asks for a reply so that the server has seen them all. It stops early
	// if the memory budget is passed; a channel closed by the server ends
	// it too.
	flood := func(t *testing.T, ch gossh.Channel, n, size int, w *memoryWatch) (sent int) {
		payload := envRequest("FLOOD", size)
		for sent = 0; sent < n && !w.exceeded(); sent++ {
			if _, err := ch.SendRequest("env", false, payload); err != nil {
				t.Logf("the server closed the channel after %d env requests: %v", sent, err)
				return sent
			}
		}
		if ok, err := ch.SendRequest("env", true, payload); err == nil && ok {
			t.Errorf("an env request of %d bytes was accepted after %d others", size, sent)
		}
		return sent
	}

	t.Run("before shell", func(t *testing.T) {
		w := watchMemory(t, srv)
		c := dialSSH(t, srv.SSHAddr, "envbot", guestAuth())
		ch, _ := mustRawChannel(t, c)
		// A few small variables are taken (OpenSSH's SendEnv LANG LC_*),
		// then no more.
		accepted := 0
		for i := range 100 {
			if request(t, ch, "env", envRequest(fmt.Sprintf("LC_%d", i), 20)) {
				accepted++
			}
		}
		if accepted == 0 || accepted > 16 {
			t.Errorf("%d of 100 small env requests accepted, want 1 to 16", accepted)
		}
		sent := flood(t, ch, floods, bigValue, w)
		t.Logf("%d env requests of %d kB sent before any shell", sent, bigValue>>10)
		c.Close()
		w.report(t, "env flood before shell")
	})

	t.Run("second channel after shell", func(t *testing.T) {
		w := watchMemory(t, srv)
		c := dialSSH(t, srv.SSHAddr, "envbot2", guestAuth())
		first, _ := mustRawChannel(t, c)
		if !request(t, first, "shell", nil) {
			t.Fatal("shell refused")
		}
		go func() { _, _ = io.Copy(io.Discard, first) }()
		observer.expect("--> envbot2 joined")
		second, closed := mustRawChannel(t, c)
		sent := flood(t, second, floods, bigValue, w)
		// The second channel never gets a shell, so it is closed after the
		// session timeout.
		select {
		case <-closed:
		case <-time.After(waitTimeout):
			t.Error("a channel without a shell was not closed after the session timeout")
		}
		// After the shell, env is refused on the first channel too.
		if ok, err := first.SendRequest("env", true, envRequest("LANG", 10)); err == nil && ok {
			t.Error("env accepted after the shell")
		}
		t.Logf("%d env requests of %d kB sent on a second channel", sent, bigValue>>10)
		c.Close()
		observer.expect("<-- envbot2 left")
		w.report(t, "env flood on a second channel")
	})
}

// Each session channel once became a chat session of its own, 300 of them
// over one connection past every connection cap. A connection now has one
// chat session, ever; it may have --ssh-max-channels channels open, and one
// that asks for no shell is closed after the session timeout.
func TestOneChatSessionPerConnection(t *testing.T) {
	const maxChannels = 4
	// The default --ssh-max-channels: the binary of 55d4c02, which has no
	// such flag, runs this test too and fails it for what it does.
	srv := startProcess(t, t.TempDir(), "--ssh-session-timeout", "2s")
	observer := newLineClient(t, srv.SSHAddr, "observer")
	observer.expect("welcome observer")

	t.Run("300 shells", func(t *testing.T) {
		w := watchMemory(t, srv)
		c := dialSSH(t, srv.SSHAddr, "capbot", guestAuth())
		shells, opened, rejected := 0, 0, 0
		for range 300 {
			ch, _, err := rawChannel(t, c)
			if err != nil {
				if !strings.Contains(err.Error(), "resource shortage") {
					t.Fatalf("channel open: %v", err)
				}
				rejected++
				continue
			}
			opened++
			if ok, _ := ch.SendRequest("shell", true, nil); ok {
				shells++
				go func() { _, _ = io.Copy(io.Discard, ch) }()
			}
		}
		t.Logf("300 shells asked on one connection: %d channels opened, %d refused, %d shells granted", opened, rejected, shells)
		observer.expect("--> capbot joined")
		if shells != 1 {
			t.Errorf("%d shells granted on one connection, want 1", shells)
		}
		if opened > maxChannels {
			t.Errorf("%d channels open at once on one connection, want at most %d", opened, maxChannels)
		}
		observer.send("/who")
		line := observer.expect("#lobby members (")
		if !strings.HasPrefix(line, "#lobby members (2): ") || strings.Contains(line, "capbot_") {
			t.Errorf("members: %s", line)
		}
		c.Close()
		observer.expect("<-- capbot left")
		w.report(t, "300 shells on one connection")
	})

	t.Run("idle channels", func(t *testing.T) {
		w := watchMemory(t, srv)
		c := dialSSH(t, srv.SSHAddr, "idlebot", guestAuth())
		shell, _ := mustRawChannel(t, c)
		if !request(t, shell, "shell", nil) {
			t.Fatal("shell refused")
		}
		go func() { _, _ = io.Copy(io.Discard, shell) }()
		var idle []<-chan struct{}
		for range 2000 {
			if _, closed, err := rawChannel(t, c); err == nil {
				idle = append(idle, closed)
			}
		}
		if len(idle) > maxChannels-1 {
			t.Errorf("%d idle channels held beside the shell, want at most %d", len(idle), maxChannels-1)
		}
		for i, closed := range idle {
			select {
			case <-closed:
			case <-time.After(waitTimeout):
				t.Fatalf("idle channel %d was not closed after the session timeout", i)
			}
		}
		// Their places are free again (the server counts a channel out
		// once its handler has returned, just after the client sees it
		// closed), and still no second shell.
		var ch gossh.Channel
		for deadline := time.Now().Add(waitTimeout); ch == nil; {
			var err error
			if ch, _, err = rawChannel(t, c); err != nil {
				if time.Now().After(deadline) {
					t.Fatalf("no channel could be opened once the idle ones were closed: %v", err)
				}
				ch = nil
				runtime.Gosched()
			}
		}
		if ok, _ := ch.SendRequest("shell", true, nil); ok {
			t.Error("a second shell was granted")
		}
		t.Logf("2000 idle channels asked: %d held until the session timeout", len(idle))
		c.Close()
		w.report(t, "idle channels")
	})

	t.Run("session churn", func(t *testing.T) {
		c := dialSSH(t, srv.SSHAddr, "churnbot", guestAuth())
		ch, closed := mustRawChannel(t, c)
		if !request(t, ch, "shell", nil) {
			t.Fatal("shell refused")
		}
		go func() { _, _ = io.Copy(io.Discard, ch) }()
		observer.expect("--> churnbot joined")
		ch.Close()
		<-closed
		observer.expect("<-- churnbot left")
		for i := range 5 {
			ch, _, err := rawChannel(t, c)
			if err != nil {
				t.Logf("session %d refused at the channel open: %v", i+2, err)
				continue
			}
			if ok, _ := ch.SendRequest("shell", true, nil); ok {
				t.Fatalf("session %d granted on a connection whose session had ended", i+2)
			}
		}
		observer.send("/who")
		if line := observer.expect("#lobby members ("); !strings.HasPrefix(line, "#lobby members (1): ") {
			t.Errorf("members: %s", line)
		}
	})
}

// ghostClient is a PTY session opened with raw requests.
func ghostClient(t *testing.T, addr, user string, cols, rows uint32) (*gossh.Client, gossh.Channel) {
	t.Helper()
	c := dialSSH(t, addr, user, guestAuth())
	ch, _ := mustRawChannel(t, c)
	if !request(t, ch, "pty-req", ptyRequest("xterm-256color", cols, rows)) {
		t.Fatal("pty-req refused")
	}
	if !request(t, ch, "shell", nil) {
		t.Fatal("shell refused")
	}
	return c, ch
}

// A PTY session that stopped reading and flooded window changes stalled the
// connection's request loop, so its closing was never noticed and the nick
// stayed in the room with 12 goroutines. It now leaves as soon as the
// connection ends, and everything it held goes.
func TestGhostSessionsLeave(t *testing.T) {
	srv := startServer(t)
	observer := newLineClient(t, srv.SSHAddr, "observer")
	observer.expect("welcome observer")
	for _, tc := range []struct {
		name, nick string
		reads      bool
		changes    int
	}{{"never reads", "ghost", false, 5000}, {"reads", "spook", true, 20000}} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			c, ch := ghostClient(t, srv.SSHAddr, tc.nick, 200, 60)
			observer.expect("--> " + tc.nick + " joined")
			if tc.reads {
				go func() { _, _ = io.Copy(io.Discard, ch) }()
			}
			// Every size differs from the last, so each would be a redraw.
			bounded(t, c, "window-change flood", func() error {
				for i := range tc.changes {
					if _, err := ch.SendRequest("window-change", false, windowChange(uint32(150+i%100), uint32(40+i%30))); err != nil {
						return err
					}
				}
				return nil
			})
			// A request that asks for a reply: the server has read the flood.
			request(t, ch, "keepalive@openssh.com", nil)
			c.Close()
			start := time.Now()
			observer.expect("<-- " + tc.nick + " left")
			t.Logf("the ghost left %v after its connection closed", time.Since(start).Round(time.Millisecond))
			observer.send("/who")
			if line := observer.expect("#lobby members ("); !strings.HasPrefix(line, "#lobby members (1): ") {
				t.Errorf("members: %s", line)
			}
			awaitGoroutines(t, "after the ghost's connection closed", base)
		})
	}
}

// /kick of a session whose writer is stuck on a peer that does not read
// frees what it held, goroutines included, although the peer keeps its
// connection open.
func TestKickFreesStuckSession(t *testing.T) {
	dir := t.TempDir()
	admins := filepath.Join(dir, "admins")
	bossKey := newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	// A queue long enough that the stuck session is not dropped as too slow
	// before the kick.
	srv := startServerIn(t, dir, func(c *app.Config) { c.Files.Admins = admins; c.Room.QueueSize = 1 << 14 })
	boss := newLineClient(t, srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	base := runtime.NumGoroutine()

	c, ch := ghostClient(t, srv.SSHAddr, "stuck", 200, 60)
	boss.expect("--> stuck joined")
	// More than the 2 MiB channel window, never read: the writer blocks.
	payload := strings.Repeat("x", 1900)
	const messages = 1600
	for i := range messages {
		boss.send(fmt.Sprintf("%d %s", i, payload))
	}
	boss.expect(fmt.Sprintf("<boss> %d ", messages-1))
	bounded(t, c, "window changes", func() error {
		for i := range 100 {
			if _, err := ch.SendRequest("window-change", false, windowChange(uint32(150+i), 50)); err != nil {
				return err
			}
		}
		return nil
	})
	boss.send("/kick stuck")
	boss.expect("<-- stuck left")
	awaitGoroutines(t, "after /kick of a stuck session", base)
}

// Agent forwarding (once answered true), X11 forwarding, subsystems,
// signals, breaks and unknown requests are refused, before and after the
// shell.
func TestUnusedSessionRequestsRefused(t *testing.T) {
	srv := startServer(t)
	c := dialSSH(t, srv.SSHAddr, "agentbot", guestAuth())
	ch, _ := mustRawChannel(t, c)
	refused := []struct {
		name    string
		payload []byte
	}{
		{"auth-agent-req@openssh.com", nil},
		{"x11-req", gossh.Marshal(struct {
			Single        bool
			Proto, Cookie string
			Screen        uint32
		}{false, "MIT-MAGIC-COOKIE-1", "00", 0})},
		{"subsystem", gossh.Marshal(struct{ Name string }{"sftp"})},
		{"signal", gossh.Marshal(struct{ Name string }{"INT"})},
		{"break", gossh.Marshal(struct{ Ms uint32 }{100})},
		{"no-such-request@example.com", nil},
		{"window-change", windowChange(80, 24)}, // before any pty-req
		{"pty-req", []byte("garbage")},
	}
	check := func(when string) {
		for _, r := range refused {
			if request(t, ch, r.name, r.payload) {
				t.Errorf("%s %s: accepted", r.name, when)
			}
		}
	}
	check("before the shell")
	if !request(t, ch, "pty-req", ptyRequest("xterm", 80, 24)) {
		t.Fatal("pty-req refused")
	}
	if request(t, ch, "pty-req", ptyRequest("xterm", 80, 24)) {
		t.Error("a second pty-req accepted")
	}
	if request(t, ch, "pty-req", ptyRequest(strings.Repeat("x", 100), 80, 24)) {
		t.Error("a pty-req with a 100-byte TERM accepted")
	}
	if !request(t, ch, "shell", nil) {
		t.Fatal("shell refused")
	}
	go func() { _, _ = io.Copy(io.Discard, ch) }()
	refused = refused[:6]
	check("after the shell")
	if request(t, ch, "exec", gossh.Marshal(struct{ Cmd string }{"ls"})) {
		t.Error("exec accepted after the shell")
	}
}
