package room_test

// Benchmarks of the core's hot paths: fan-out of one message to a room, the
// join of one more member, the sanitiser and the command parser. They use
// only the package's exported API. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/room
//
// (docs/performance.md has the reference figures).

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/store"
)

// benchHub is a hub without the per-session rate limit: the benchmarks send
// as fast as they can.
func benchHub(queue int) *room.Hub {
	return room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(queue),
		room.WithRate(1<<30, math.Inf(1)))
}

func benchConnect(b *testing.B, h *room.Hub, n int, via room.Via) []*room.Session {
	b.Helper()
	out := benchConnectKeep(b, h, n, via)
	b.Cleanup(func() {
		for _, s := range out {
			s.Leave()
		}
	})
	return out
}

type joinRoom struct {
	hub     *room.Hub
	members []*room.Session
}

var joinRooms = map[int]*joinRoom{}

func benchConnectKeep(b *testing.B, h *room.Hub, n int, via room.Via) []*room.Session {
	b.Helper()
	out := make([]*room.Session, n)
	for i := range out {
		s, err := h.Connect(room.Identity{Nick: fmt.Sprintf("m%d", i), Via: via})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s
		if i%64 == 63 {
			drainAll(out[:i+1])
		}
	}
	drainAll(out)
	return out
}

func drainAll(sessions []*room.Session) {
	for _, s := range sessions {
		for {
			select {
			case <-s.Events():
				continue
			default:
			}
			break
		}
	}
}

// paddedCount keeps each consumer's counter on its own cache line.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// BenchmarkFanout is one message typed by a member and delivered to every
// member of the room, each member's queue read by its own goroutine as the
// front-ends' writers do (without the network write). ns/op is per message;
// ns/delivery divides by the member count. paced waits for every member to
// have each message before the next (every delivery wakes a goroutine);
// burst keeps up to 256 in flight.
func BenchmarkFanout(b *testing.B) {
	for _, mode := range []string{"paced", "burst"} {
		for _, n := range []int{10, 100, 1000, 2000} {
			b.Run(fmt.Sprintf("%s/members=%d", mode, n), func(b *testing.B) { fanout(b, n, mode == "burst") })
		}
	}
}

func fanout(b *testing.B, n int, burst bool) {
	h := benchHub(1024)
	members := benchConnect(b, h, n, room.ViaWeb)
	counts := make([]paddedCount, n)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, s := range members {
		wg.Go(func() {
			for {
				select {
				case ev := <-s.Events():
					if ev.Kind == room.KindMessage {
						counts[i].n.Add(1)
					}
				case <-stop:
					return
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	sender := members[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Input(sender, "", "hello everybody, this is a message of ordinary length")
		// Flow control: never let a queue (1024) fill up.
		switch {
		case !burst:
			waitAll(b, counts, int64(i+1))
		case i%256 == 255:
			waitAll(b, counts, int64(i+1)-256)
		}
	}
	waitAll(b, counts, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
	for _, s := range members {
		if s.CloseReason() != (room.CloseReason{}) {
			b.Fatalf("%s closed: %s", s.Nick(), s.CloseReason())
		}
	}
}

func waitAll(b *testing.B, counts []paddedCount, atLeast int64) {
	deadline := time.Now().Add(time.Minute)
	for i := range counts {
		for counts[i].n.Load() < atLeast {
			if time.Now().After(deadline) {
				b.Fatalf("member %d has %d messages of %d after a minute", i, counts[i].n.Load(), atLeast)
			}
			runtime.Gosched()
		}
	}
}

// BenchmarkPublish is the part of a fan-out done under the room's lock
// (queueing to every member), without consumers: what every other sender of
// the room waits for.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := benchHub(256)
			members := benchConnect(b, h, n, room.ViaWeb)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.Input(members[0], "", "hello everybody, this is a message of ordinary length")
				if i%128 == 127 {
					b.StopTimer()
					drainAll(members)
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkJoin is one more user connecting to (and leaving) a lobby of N
// members: their join and part are queued to everyone, and the joiner gets
// the sorted member list. It bounds connection storms and the cost of
// filling a big room.
func BenchmarkJoin(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			// Filling a room of 10,000 is itself quadratic: build each room
			// once for all the runs of this benchmark.
			jr := joinRooms[n]
			if jr == nil {
				h := benchHub(256)
				jr = &joinRoom{h, benchConnectKeep(b, h, n, room.ViaWeb)}
				joinRooms[n] = jr
			}
			h, members := jr.hub, jr.members
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := h.Connect(room.Identity{Nick: fmt.Sprintf("j%d", i), Via: room.ViaWeb})
				if err != nil {
					b.Fatal(err)
				}
				s.Leave()
				if i%64 == 63 {
					b.StopTimer()
					drainAll(members)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSayStored is messages sent by S members of one room of 10 at
// once, with the SQLite store: each waits for its message to be stored
// before it is published. ns/op is per message, over all senders.
func BenchmarkSayStored(b *testing.B) {
	for _, senders := range []int{1, 8} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			st, err := store.OpenSQLite(context.Background(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			h := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<16),
				room.WithRate(1<<30, math.Inf(1)), room.WithStore(st))
			if err := h.LoadRooms(context.Background()); err != nil {
				b.Fatal(err)
			}
			members := benchConnect(b, h, 10, room.ViaWeb)
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for _, s := range members {
				readers.Go(func() {
					for {
						select {
						case <-s.Events():
						case <-stop:
							return
						}
					}
				})
			}
			defer func() { close(stop); readers.Wait() }()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, s := range members[:senders] {
				n := b.N / senders
				if i < b.N%senders {
					n++
				}
				wg.Go(func() {
					for range n {
						h.Input(s, "", "hello everybody, this is a message of ordinary length")
					}
				})
			}
			wg.Wait()
		})
	}
}

var sink string

// BenchmarkCleanLine is the sanitiser every input line goes through.
func BenchmarkCleanLine(b *testing.B) {
	cases := map[string]string{
		"ascii":   "hello everybody, this is a message of ordinary length",
		"unicode": "¡Hola! ¿Qué tal? 你好，世界 — ça va très bien 🙂 مرحبا",
		"escapes": "\x1b[31mred\x1b[0m and \x1b]8;;http://x\x07link\x1b]8;;\x07 \u202eevil\u202c\ttab",
		"long":    strings.Repeat("0123456789 ", 180),
	}
	for _, name := range []string{"ascii", "unicode", "escapes", "long"} {
		in := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				sink = room.CleanLine(in)
			}
		})
	}
}

// BenchmarkParseCommand is the check every line gets: command or message.
func BenchmarkParseCommand(b *testing.B) {
	for _, in := range []string{"hello everybody, this is a message", "/nick Robert", "/me waves at everybody", "//not a command"} {
		b.Run(strings.Fields(in)[0], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				name, args, _ := room.ParseCommand(in)
				sink = name + args
			}
		})
	}
}

// BenchmarkSplitLines is how pasted text becomes messages.
func BenchmarkSplitLines(b *testing.B) {
	in := "one line\r\ntwo lines\nthree\rfour"
	b.ReportAllocs()
	for b.Loop() {
		sink = room.SplitLines(in)[0]
	}
}
