package webchat

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
)

// recConn records what batchConn does to the connection under it.
type recConn struct {
	net.Conn  // nil: only the methods below are called
	mu        sync.Mutex
	writes    []string
	deadlines []time.Time
	fail      error
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *recConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *recConn) state() (writes []string, deadlines int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...), len(c.deadlines)
}

func newTestBatchConn(c net.Conn, timeout time.Duration) *batchConn {
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}
	return &batchConn{Conn: c, timeout: timeout, bufs: pool}
}

func frames(ss ...string) [][]byte {
	var fs [][]byte
	for _, s := range ss {
		fs = append(fs, []byte(s))
	}
	return fs
}

func TestBatchConn(t *testing.T) {
	rc := &recConn{}
	bc := newTestBatchConn(rc, 10*time.Second)

	// gorilla's writes: written through, with the deadline given.
	soon := time.Now().Add(time.Second)
	must(t, bc.SetWriteDeadline(soon))
	must(t, bc.SetWriteDeadline(soon)) // unchanged: not set again
	if _, err := bc.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if w, d := rc.state(); len(w) != 1 || d != 1 {
		t.Fatalf("direct write: %q, %d deadlines; want one write, one deadline", w, d)
	}

	// A batch: one write, one deadline (the one set is too short).
	must(t, bc.WriteFrames(frames("b", "c", "d")))
	if w, d := rc.state(); len(w) != 2 || w[1] != "bcd" || d != 2 {
		t.Fatalf("after a batch: %q, %d deadlines; want \"bcd\" in one write and one more deadline", w, d)
	}
	// The next batch, soon after, keeps that deadline.
	must(t, bc.WriteFrames(frames("e")))
	if w, d := rc.state(); len(w) != 3 || w[2] != "e" || d != 2 {
		t.Fatalf("second batch: %q, %d deadlines; want \"e\", no new deadline", w, d)
	}
	// An empty batch writes nothing.
	must(t, bc.WriteFrames(nil))
	if w, _ := rc.state(); len(w) != 3 {
		t.Fatalf("empty batch wrote: %q", w)
	}

	// A frame that does not fit flushes what is held and goes alone.
	big := strings.Repeat("x", maxBatchBytes)
	must(t, bc.WriteFrames(frames("f", big, "g")))
	if w, _ := rc.state(); len(w) != 6 || w[3] != "f" || w[4] != big || w[5] != "g" {
		t.Fatalf("large frame: %d writes, want f, the large one, g", len(w))
	}

	// A failed write fails every later write.
	boom := errors.New("boom")
	rc.mu.Lock()
	rc.fail = boom
	rc.mu.Unlock()
	if err := bc.WriteFrames(frames("h", "h")); !errors.Is(err, boom) {
		t.Fatalf("batch: %v, want boom", err)
	}
	rc.mu.Lock()
	rc.fail = nil
	rc.mu.Unlock()
	if _, err := bc.Write([]byte("i")); !errors.Is(err, boom) {
		t.Fatalf("write after a failed batch: %v, want boom", err)
	}
	if err := bc.WriteFrames(frames("j")); !errors.Is(err, boom) {
		t.Fatalf("batch after a failed batch: %v, want boom", err)
	}
	if w, _ := rc.state(); len(w) != 6 {
		t.Fatalf("written after the failure: %q", w[6:])
	}
}

// Once gorilla has written a close frame, events are no longer written,
// as gorilla refuses further messages; its own writes still go through.
func TestBatchConnAfterClose(t *testing.T) {
	rc := &recConn{}
	bc := newTestBatchConn(rc, 10*time.Second)
	closeFrame := append([]byte{0x88, 2}, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")...)
	if _, err := bc.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if err := bc.WriteFrames(frames("a")); !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("event after the close frame: %v, want ErrCloseSent", err)
	}
	if w, _ := rc.state(); len(w) != 1 {
		t.Fatalf("writes: %q, want the close frame only", w)
	}
}

// An event's frame is byte for byte what gorilla/websocket writes for the
// same payload, at every length encoding.
func TestEventFrameMatchesGorilla(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 1100, 65535, 65536, 70000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, n := range sizes {
			if conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'x'}, n)) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, n := range sizes {
		want := appendTextFrame(nil, bytes.Repeat([]byte{'x'}, n))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("payload of %d: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("payload of %d: gorilla wrote % x..., we build % x...", n, got[:min(12, len(got))], want[:min(12, len(want))])
		}
	}
}

