package store

// BenchmarkAppendMessage is the store write every room message waits for
// before it is published, so its duration adds to every delivery's latency;
// here one caller at a time, so every commit holds one message.
// BenchmarkAppendMessageParallel shows group commit. worst-µs depends on the
// disk and, on a shared machine, on the other processes. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAppendMessage(b *testing.B) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	var worst time.Duration
	b.ReportAllocs()
	for b.Loop() {
		m := Message{Room: "lobby", Kind: KindMessage, From: "alice", Text: "hello everybody, this is a message of ordinary length", Time: time.Now()}
		t0 := time.Now()
		if err := st.AppendMessage(ctx, &m); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}

// BenchmarkAppendMessageParallel is several rooms appending at once (16
// goroutines, one room each, as many senders in different rooms do): what
// group commit is for. ns/op is per message, over all of them.
func BenchmarkAppendMessageParallel(b *testing.B) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const rooms = 16
	for i := range rooms {
		if err := st.EnsureRoom(ctx, Room{Name: fmt.Sprint("room", i), CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int32
	var mu sync.Mutex
	var worst time.Duration
	b.ReportAllocs()
	b.SetParallelism((rooms + 1) / 2) // GOMAXPROCS=2 on the reference machine
	b.RunParallel(func(pb *testing.PB) {
		room := fmt.Sprint("room", int(next.Add(1)-1)%rooms)
		var w time.Duration
		for pb.Next() {
			m := Message{Room: room, Kind: KindMessage, From: "alice", Text: "hello everybody, this is a message of ordinary length", Time: time.Now()}
			t0 := time.Now()
			if err := st.AppendMessage(ctx, &m); err != nil {
				b.Error(err)
				return
			}
			w = max(w, time.Since(t0))
		}
		mu.Lock()
		worst = max(worst, w)
		mu.Unlock()
	})
	b.ReportMetric(float64(st.batch.nMessages.Load())/float64(st.batch.nCommits.Load()), "batch")
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}

// BenchmarkReturnOfARegisteredKey is the store work of a registered key's
// connection for what waited while it was away (room.Hub.welcomeBack):
// nothing waiting (the common case), then the mention scan of a busy room
// (50,000 stored messages) after an absence in which 10, or the 1,000 the
// scan reads at most, were sent. Nothing of this is on a message's path.
func BenchmarkReturnOfARegisteredKey(b *testing.B) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureRoom(ctx, Room{Name: "dev", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const stored = 50000
	for i := range stored {
		m := Message{Room: "dev", Kind: KindMessage, From: "bob", Text: "hello everybody, this is a message of ordinary length", Time: start.Add(time.Duration(i) * time.Second)}
		st.QueueMessage(&m)
	}
	last := Message{Room: "dev", Kind: KindMessage, From: "bob", Text: "the last", Time: start.Add(stored * time.Second)}
	if err := st.AppendMessage(ctx, &last); err != nil {
		b.Fatal(err)
	}
	b.Run("nothing-waiting", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.TakeWaiting(ctx, "SHA256:alice", start); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, missed := range []int{10, 1000} {
		b.Run(fmt.Sprintf("mention-scan-%d", missed), func(b *testing.B) {
			since := start.Add(time.Duration(stored-missed) * time.Second)
			for b.Loop() {
				if _, err := st.MessagesSince(ctx, "dev", since, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
