package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMessagesHistoryAndPaging(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("EnsureRoom is not idempotent: %v", err)
	}
	var ids []int64
	for i := 0; i < 10; i++ {
		m := &Message{Room: "lobby", Kind: KindMessage, From: "alice", Text: fmt.Sprint(i), Time: time.UnixMilli(int64(1000 + i))}
		if err := s.AppendMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 && m.ID <= ids[len(ids)-1] {
			t.Fatalf("ids not increasing: %d after %d", m.ID, ids[len(ids)-1])
		}
		ids = append(ids, m.ID)
	}
	topic := &Message{Room: "lobby", From: "bob", Text: "a topic", Time: time.UnixMilli(5000)}
	if err := s.SetTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	latest, err := s.History(ctx, "lobby", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(latest); got != "7,8,9" {
		t.Fatalf("latest = %s", got)
	}
	older, err := s.History(ctx, "lobby", latest[0].ID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(older); got != "2,3,4,5,6" {
		t.Fatalf("older = %s", got)
	}
	if older[0].Time.UnixMilli() != 1002 || older[0].From != "alice" || older[0].Kind != KindMessage {
		t.Fatalf("stored fields: %+v", older[0])
	}
	rooms, err := s.Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Topic != "a topic" || rooms[0].TopicBy != "bob" {
		t.Fatalf("rooms = %+v, %v", rooms, err)
	}
	// A message for a room that does not exist is refused.
	if err := s.AppendMessage(ctx, &Message{Room: "nowhere", Kind: KindMessage, Time: time.Now()}); err == nil {
		t.Fatal("message to an unknown room was stored")
	}
}

func texts(ms []Message) string {
	var out string
	for i, m := range ms {
		if i > 0 {
			out += ","
		}
		out += m.Text
	}
	return out
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.EnsureRoom(ctx, Room{Name: "dev", CreatedAt: time.Now()})
	_ = s.AppendMessage(ctx, &Message{Room: "dev", Kind: KindAction, From: "a", Text: "waves", Time: time.Now()})
	s.Close()

	s2 := openTest(t, dir)
	var version int
	if err := s2.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != len(sqliteMigrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(sqliteMigrations))
	}
	var mode string
	if err := s2.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q (%v)", mode, err)
	}
	h, err := s2.History(ctx, "dev", 0, 10)
	if err != nil || len(h) != 1 || h[0].Kind != KindAction {
		t.Fatalf("history after reopen = %+v, %v", h, err)
	}
	if err := s2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
