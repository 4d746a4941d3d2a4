package webchat

// Benchmarks of the web front-end: the whole fan-out of a message to N
// websocket clients over loopback TCP (encoding one frame is measured in
// package wire). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/webchat

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
)

func benchMessageEvent(id uint64) *room.Event {
	return &room.Event{Kind: room.KindMessage, ID: id, Room: "lobby", From: "alice",
		Text: "hello everybody, this is a message of ordinary length", Time: time.Now()}
}

type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// BenchmarkWebFanout is one message typed by a member and written to N
// websocket clients over loopback TCP, each read by its own goroutine:
// queueing, the writer goroutines, one frame write (one system call) per
// recipient, and the clients' reads. ns/op is per message.
//
// paced sends the next message only once every client has the previous one,
// as a chat room at 100 messages a second does: every delivery wakes a
// writer goroutine and a reader. burst keeps up to 128 messages in flight,
// so each wake-up writes (and reads) several frames: the difference is what
// batching per session is worth.
func BenchmarkWebFanout(b *testing.B) {
	for _, mode := range []string{"paced", "burst"} {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/members=%d", mode, n), func(b *testing.B) { webFanout(b, n, mode == "burst") })
		}
	}
}

func webFanout(b *testing.B, n int, burst bool) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1024),
		room.WithRate(1<<30, math.Inf(1)))
	srv := httptest.NewServer(New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	counts := make([]paddedCount, n)
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	}()
	msgPrefix := []byte(`{"type":"message"`)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		if err := c.WriteJSON(map[string]string{"type": "hello", "nick": fmt.Sprintf("m%d", i)}); err != nil {
			b.Fatal(err)
		}
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(data, []byte(`{"type":"welcome"`)) {
				break
			}
		}
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(r); err != nil {
					return
				}
				if bytes.HasPrefix(buf.Bytes(), msgPrefix) {
					counts[i].n.Add(1)
				}
			}
		})
	}
	sender := conns[0]
	say := []byte(`{"type":"say","text":"hello everybody, this is a message of ordinary length"}`)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if err := sender.WriteMessage(websocket.TextMessage, say); err != nil {
			b.Fatal(err)
		}
		switch {
		case !burst:
			waitAll(b, counts, int64(i+1))
		case i%128 == 127:
			waitAll(b, counts, int64(i+1)-128)
		}
	}
	waitAll(b, counts, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
	// CPU time (server and clients) varies less than wall time when other
	// processes share the cores.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/float64(n), "cpu-ns/delivery")
}

// processCPU is the user and system CPU time the process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func waitAll(b *testing.B, counts []paddedCount, atLeast int64) {
	deadline := time.Now().Add(time.Minute)
	for i := range counts {
		for counts[i].n.Load() < atLeast {
			if time.Now().After(deadline) {
				b.Fatalf("client %d has %d messages of %d after a minute", i, counts[i].n.Load(), atLeast)
			}
			runtime.Gosched()
		}
	}
}

// BenchmarkLoopbackWrite is the system call under every websocket frame the
// server writes: a 150-byte frame per write, or eight frames per write (what
// draining a session's queue into one write would do when several events
// are waiting). ns/op is per frame.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("frames-per-write=%d", batch), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			frame := make([]byte, 150)
			buf := bytes.Repeat(frame, batch)
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				if _, err := conn.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			conn.Close()
			<-done
		})
	}
}

// BenchmarkSendNow is the fan-out's non-blocking write of one 150-byte
// frame to each of N loopback connections in turn, each read by its own
// goroutine, as the fan-out writes a message to a room's members: with
// the runtime's system call (syscall.Write, how it was written before) or
// with sendNow (a raw send). ns/op and cpu-ns/op (the process: writer and
// readers) are per frame.
func BenchmarkSendNow(b *testing.B) {
	writes := []struct {
		name string
		send func(fd uintptr, p []byte) (int, error)
	}{
		{"syscall-write", func(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }},
		{"send-now", sendNow},
	}
	for _, n := range []int{100, 5000} {
		for _, w := range writes {
			b.Run(fmt.Sprintf("%s/conns=%d", w.name, n), func(b *testing.B) { sendEach(b, n, w.send) })
		}
	}
}

func sendEach(b *testing.B, n int, send func(fd uintptr, p []byte) (int, error)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	raws := make([]syscall.RawConn, n)
	for i := range raws {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, s)
		if raws[i], err = s.(*net.TCPConn).SyscallConn(); err != nil {
			b.Fatal(err)
		}
	}
	frame := make([]byte, 150)
	var werr error
	write := func(fd uintptr) bool {
		_, werr = send(fd, frame)
		return true
	}
	b.ResetTimer()
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		if err := raws[i%n].Write(write); err != nil {
			b.Fatal(err)
		}
		if werr != nil && werr != syscall.EAGAIN {
			b.Fatal(werr)
		}
		i++
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
