package webchat

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
)

// The writer pings the client every ping interval, again and again, pongs
// its pings in order with their ids, and closes the connection when the
// session ends.
func TestWriterPingsPongsAndCloses(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(New(hub, WithLogger(slog.New(slog.DiscardHandler)),
		WithPingInterval(100*time.Millisecond)).Handler())
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var pings atomic.Int32
	ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	must(t, ws.WriteJSON(map[string]string{"type": "hello", "nick": "alice"}))
	readUntil(t, ws, func(f testFrame) bool { return f.Type == "welcome" })

	type read struct {
		data []byte
		err  error
	}
	reads := make(chan read, 100)
	go func() {
		for {
			_, data, err := ws.ReadMessage() // also runs the ping handler
			reads <- read{data, err}
			if err != nil {
				return
			}
		}
	}()
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":1}`)))
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"two"}`)))
	var pongs []string
	deadline := time.After(10 * time.Second)
	for len(pongs) < 2 || pings.Load() < 2 {
		select {
		case r := <-reads:
			if r.err != nil {
				t.Fatalf("after %d pongs and %d pings: %v", len(pongs), pings.Load(), r.err)
			}
			if bytes.HasPrefix(r.data, []byte(`{"type":"pong"`)) {
				pongs = append(pongs, string(r.data))
			}
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d pongs and %d pings after 10 s", len(pongs), pings.Load())
		}
	}
	if want := []string{`{"type":"pong","id":1}`, `{"type":"pong","id":"two"}`}; pongs[0] != want[0] || pongs[1] != want[1] {
		t.Fatalf("pongs %q, want %q", pongs, want)
	}

	// Ending the session wakes the writer, which closes with the reason.
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"say","text":"/quit"}`)))
	for {
		select {
		case r := <-reads:
			if r.err == nil {
				continue
			}
			if !websocket.IsCloseError(r.err, websocket.CloseNormalClosure) {
				t.Fatalf("closed with %v, want a normal closure", r.err)
			}
			return
		case <-deadline:
			t.Fatal("not closed after /quit")
		}
	}
}

// An idle session keeps one goroutine, its reader: its writer runs only
// while there is something to write that the fan-out does not write (the
// welcome, pings, pongs, what a full socket left, the end). Idle sessions
// still get the room's messages, written by the fan-out without waking a
// writer.
func TestIdleSessionKeepsOneGoroutine(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
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
	base := runtime.NumGoroutine()
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := rawSession(addr, fmt.Sprintf("idle%d", i))
		must(t, err)
		defer c.Close()
		conns[i] = c
	}
	// The raw clients run no goroutine: what is left is the server's.
	settled := func(when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine()-base > n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines for %d idle sessions", when, runtime.NumGoroutine()-base, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	settled("once welcomed")
	hub.Input(bob, "", "still here")
	for i, c := range conns {
		must(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		var seen []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(seen, []byte(`"text":"still here"`)) {
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("session %d: %v before the message", i, err)
			}
			seen = append(seen, buf[:k]...)
		}
	}
	settled("after a message")
}
