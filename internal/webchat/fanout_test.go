package webchat

import (
	"bufio"
	"bytes"
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

// tcpPair is a connected pair of loopback sockets with small buffers, so
// that a peer that does not read soon fills them (much smaller ones make
// loopback TCP crawl once the peer reads again).
func tcpPair(t *testing.T) (server *net.TCPConn, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	server, client = s.(*net.TCPConn), c.(*net.TCPConn)
	t.Cleanup(func() { server.Close(); client.Close() })
	must(t, server.SetWriteBuffer(32<<10))
	must(t, client.SetReadBuffer(32<<10))
	return server, client
}

// A non-blocking write of frames writes what the socket takes; the rest of
// a cut frame is kept and goes out first, whether the session's writer
// finishes it (with or without frames of its own) or gorilla writes its
// next frame, so the client reads every frame whole and in order. A
// deadline left over from
// an earlier blocking write does not stop it; another write in progress
// does (nothing is written then).
func TestTryWriteFramesKeepsTheRest(t *testing.T) {
	server, client := tcpPair(t)
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}
	bc := newBatchConn(server, 10*time.Second, pool)
	if !bc.CanTryWrite() {
		t.Fatal("a TCP connection cannot take non-blocking writes")
	}
	must(t, bc.SetWriteDeadline(time.Now().Add(-time.Second)))
	w := newRawWriter()
	frame := func(i int) []byte {
		return appendTextFrame(nil, bytes.Repeat([]byte{byte('a' + i%26)}, 700+i%300))
	}
	// While another write holds the connection (it may be waiting on the
	// client), nothing is tried.
	bc.mu.Lock()
	result, err := bc.TryWriteFrames(w, [][]byte{frame(0)})
	bc.mu.Unlock()
	if result != tryBusy || err != nil {
		t.Fatalf("a write while another holds the connection: %v, %v", result, err)
	}
	var sent [][]byte
	for i := 0; ; i++ {
		if i == 100000 {
			t.Fatal("the socket never filled up")
		}
		batch := [][]byte{frame(2 * i)}
		if i%3 == 0 {
			batch = append(batch, frame(2*i+1))
		}
		result, err := bc.TryWriteFrames(w, batch)
		if err != nil || result == tryBusy {
			t.Fatalf("write %d: %v, %v", i, result, err)
		}
		sent = append(sent, batch...)
		if result == trySent {
			break
		}
	}
	// With a frame's rest pending, nothing more is tried.
	if result, err := bc.TryWriteFrames(w, [][]byte{frame(0)}); result != tryBusy || err != nil {
		t.Fatalf("a write with the rest pending: %v, %v", result, err)
	}
	closeFrame := []byte{0x88, 2, 0x03, 0xe8}
	wrote := make(chan error, 1)
	go func() {
		// The session's writer finishing the cut frame with no frames
		// of its own: then nothing is pending, and the fan-out writes
		// again (all of it, or part, the writer finishing it next);
		// then the writer with frames of its own.
		if err := bc.WriteFrames(nil); err != nil {
			wrote <- err
			return
		}
		if result, err := bc.TryWriteFrames(w, [][]byte{frame(1)}); result == tryBusy || err != nil {
			wrote <- fmt.Errorf("a write once the rest is out: %v, %v", result, err)
			return
		}
		if err := bc.WriteFrames([][]byte{frame(2)}); err != nil {
			wrote <- err
			return
		}
		_, err := bc.Write(closeFrame)
		wrote <- err
	}()
	sent = append(sent, frame(1), frame(2))
	r := bufio.NewReader(client)
	for i, f := range sent {
		got := make([]byte, len(f))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, f) {
			t.Fatalf("frame %d of %d differs", i, len(sent))
		}
	}
	got := make([]byte, len(closeFrame))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, closeFrame) {
		t.Fatalf("after the events: %x, %v; want the close frame", got, err)
	}
	must(t, <-wrote)
	if _, err := bc.TryWriteFrames(w, [][]byte{frame(0)}); !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("an event after the close frame: %v", err)
	}
}

