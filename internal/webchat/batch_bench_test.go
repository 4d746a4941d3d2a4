package webchat

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// BenchmarkWriteEvent is the server's work for one event written to a
// websocket whose queue holds nothing else (a paced room: no batching), over
// loopback TCP with a client reading: per-frame is how events were written
// before batchConn (deadline set on the connection and one write per frame),
// batched is writeBatch with a batch of one. ns/op is per event.
func BenchmarkWriteEvent(b *testing.B) {
	for _, mode := range []string{"per-frame", "batched"} {
		b.Run(mode, func(b *testing.B) {
			hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
			cs, err := hub.Connect(room.Identity{Nick: "bench", Via: room.ViaWeb})
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close(room.ReasonQuit)
			for len(cs.Events()) > 0 {
				<-cs.Events()
			}
			s := New(hub, WithLogger(slog.New(slog.DiscardHandler)))
			ev := benchMessageEvent(42)
			frame := ev.Render(room.FormatJSON, wire.EncodeEvent)
			one := []*room.Event{ev}
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				var conn *websocket.Conn
				var err error
				var write func() bool
				if mode == "per-frame" {
					up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
					conn, err = up.Upgrade(w, r, nil)
					write = func() bool {
						_ = conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
						if conn.WriteMessage(websocket.TextMessage, frame) != nil {
							return false
						}
						cs.Ack(one)
						return true
					}
				} else {
					hj := &hijacker{ResponseWriter: w, s: s}
					conn, err = s.upgrader.Upgrade(hj, r, nil)
					write = func() bool { return s.writeBatch(conn, hj.conn, cs, ev) }
				}
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				b.ResetTimer()
				for b.Loop() {
					if !write() {
						b.Error("write failed")
						return
					}
				}
			}))
			defer srv.Close()
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			go func() {
				for {
					_, r, err := c.NextReader()
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r)
				}
			}()
			<-done
		})
	}
}
