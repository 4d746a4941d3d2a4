package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// A populated SQLite database copied into PostgreSQL reads back the same
// through the Store interface, keeps its IDs, numbers later rows after
// them, and a second copy into the now non-empty database is refused.
func TestCopyToPostgres(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	dir := t.TempDir()
	src, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"#dev", "#lobby"} {
		must(t, src.EnsureRoom(ctx, store.Room{Name: r, CreatedAt: t0}))
	}
	var last int64
	for i, text := range []string{"first", "second\nline", "third"} {
		m := &store.Message{Room: "#dev", Kind: store.KindMessage, From: "alice", Text: text, Time: t0.Add(time.Duration(i) * time.Second)}
		must(t, src.AppendMessage(ctx, m))
		last = m.ID
	}
	must(t, src.SetTopic(ctx, &store.Message{Room: "#dev", From: "alice", Text: "plans", Time: t0}))
	must(t, src.SetTopicLocked(ctx, "#dev", true))
	must(t, src.AppendPrivate(ctx, &store.Private{From: "alice", To: "bob", Text: "psst", Time: t0}))
	must(t, src.Register(ctx, store.Registration{Nick: "Alice", Fold: "alice", Fingerprint: "SHA256:a", CreatedAt: t0}))
	must(t, src.SetOperator(ctx, "SHA256:a", "admin", true, t0))
	must(t, src.AddBan(ctx, &store.Ban{Kind: "ip", Value: "192.0.2.0/24", Reason: "spam", By: "alice", CreatedAt: t0}))
	must(t, src.SetMute(ctx, store.Mute{Target: "nick:mallory", By: "alice"}))
	must(t, src.SetSetting(ctx, "motd", "hello"))
	must(t, src.AddWebSession(ctx, store.WebSession{TokenHash: "tok", Fingerprint: "SHA256:a", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, src.SetKeySettings(ctx, "SHA256:a", `{"tz":"UTC"}`, t0))
	must(t, src.SetKeyRooms(ctx, "SHA256:a", []string{"#dev", "#lobby"}))
	must(t, src.AppendInputHistory(ctx, "SHA256:a", "/join #dev", 10))
	must(t, src.Close())

	srv := startPostgres(t)
	url, err := srv.NewDatabase()
	must(t, err)
	src, err = store.OpenSQLiteFile(ctx, dir+"/tertulia.db")
	must(t, err)
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, url)
	must(t, err)
	defer dst.Close()
	counts, err := store.CopyToPostgres(ctx, src, dst)
	must(t, err)
	rows := map[string]int64{}
	for _, c := range counts {
		rows[c.Table] = c.Rows
	}
	if rows["messages"] != 4 || rows["rooms"] != 2 || rows["registrations"] != 1 || rows["key_rooms"] != 2 {
		t.Fatalf("counts %v", counts)
	}

	hist, err := dst.History(ctx, "#dev", 0, 10)
	must(t, err)
	if len(hist) != 3 || hist[1].Text != "second\nline" || hist[2].ID != last || !hist[0].Time.Equal(t0) {
		t.Fatalf("history %+v", hist)
	}
	rooms, err := dst.Rooms(ctx)
	must(t, err)
	if len(rooms) != 2 || rooms[0].Name != "#dev" || rooms[0].Topic != "plans" || !rooms[0].TopicLocked || !rooms[0].HasEntries || rooms[1].HasEntries {
		t.Fatalf("rooms %+v", rooms)
	}
	regs, err := dst.Registrations(ctx)
	must(t, err)
	if len(regs) != 1 || regs[0].Nick != "Alice" || regs[0].Fingerprint != "SHA256:a" {
		t.Fatalf("registrations %+v", regs)
	}
	bans, err := dst.Bans(ctx, t0)
	must(t, err)
	if len(bans) != 1 || bans[0].Value != "192.0.2.0/24" {
		t.Fatalf("bans %+v", bans)
	}
	if w, err := dst.WebSessionByToken(ctx, "tok", t0); err != nil || w.Fingerprint != "SHA256:a" {
		t.Fatalf("web session %+v %v", w, err)
	}
	if doc, err := dst.KeySettings(ctx, "SHA256:a"); err != nil || doc != `{"tz":"UTC"}` {
		t.Fatalf("key settings %q %v", doc, err)
	}
	if r, err := dst.KeyRooms(ctx, "SHA256:a"); err != nil || strings.Join(r, ",") != "#dev,#lobby" {
		t.Fatalf("key rooms %v %v", r, err)
	}
	next := &store.Message{Room: "#dev", Kind: store.KindMessage, From: "bob", Text: "after", Time: t0}
	must(t, dst.AppendMessage(ctx, next))
	if next.ID <= last+1 { // the topic change took last+1
		t.Fatalf("a new message got ID %d after copied IDs up to %d", next.ID, last+1)
	}

	if _, err := store.CopyToPostgres(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Fatalf("second copy: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
