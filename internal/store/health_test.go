package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// /readyz must not say ready while every write fails, as a check that
// only reads would. A database that may not grow stands in for a full
// disk (SQLite answers SQLITE_FULL, "database or disk is full", for both).
func TestReadyFailsWhileWritesFail(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}))
	must(s.Ready(ctx))
	var pages int
	must(s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages))
	_, err := s.db.ExecContext(ctx, `PRAGMA max_page_count = `+strconv.Itoa(pages))
	must(err)

	long := strings.Repeat("x", 4000)
	var writeErr error
	for i := 0; i < 1000 && writeErr == nil; i++ {
		writeErr = s.AppendMessage(ctx, &Message{Room: "lobby", Kind: KindMessage, From: "a", Text: long, Time: time.Now()})
	}
	if writeErr == nil || !strings.Contains(writeErr.Error(), "full") {
		t.Fatalf("writes never failed with a full database: %v", writeErr)
	}
	if err := s.Ready(ctx); err == nil || !strings.Contains(err.Error(), "writes fail") {
		t.Fatalf("Ready = %v while writes fail, want a write failure", err)
	}
	// Room made again: the probe succeeds and readiness comes back without
	// waiting for a message.
	_, err = s.db.ExecContext(ctx, `PRAGMA max_page_count = 1000000`)
	must(err)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready = %v once writes succeed again", err)
	}
	must(s.AppendMessage(ctx, &Message{Room: "lobby", Kind: KindMessage, From: "a", Text: "back", Time: time.Now()}))
}

// Review note on durability: the README promises that every message anyone
// saw survives a crash; with synchronous NORMAL in WAL mode that held for a
// process crash only. The default is now FULL (commits reach the disk
// before anyone sees them); --sqlite-sync normal is the documented
// trade-off.
func TestCommitsAreSynchronousByDefault(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts []Option
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{nil, 2},
		{[]Option{WithSync(SyncNormal)}, 1},
		{[]Option{WithSync("FULL")}, 2},
	} {
		s, err := OpenSQLite(ctx, t.TempDir(), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != tc.want {
			t.Errorf("options %v: synchronous %d, want %d", tc.opts, got, tc.want)
		}
	}
	if _, err := OpenSQLite(ctx, t.TempDir(), WithSync("off")); err == nil {
		t.Error("synchronous off was accepted")
	}
}
