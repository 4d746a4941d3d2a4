package store

// BenchmarkAppendMessage is the store write every room message waits for:
// room.Hub.say holds the room's publication lock while it runs, so its
// duration bounds a room's message rate and adds to every delivery's
// latency. The figure depends on the disk (WAL checkpoints sync it). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/store

import (
	"context"
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