// smallBufferListener gives each accepted TCP connection a small send
// buffer, still as a *net.TCPConn, so that the fan-out writes to it.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// tcpSetup serves a hub over plain TCP with small socket buffers and
// returns it with bob, a session typing into the lobby directly, whose
// events are read as they come; bobSaw has the texts of the messages he
// saw.
func tcpSetup(t *testing.T, opts ...room.Option) (hub *room.Hub, url string, bob *room.Session, bobSaw <-chan string) {
	t.Helper()
	opts = append([]room.Option{room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1<<30, math.Inf(1))}, opts...)
	hub = room.NewHub(opts...)
	srv := httptest.NewUnstartedServer(New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler())
	srv.Listener = smallBufferListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	must(t, err)
	// bob's events are taken as they come; the texts of messages he saw
	// go to saw, for a test that must know he is not behind (left unread
	// otherwise: a full saw drops texts, never an event of bob's).
	saw := make(chan string, 4096)
	go func() {
		for {
			select {
			case ev := <-bob.Events():
				if ev.Kind == room.KindMessage {
					select {
					case saw <- ev.Text:
					default:
					}
				}
			case <-bob.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { bob.Close(room.ReasonQuit) })
	return hub, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", bob, saw
}

// waitText waits until saw yields want, skipping other texts.
func waitText(t *testing.T, saw <-chan string, want string) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case got := <-saw:
			if got == want {
				return
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for %.20q", want)
		}
	}
}

// dialSmall signs nick in over a socket with a small receive buffer.
func dialSmall(t *testing.T, url, nick string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
		}
		return c, err
	}}
	ws, _, err := d.Dial(url, http.Header{})
	must(t, err)
	t.Cleanup(func() { ws.Close() })
	must(t, ws.WriteJSON(map[string]string{"type": "hello", "nick": nick}))
	readUntil(t, ws, func(f testFrame) bool { return f.Type == "welcome" })
	return ws
}

// A client that stops reading while the room talks, and pings meanwhile
// (the protocol's pings, answered by the session's writer through
// gorilla/websocket, between the events the fan-out writes), gets, once it
// reads again, every message once and in order, every pong, and whole
// frames throughout; then it is closed normally.
func TestStalledReaderGetsEverythingInOrder(t *testing.T) {
	hub, url, bob, _ := tcpSetup(t, room.WithQueueSize(1024))
	ws := dialSmall(t, url, "alice")

	const n, pings = 300, maxPendingPongs
	text := func(i int) string { return fmt.Sprintf("m%d %s", i, strings.Repeat("x", 900)) }
	for i := range n {
		hub.Input(bob, "", text(i))
		if i%(n/pings) == 0 {
			id := i / (n / pings)
			must(t, ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"ping","id":%d}`, id))))
		}
	}

	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	next, appPongs := 0, 0
	for next < n || appPongs < pings {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages and %d pongs: %v", next, appPongs, err)
		}
		switch {
		case bytes.HasPrefix(data, []byte(`{"type":"pong"`)):
			if want := fmt.Sprintf(`{"type":"pong","id":%d}`, appPongs); string(data) != want {
				t.Fatalf("pong %q, want %q", data, want)
			}
			appPongs++
		case bytes.Contains(data, []byte(`"type":"message"`)):
			if next == n || !bytes.Contains(data, []byte(`"text":"`+text(next)+`"`)) {
				t.Fatalf("message %d: %.60q", next, data)
			}
			next++
		}
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"say","text":"/quit"}`)))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("%v, want a normal closure", err)
			}
			break
		}
		if bytes.Contains(data, []byte(`"type":"message"`)) || bytes.HasPrefix(data, []byte(`{"type":"pong"`)) {
			t.Fatalf("more than was sent: %.60q", data)
		}
	}
}

