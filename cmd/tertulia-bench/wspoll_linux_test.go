package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/chatclient"
)

// polledClient is one client of a poll set, as the test sees it: the
// frames it got and how it ended.
type polledClient struct {
	frames chan string
	ended  chan error
}

// startPolled starts pollers, a websocket server that runs serve on each
// connection, and one client of the pollers connected to it.
func startPolled(t *testing.T, serve func(conn *websocket.Conn)) (*chatclient.WS, *polledClient, *client) {
	t.Helper()
	upgrader := websocket.Upgrader{WriteBufferSize: 1024}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		serve(conn)
	}))
	t.Cleanup(srv.Close)
	got := &polledClient{frames: make(chan string, 100), ended: make(chan error, 1)}
	p := newWSPollers(2,
		func(_ *client, b []byte, _ time.Time) { got.frames <- string(b) },
		func(_ *client, err error) { got.ended <- err })
	if p == nil {
		t.Fatal("no pollers")
	}
	t.Cleanup(p.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := chatclient.DialWS(ctx, p.dialer(&websocket.Dialer{}), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{readerDone: make(chan struct{})}
	if !p.add(c, ws, c.readerDone) {
		t.Fatal("the connection could not be polled")
	}
	return ws, got, c
}

func (g *polledClient) next(t *testing.T) string {
	t.Helper()
	// Frames handled before the end are in the channel before it ends.
	select {
	case f := <-g.frames:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame")
	}
	return ""
}

func (g *polledClient) end(t *testing.T, c *client) error {
	t.Helper()
	select {
	case err := <-g.ended:
		<-c.readerDone
		if len(g.frames) > 0 {
			t.Fatalf("%d frames more before the end", len(g.frames))
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
	}
	return nil
}

func TestPollersReadWholeFramesWritesAndPings(t *testing.T) {
	big := strings.Repeat("x", 3*wsPollScratch+17) // more than one read
	pong := make(chan string, 1)
	ws, got, c := startPolled(t, func(conn *websocket.Conn) {
		conn.SetPongHandler(func(s string) error { pong <- s; return nil })
		_, hello, err := conn.ReadMessage()
		if err != nil {
			return
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte("echo "+string(hello)))
		_ = conn.WriteMessage(websocket.TextMessage, []byte(big))
		// A message in several frames (the writer's buffer is 1 KB).
		w, _ := conn.NextWriter(websocket.TextMessage)
		_, _ = w.Write(bytes.Repeat([]byte("f"), 5000))
		_ = w.Close()
		_ = conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		_, _, _ = conn.ReadMessage() // handles the pong; ends when the client leaves
	})
	if err := ws.SendRaw([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if f := got.next(t); f != "echo hi" {
		t.Fatalf("first frame %q, want the echo of what the client wrote", f)
	}
	if f := got.next(t); f != big {
		t.Fatalf("the big frame came as %d bytes, want %d", len(f), len(big))
	}
	if f := got.next(t); f != strings.Repeat("f", 5000) {
		t.Fatalf("the fragmented message came as %.40q... (%d bytes)", f, len(f))
	}
	select {
	case s := <-pong:
		if s != "are you there" {
			t.Fatalf("pong %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pong for the server's ping")
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if err := got.end(t, c); err == nil {
		t.Fatal("the end of a closed connection has no reason")
	}
	conn := ws.Conn.UnderlyingConn().(*pollConn)
	conn.mu.RLock()
	defer conn.mu.RUnlock()
	if !conn.released {
		t.Fatal("the socket of a connection that ended is still open")
	}
}

func TestPollersReportTheServersClose(t *testing.T) {
	_, got, c := startPolled(t, func(conn *websocket.Conn) {
		_ = conn.WriteMessage(websocket.TextMessage, []byte("welcome"))
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "slow client"))
		_, _, _ = conn.ReadMessage()
	})
	if f := got.next(t); f != "welcome" {
		t.Fatalf("frame %q", f)
	}
	err := got.end(t, c)
	if err == nil || err.Error() != "closed by server: 4008 slow client" {
		t.Fatalf("ended with %v, want the server's close code and reason", err)
	}
}

// A message in fragments is held only up to its bound: past it, the
// connection ends, saying why.
func TestPollersBoundAFragmentedMessage(t *testing.T) {
	_, got, c := startPolled(t, func(conn *websocket.Conn) {
		w, _ := conn.NextWriter(websocket.TextMessage)
		chunk := bytes.Repeat([]byte("m"), 1<<20)
		for range wsPollMaxMessage>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_ = w.Close()
	})
	err := got.end(t, c)
	if err == nil || !strings.Contains(err.Error(), "message of more than") {
		t.Fatalf("ended with %v, want the message refused for its size", err)
	}
}