// gatedConn is a server-side connection whose writes can be held at a gate,
// as if the peer had stopped reading; Close releases them with an error.
type gatedConn struct {
	net.Conn
	writes    atomic.Int32
	mu        sync.Mutex
	gate      chan struct{}
	blocked   chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		select {
		case c.blocked <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Write(p)
}

func (c *gatedConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// hold makes the next writes wait until the returned function is called.
func (c *gatedConn) hold() (release func()) {
	gate := make(chan struct{})
	c.mu.Lock()
	c.gate = gate
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.gate = nil
		c.mu.Unlock()
		close(gate)
	}
}

type gatedListener struct {
	net.Listener
	conns chan *gatedConn
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gc := &gatedConn{Conn: c, blocked: make(chan struct{}, 1), closed: make(chan struct{})}
	l.conns <- gc
	return gc, nil
}

type testFrame struct {
	Type   string `json:"type"`
	Nick   string `json:"nick"`
	From   string `json:"from"`
	Text   string `json:"text"`
	Reason string `json:"reason"`
}

// gatedSetup serves a hub over a gated listener and signs "alice" in; it
// returns her client, the server side of her connection, and "bob", a
// session typing into the lobby directly, with what he receives.
func gatedSetup(t *testing.T, opts ...room.Option) (*room.Hub, *websocket.Conn, *gatedConn, *room.Session, <-chan *room.Event) {
	t.Helper()
	opts = append([]room.Option{room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1<<30, math.Inf(1))}, opts...)
	hub := room.NewHub(opts...)
	srv := httptest.NewUnstartedServer(New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler())
	gl := &gatedListener{Listener: srv.Listener, conns: make(chan *gatedConn, 4)}
	srv.Listener = gl
	srv.Start()
	t.Cleanup(srv.Close)

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	gc := <-gl.conns
	must(t, ws.WriteJSON(map[string]string{"type": "hello", "nick": "alice"}))
	readUntil(t, ws, func(f testFrame) bool { return f.Type == "welcome" })
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	bobEvents := make(chan *room.Event, 1024)
	go func() {
		for {
			select {
			case ev := <-bob.Events():
				bobEvents <- ev
			case <-bob.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { bob.Close(room.ReasonQuit) })
	readUntil(t, ws, func(f testFrame) bool { return f.Type == "join" && f.Nick == "bob" })
	return hub, ws, gc, bob, bobEvents
}

func readUntil(t *testing.T, ws *websocket.Conn, ok func(testFrame) bool) testFrame {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f testFrame
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(&f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if ok(f) {
			return f
		}
	}
}

func waitSignal(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Events queued while the writer waits on the peer go out together, in
// order, each batch with one write.
func TestWritesAreBatched(t *testing.T) {
	hub, ws, gc, bob, _ := gatedSetup(t, room.WithQueueSize(1024))

	release := gc.hold()
	hub.Input(bob, "", "m0")
	waitSignal(t, gc.blocked, "the writer to wait on the peer")
	before := gc.writes.Load()
	const n = 50
	for i := 1; i < n; i++ {
		hub.Input(bob, "", fmt.Sprintf("m%d", i))
	}
	release()
	for i := range n {
		f := readUntil(t, ws, func(f testFrame) bool { return f.Type == "message" })
		if want := fmt.Sprintf("m%d", i); f.From != "bob" || f.Text != want {
			t.Fatalf("message %d: %+v, want %q from bob", i, f, want)
		}
	}
	// 49 events queued behind m0: two batches of at most 32.
	if writes := gc.writes.Load() - before; writes > 2 {
		t.Fatalf("%d writes for %d queued events, want 2", writes, n-1)
	}
}

// A websocket whose writer is stuck on a peer that does not read is cut
// once its queue has overflowed and it wrote nothing for the slow timeout
// (the hub's clock moves 10 s per message here), not after the write
// timeout.
func TestStalledWebsocketIsDropped(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	hub, ws, gc, bob, bobEvents := gatedSetup(t, room.WithQueueSize(8), room.WithClock(now))

	release := gc.hold()
	defer release()
	// Bob reads his echo of each message before sending the next, so only
	// alice's queue fills up.
	dropped := false
	for i := 0; i < 20 && !dropped; i++ {
		text := fmt.Sprintf("m%d", i)
		offset.Add(int64(10 * time.Second))
		hub.Input(bob, "", text)
		if i == 0 {
			waitSignal(t, gc.blocked, "the writer to wait on the peer")
		}
		deadline := time.After(10 * time.Second)
	echo:
		for {
			select {
			case ev := <-bobEvents:
				switch {
				case ev.Kind == room.KindPart && ev.From == "alice":
					if ev.Text != room.ReasonSlowClient.Text {
						t.Fatalf("alice left with %+v", ev)
					}
					dropped = true
				case ev.Kind == room.KindMessage && ev.Text == text:
					break echo
				}
			case <-deadline:
				t.Fatalf("bob did not get %s", text)
			}
		}
	}
	// The drop is immediate, but its part notice is published by the
	// leaving goroutine: it may come after the last echo.
	deadline := time.After(10 * time.Second)
	for !dropped {
		select {
		case ev := <-bobEvents:
			if ev.Kind == room.KindPart && ev.From == "alice" {
				if ev.Text != room.ReasonSlowClient.Text {
					t.Fatalf("alice left with %+v", ev)
				}
				dropped = true
			}
		case <-deadline:
			t.Fatal("alice was not dropped")
		}
	}
	waitSignal(t, gc.closed, "the connection to be closed")
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open: %v", err)
			}
			break
		}
	}
	if n := hub.SessionCount(); n != 1 {
		t.Fatalf("%d sessions, want bob alone", n)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serveConn registers its OnClose after greet: a session dropped in between
// must still have its connection cut, so OnClose runs at once on a closed
// session, and only once on an open one.
func TestOnCloseRunsOnce(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	a, err := hub.Connect(room.Identity{Nick: "early", Via: room.ViaWeb})
	must(t, err)
	a.Close(room.ReasonSlowClient)
	var got []room.CloseReason
	a.OnClose(func(reason room.CloseReason) { got = append(got, reason) })
	if len(got) != 1 || got[0] != room.ReasonSlowClient {
		t.Fatalf("OnClose on a closed session ran with %q", got)
	}

	b, err := hub.Connect(room.Identity{Nick: "late", Via: room.ViaWeb})
	must(t, err)
	got = nil
	b.OnClose(func(reason room.CloseReason) {
		select {
		case <-b.Done():
		default:
			t.Error("OnClose ran before Done was closed")
		}
		got = append(got, reason)
	})
	b.Close(room.ReasonFlooding)
	b.Close(room.ReasonQuit)
	if len(got) != 1 || got[0] != room.ReasonFlooding {
		t.Fatalf("OnClose ran with %q, want the first reason once", got)
	}
}