// A client that never reads is dropped as too slow once its queue has
// overflowed (the hub's clock moves 10 s per message here), while another
// member keeps getting every message in order.
func TestClientThatStopsReadingIsDropped(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	hub, url, bob, bobSaw := tcpSetup(t, room.WithQueueSize(16), room.WithClock(now))
	alice := dialSmall(t, url, "alice")
	carol := dialSmall(t, url, "carol")
	readUntil(t, alice, func(f testFrame) bool { return f.Type == "join" && f.Nick == "carol" })

	text := func(i int) string { return fmt.Sprintf("m%d %s", i, strings.Repeat("y", 900)) }
	dropped := false
	for i := 0; i < 2000 && !dropped; i++ {
		offset.Add(int64(10 * time.Second))
		hub.Input(bob, "", text(i))
		// The clock jumps past the slow timeout with every message: bob,
		// the sender, must have taken his copy before the next jump, or
		// he would be the one dropped as too slow.
		waitText(t, bobSaw, text(i))
		// carol reads as the room talks: every message, in order.
		for {
			f := readUntil(t, carol, func(f testFrame) bool {
				return f.Type == "message" || f.Type == "part" && f.Nick == "alice"
			})
			if f.Type == "part" {
				if f.Reason != room.ReasonSlowClient.Text && f.Text != room.ReasonSlowClient.Text {
					t.Fatalf("alice left with %+v", f)
				}
				dropped = true
				continue
			}
			if f.Text != text(i) {
				t.Fatalf("carol got %.20q, want message %d", f.Text, i)
			}
			break
		}
	}
	if !dropped {
		t.Fatal("alice was not dropped")
	}
	_ = alice.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := alice.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("alice's connection still open: %v", err)
			}
			break
		}
	}
	if n := hub.SessionCount(); n != 2 {
		t.Fatalf("%d sessions, want bob and carol", n)
	}
}

// When another write holds a session's connection (a ping or a pong that
// may be waiting on the client), the fan-out writes nothing and leaves the
// events to the session's writer, which writes them once the connection
// is free, in order, before anything queued later.
func TestBusyConnectionIsLeftToTheWriter(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1<<30, math.Inf(1)))
	s := New(hub, WithLogger(slog.New(slog.DiscardHandler)))
	type upgraded struct {
		conn *websocket.Conn
		bc   *batchConn
	}
	got := make(chan upgraded, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &hijacker{ResponseWriter: w, s: s}
		conn, err := s.upgrader.Upgrade(h, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			close(got)
			return
		}
		got <- upgraded{conn, h.conn}
	}))
	defer srv.Close()
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	must(t, err)
	defer client.Close()
	up, ok := <-got
	if !ok {
		t.FailNow()
	}
	if !up.bc.CanTryWrite() {
		t.Fatal("a TCP connection cannot take non-blocking writes")
	}

	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	must(t, err)
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	must(t, err)
	defer bob.Close(room.ReasonQuit)
	go func() {
		for {
			select {
			case <-bob.Events():
			case <-bob.Done():
				return
			}
		}
	}()
	calls := newWriterCalls()
	alice.OnClose(func(room.CloseReason) { calls.wake() })
	d := s.fanOut.add(up.conn, up.bc, alice, calls)
	writerDone, ping := s.writeOnDemand(up.conn, up.bc, alice, calls, d)
	defer ping.Stop()
	// What a writer does with an empty queue: hand it to the fan-out.
	for len(alice.Events()) > 0 {
		<-alice.Events()
	}
	d.release()

	up.bc.mu.Lock() // as a blocking write would
	hub.Input(bob, "", "m0")
	hub.Input(bob, "", "m1")
	// The worker's turn at alice (it may have had it already).
	d.writeQueued(newRawWriter())
	if !d.ownedByWriter() {
		t.Fatal("the fan-out kept the events of a busy connection")
	}
	// Handing them back has started the session's writer, which waits
	// for the connection.
	defer func() {
		alice.Close(room.ReasonQuit)
		<-writerDone
	}()
	up.bc.mu.Unlock()
	hub.Input(bob, "", "m2")
	for i := range 3 {
		f := readUntil(t, client, func(f testFrame) bool { return f.Type == "message" })
		if want := fmt.Sprintf("m%d", i); f.Text != want {
			t.Fatalf("message %d: %q, want %q", i, f.Text, want)
		}
	}
}
