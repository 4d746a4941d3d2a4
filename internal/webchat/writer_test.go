package webchat

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
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
