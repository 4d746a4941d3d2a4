package webchat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// BenchmarkIdleConnMemory is finding 8 of docs/performance.md in-process:
// the heap and goroutine stacks the server keeps per idle websocket session.
// It opens 1,000 sessions from raw TCP clients (a net.Conn each, nothing
// else: their reads are left in the kernel), waits until they are idle and
// reports the growth after two collections. Run it once:
//
//	go test -run '^$' -bench IdleConnMemory -benchtime 1x ./internal/webchat
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 1000
	for b.Loop() {
		hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
		srv := httptest.NewServer(New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler())
		addr := strings.TrimPrefix(srv.URL, "http://")

		before := settledMemory()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := rawSession(addr, fmt.Sprintf("idle%d", i))
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		// Let every writer send the joins queued to it and go idle.
		time.Sleep(500 * time.Millisecond)
		after := settledMemory()

		heap := float64(after.heap-before.heap) / n
		stack := float64(after.stack-before.stack) / n
		b.ReportMetric(heap, "heap-B/session")
		b.ReportMetric(stack, "stack-B/session")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/session")
		b.ReportMetric((heap+stack)/1024, "KiB/session")

		for _, c := range conns {
			c.Close()
		}
		srv.Close()
	}
}

type memFigures struct {
	heap, stack uint64
	goroutines  int
}

func settledMemory() memFigures {
	// Two collections: the second empties sync.Pool's victim cache.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// rawSession upgrades a plain TCP connection, says hello and reads until the
// welcome frame: the client side costs one net.Conn and no goroutine.
func rawSession(addr, nick string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade: %s", resp.Status)
	}
	// A client frame must be masked; a zero mask leaves the payload as is.
	hello := fmt.Sprintf(`{"type":"hello","nick":%q}`, nick)
	frame := append([]byte{0x81, 0x80 | byte(len(hello)), 0, 0, 0, 0}, hello...)
	if _, err := c.Write(frame); err != nil {
		c.Close()
		return nil, err
	}
	// Server frames are unmasked: the welcome's bytes appear as sent.
	want := []byte(`{"type":"welcome"`)
	var seen []byte
	buf := make([]byte, 512)
	for !bytes.Contains(seen, want) {
		k, err := br.Read(buf)
		if err != nil {
			c.Close()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("waiting for the welcome: %w", err)
		}
		seen = append(seen, buf[:k]...)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
