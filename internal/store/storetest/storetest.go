// Package storetest is the conformance suite every store.Store passes:
// what the hub relies on (IDs, order, paging, expiry, ErrExists and
// ErrNotFound) written once, so that SQLite, Memory and any later store
// (PostgreSQL) are held to the same answers. Times are given to the store
// (the now arguments), so expiry is tested without waiting.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Open returns a new, empty store for one test, closed when it ends
// (t.Cleanup). Closing it again must be harmless.
type Open func(t *testing.T) store.Store

// Run runs the suite against the stores open makes, one per subtest.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		run  func(*testing.T, store.Store)
	}{
		{"MessagesOrderAndPaging", testMessagesOrderAndPaging},
		{"HistoryAfter", testHistoryAfter},
		{"EntriesAfterIncludeTopics", testEntriesAfter},
		{"MultiLineTextKept", testMultiLineTextKept},
		{"TopicIsAnEntryNotHistory", testTopicIsAnEntryNotHistory},
		{"UnknownRoomRefused", testUnknownRoomRefused},
		{"QueuedMessagesKeepQueueOrder", testQueuedMessagesKeepQueueOrder},
		{"ConcurrentAppendsKeepEachRoomsOrder", testConcurrentAppends},
		{"RoomsListedByName", testRoomsListedByName},
		{"DeleteRoom", testDeleteRoom},
		{"DeleteUnusedRoomOnly", testDeleteUnusedRoom},
		{"StoredRoomIsAsListed", testStoredRoom},
		{"PrivateMessages", testPrivateMessages},
		{"Registrations", testRegistrations},
		{"Operators", testOperators},
		{"Bans", testBans},
		{"AddBans", testAddBans},
		{"Mutes", testMutes},
		{"Settings", testSettings},
		{"KeySettings", testKeySettings},
		{"KeyRooms", testKeyRooms},
		{"ReadMarkersOnlyMoveForward", testReadMarkers},
		{"InputHistoryKeepsTheNewestAndIsForgotten", testInputHistory},
		{"LoginCodes", testLoginCodes},
		{"WebSessions", testWebSessions},
		{"BotTokens", testBotTokens},
		{"BotTokenLimitHoldsUnderConcurrency", testBotTokenLimit},
		{"Waiting", testWaiting},
		{"WaitingTakenOnce", testWaitingTakenOnce},
		{"MentionsAndSeen", testMentionsAndSeen},
		{"MessagesSince", testMessagesSince},
		{"PingReadyAndClose", testPingReadyAndClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// t0 is the suite's clock: a fixed instant with a millisecond part, the
// precision stores keep.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ensureRoom(t *testing.T, s store.Store, name string) {
	t.Helper()
	must(t, s.EnsureRoom(context.Background(), store.Room{Name: name, CreatedAt: t0}))
}

func appendText(t *testing.T, s store.Store, room, text string) *store.Message {
	t.Helper()
	m := &store.Message{Room: room, Kind: store.KindMessage, From: "alice", Text: text, Time: t0}
	must(t, s.AppendMessage(context.Background(), m))
	return m
}

func texts(ms []store.Message) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return strings.Join(out, ",")
}

func history(t *testing.T, s store.Store, room string, before int64, limit int) []store.Message {
	t.Helper()
	h, err := s.History(context.Background(), room, before, limit)
	must(t, err)
	return h
}

// A message's line breaks and indentation come back from history as
// stored, and so do a private message's.
func testMultiLineTextKept(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "lobby")
	const text = "first\n  indented\n\nlast"
	appendText(t, s, "lobby", text)
	if h := history(t, s, "lobby", 0, 10); len(h) != 1 || h[0].Text != text {
		t.Errorf("history holds %+v, want the text %q", h, text)
	}
	p := &store.Private{From: "alice", To: "bob", Text: text, Time: t0}
	must(t, s.AppendPrivate(ctx, p))
	if p.ID == 0 {
		t.Error("the private message got no id")
	}
}

func testMessagesOrderAndPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "lobby")
	must(t, s.EnsureRoom(ctx, store.Room{Name: "lobby", CreatedAt: t0})) // idempotent
	var last int64
	for i := range 10 {
		kind := store.KindMessage
		if i == 4 {
			kind = store.KindAction
		}
		m := &store.Message{Room: "lobby", Kind: kind, From: "alice", Text: fmt.Sprint(i), Time: at(time.Duration(i) * time.Millisecond)}
		must(t, s.AppendMessage(ctx, m))
		if m.ID <= last {
			t.Fatalf("IDs not increasing: %d after %d", m.ID, last)
		}
		last = m.ID
	}
	if got := texts(history(t, s, "lobby", 0, 0)); got != "" {
		t.Fatalf("limit 0 gave %s", got)
	}
	latest := history(t, s, "lobby", 0, 3)
	if got := texts(latest); got != "7,8,9" {
		t.Fatalf("newest page = %s, want 7,8,9 (oldest first)", got)
	}
	older := history(t, s, "lobby", latest[0].ID, 5)
	if got := texts(older); got != "2,3,4,5,6" {
		t.Fatalf("page before %d = %s", latest[0].ID, got)
	}
	if got := texts(history(t, s, "lobby", older[0].ID, 5)); got != "0,1" {
		t.Fatalf("first page = %s", got)
	}
	if got := history(t, s, "lobby", 1, 5); len(got) != 0 {
		t.Fatalf("before the first ID: %+v", got)
	}
	if got := history(t, s, "nowhere", 0, 5); len(got) != 0 {
		t.Fatalf("history of an unknown room: %+v", got)
	}
	m := older[2]
	if m.Kind != store.KindAction || m.From != "alice" || m.Room != "lobby" || !m.Time.Equal(at(4*time.Millisecond)) {
		t.Fatalf("stored entry %+v", m)
	}
	// Times are kept to the millisecond.
	sub := &store.Message{Room: "lobby", Kind: store.KindMessage, Text: "sub", Time: t0.Add(1500 * time.Microsecond)}
	must(t, s.AppendMessage(ctx, sub))
	if h := history(t, s, "lobby", 0, 1); !h[0].Time.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("time %v stored as %v", sub.Time, h[0].Time)
	}
}

// A client that was away asks for what followed the last message it holds:
// newer messages and actions of that room only, oldest first, in pages.
func testHistoryAfter(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "lobby")
	ensureRoom(t, s, "dev")
	var ids []int64
	for i := range 6 {
		ids = append(ids, appendText(t, s, "lobby", fmt.Sprint(i)).ID)
		appendText(t, s, "dev", fmt.Sprint("dev", i))
		if i == 2 {
			topic := &store.Message{Room: "lobby", Kind: store.KindTopic, From: "alice", Text: "a topic", Time: t0}
			must(t, s.SetTopic(ctx, topic))
		}
	}
	after := func(id int64, limit int) string {
		t.Helper()
		h, err := s.HistoryAfter(ctx, "lobby", id, limit)
		must(t, err)
		return texts(h)
	}
	if got := after(0, 10); got != "0,1,2,3,4,5" {
		t.Fatalf("after 0 = %s, want every message oldest first", got)
	}
	if got := after(ids[1], 2); got != "2,3" {
		t.Fatalf("after the second, 2 of them = %s, want 2,3", got)
	}
	if got := after(ids[3], 10); got != "4,5" {
		t.Fatalf("after the fourth = %s, want 4,5 (no topic change)", got)
	}
	if got := after(ids[5], 10); got != "" {
		t.Fatalf("after the newest = %s, want nothing", got)
	}
	if got := after(0, 0); got != "" {
		t.Fatalf("limit 0 gave %s", got)
	}
	if h, err := s.HistoryAfter(ctx, "nowhere", 0, 5); err != nil || len(h) != 0 {
		t.Fatalf("history of an unknown room: %+v, %v", h, err)
	}
}

func testTopicIsAnEntryNotHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "dev")
	before := appendText(t, s, "dev", "before")
	topic := &store.Message{Room: "dev", From: "bob", Text: "a topic", Time: at(time.Second)}
	must(t, s.SetTopic(ctx, topic))
	after := appendText(t, s, "dev", "after")
	if !(before.ID < topic.ID && topic.ID < after.ID) {
		t.Fatalf("IDs %d, topic %d, %d: a topic change takes its place among the entries", before.ID, topic.ID, after.ID)
	}
	if got := texts(history(t, s, "dev", 0, 10)); got != "before,after" {
		t.Fatalf("history = %s: topic changes are not in it", got)
	}
	rooms, err := s.Rooms(ctx)
	must(t, err)
	if len(rooms) != 1 || rooms[0].Topic != "a topic" || rooms[0].TopicBy != "bob" || !rooms[0].TopicAt.Equal(at(time.Second)) {
		t.Fatalf("rooms = %+v", rooms)
	}
}

func testUnknownRoomRefused(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AppendMessage(ctx, &store.Message{Room: "nowhere", Kind: store.KindMessage, Time: t0}); err == nil {
		t.Fatal("a message to an unknown room was stored")
	}
	if err := s.SetTopic(ctx, &store.Message{Room: "nowhere", Text: "t", Time: t0}); err == nil {
		t.Fatal("a topic of an unknown room was stored")
	}
	if rooms, err := s.Rooms(ctx); err != nil || len(rooms) != 0 {
		t.Fatalf("rooms = %+v, %v", rooms, err)
	}
	// Nothing to lock or delete: no error either.
	must(t, s.SetTopicLocked(ctx, "nowhere", true))
	must(t, s.DeleteRoom(ctx, "nowhere"))
}

func testQueuedMessagesKeepQueueOrder(t *testing.T, s store.Store) {
	q, ok := s.(store.QueuedAppender)
	if !ok {
		t.Skip("not a QueuedAppender")
	}
	ctx := context.Background()
	ensureRoom(t, s, "lobby")
	msgs := make([]*store.Message, 50)
	waits := make([]func(context.Context) error, len(msgs))
	for i := range msgs {
		msgs[i] = &store.Message{Room: "lobby", Kind: store.KindMessage, Text: fmt.Sprint(i), Time: t0}
		waits[i] = q.QueueMessage(msgs[i])
	}
	for i := len(waits) - 1; i >= 0; i-- { // waited for in any order
		must(t, waits[i](ctx))
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].ID <= msgs[i-1].ID {
			t.Fatalf("queued %d got ID %d after %d", i, msgs[i].ID, msgs[i-1].ID)
		}
	}
	if h := history(t, s, "lobby", 0, 100); len(h) != len(msgs) || h[0].Text != "0" || h[len(h)-1].Text != "49" {
		t.Fatalf("history = %s", texts(h))
	}
	wait := q.QueueMessage(&store.Message{Room: "nowhere", Kind: store.KindMessage, Time: t0})
	if err := wait(ctx); err == nil {
		t.Fatal("a queued message to an unknown room was stored")
	}
}

func testConcurrentAppends(t *testing.T, s store.Store) {
	const rooms, each = 6, 40
	for r := range rooms {
		ensureRoom(t, s, fmt.Sprint("room", r))
	}
	var wg sync.WaitGroup
	errs := make(chan error, rooms)
	for r := range rooms {
		wg.Go(func() {
			for i := range each {
				m := &store.Message{Room: fmt.Sprint("room", r), Kind: store.KindMessage, Text: fmt.Sprint(i), Time: t0}
				if err := s.AppendMessage(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for r := range rooms {
		h := history(t, s, fmt.Sprint("room", r), 0, 2*each)
		if len(h) != each {
			t.Fatalf("room%d holds %d messages, want %d", r, len(h), each)
		}
		for i, m := range h {
			if m.Text != fmt.Sprint(i) {
				t.Fatalf("room%d: entry %d is %q: the room's order was not kept", r, i, m.Text)
			}
			if seen[m.ID] {
				t.Fatalf("ID %d given twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
}

func testRoomsListedByName(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, name := range []string{"zeta", "alpha", "mid"} {
		must(t, s.EnsureRoom(ctx, store.Room{Name: name, CreatedAt: at(time.Duration(i) * time.Second)}))
	}
	// EnsureRoom keeps the existing room as it is.
	must(t, s.EnsureRoom(ctx, store.Room{Name: "alpha", CreatedAt: at(time.Hour)}))
	appendText(t, s, "mid", "hi")
	must(t, s.SetTopicLocked(ctx, "zeta", true))
	rooms, err := s.Rooms(ctx)
	must(t, err)
	var names []string
	for _, r := range rooms {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "alpha,mid,zeta" {
		t.Fatalf("rooms = %s, want them by name", got)
	}
	alpha, mid, zeta := rooms[0], rooms[1], rooms[2]
	if !alpha.CreatedAt.Equal(at(time.Second)) || alpha.HasEntries || alpha.TopicLocked || alpha.Topic != "" || !alpha.TopicAt.IsZero() {
		t.Fatalf("alpha = %+v", alpha)
	}
	if !mid.HasEntries {
		t.Fatalf("mid = %+v: it holds a message", mid)
	}
	if !zeta.TopicLocked || zeta.HasEntries {
		t.Fatalf("zeta = %+v", zeta)
	}
	must(t, s.SetTopicLocked(ctx, "zeta", false))
	rooms, err = s.Rooms(ctx)
	must(t, err)
	if rooms[2].TopicLocked {
		t.Fatalf("zeta still +t: %+v", rooms[2])
	}
}

func testDeleteRoom(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "keep")
	ensureRoom(t, s, "gone")
	appendText(t, s, "keep", "k")
	last := appendText(t, s, "gone", "g")
	must(t, s.SetTopic(ctx, &store.Message{Room: "gone", Text: "t", Time: t0}))
	must(t, s.DeleteRoom(ctx, "gone"))
	must(t, s.DeleteRoom(ctx, "gone")) // again: nothing to do
	rooms, err := s.Rooms(ctx)
	must(t, err)
	if len(rooms) != 1 || rooms[0].Name != "keep" || !rooms[0].HasEntries {
		t.Fatalf("rooms = %+v", rooms)
	}
	// The name can be used again, without the old entries; IDs are not
	// reused.
	ensureRoom(t, s, "gone")
	if h := history(t, s, "gone", 0, 10); len(h) != 0 {
		t.Fatalf("a recreated room has the old history: %s", texts(h))
	}
	rooms, err = s.Rooms(ctx)
	must(t, err)
	if rooms[0].Name != "gone" || rooms[0].HasEntries || rooms[0].Topic != "" {
		t.Fatalf("recreated room = %+v", rooms[0])
	}
	if m := appendText(t, s, "gone", "new"); m.ID <= last.ID {
		t.Fatalf("ID %d reused after a deletion (last was %d)", m.ID, last.ID)
	}
	if got := texts(history(t, s, "keep", 0, 10)); got != "k" {
		t.Fatalf("other room's history = %s", got)
	}
}

// A room is deleted as unused only while it holds nothing: no entry, no
// topic, no +t.
func testDeleteUnusedRoom(t *testing.T, s store.Store) {
	ctx := context.Background()
	d, ok := s.(store.UnusedRoomDeleter)
	if !ok {
		t.Fatalf("%T cannot delete unused rooms", s)
	}
	for _, name := range []string{"empty", "said", "topic", "locked"} {
		ensureRoom(t, s, name)
	}
	appendText(t, s, "said", "hello")
	must(t, s.SetTopic(ctx, &store.Message{Room: "topic", Text: "t", Time: t0}))
	must(t, s.SetTopicLocked(ctx, "locked", true))
	for _, c := range []struct {
		name string
		want bool
	}{{"empty", true}, {"empty", false}, {"said", false}, {"topic", false}, {"locked", false}, {"never", false}} {
		deleted, err := d.DeleteUnusedRoom(ctx, c.name)
		must(t, err)
		if deleted != c.want {
			t.Errorf("DeleteUnusedRoom(%q) = %v, want %v", c.name, deleted, c.want)
		}
	}
	rooms, err := s.Rooms(ctx)
	must(t, err)
	var names []string
	for _, r := range rooms {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "locked said topic" {
		t.Fatalf("rooms left: %v", names)
	}
}

// StoredRoom reads one room as Rooms lists it; a missing one is
// ErrNotFound.
func testStoredRoom(t *testing.T, s store.Store) {
	ctx := context.Background()
	rr, ok := s.(store.RoomReader)
	if !ok {
		t.Fatalf("%T cannot read one room", s)
	}
	ensureRoom(t, s, "plain")
	ensureRoom(t, s, "busy")
	appendText(t, s, "busy", "hello")
	must(t, s.SetTopic(ctx, &store.Message{Room: "busy", From: "alice", Text: "gardening", Time: t0}))
	must(t, s.SetTopicLocked(ctx, "busy", true))
	rooms, err := s.Rooms(ctx)
	must(t, err)
	for _, want := range rooms {
		got, err := rr.StoredRoom(ctx, want.Name)
		must(t, err)
		if got != want {
			t.Errorf("StoredRoom(%q) = %+v, listed as %+v", want.Name, got, want)
		}
	}
	if got, _ := rr.StoredRoom(ctx, "busy"); got.Topic != "gardening" || !got.TopicLocked || !got.HasEntries {
		t.Errorf("busy = %+v", got)
	}
	if _, err := rr.StoredRoom(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing room: %v", err)
	}
}

func testPrivateMessages(t *testing.T, s store.Store) {
	var last int64
	for i := range 3 {
		p := &store.Private{From: "alice", To: "bob", Text: fmt.Sprint(i), Time: t0}
		must(t, s.AppendPrivate(context.Background(), p))
		if p.ID <= last {
			t.Fatalf("private IDs not increasing: %d after %d", p.ID, last)
		}
		last = p.ID
	}
}

func testRegistrations(t *testing.T, s store.Store) {
	ctx := context.Background()
	regs := []store.Registration{
		{Nick: "Bob", Fold: "bob", Fingerprint: "SHA256:k1", CreatedAt: at(2 * time.Second)},
		{Nick: "alice", Fold: "alice", Fingerprint: "SHA256:k1", CreatedAt: at(time.Second)},
		{Nick: "carol", Fold: "carol", Fingerprint: "SHA256:k2", CreatedAt: at(2 * time.Second)},
	}
	for _, r := range regs {
		must(t, s.Register(ctx, r))
	}
	if err := s.Register(ctx, store.Registration{Nick: "BOB", Fold: "bob", Fingerprint: "SHA256:k2", CreatedAt: at(3 * time.Second)}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken nick: %v, want ErrExists", err)
	}
	if err := s.Register(ctx, regs[0]); !errors.Is(err, store.ErrExists) {
		t.Fatalf("the same registration again: %v, want ErrExists", err)
	}
	got, err := s.Registrations(ctx)
	must(t, err)
	var list []string
	perKey := map[string]int{}
	for _, r := range got {
		list = append(list, r.Nick+"@"+r.Fingerprint)
		perKey[r.Fingerprint]++
	}
	// Oldest first; the same instant by fold.
	if want := "alice@SHA256:k1,Bob@SHA256:k1,carol@SHA256:k2"; strings.Join(list, ",") != want {
		t.Fatalf("registrations = %v, want %s", list, want)
	}
	if perKey["SHA256:k1"] != 2 || perKey["SHA256:k2"] != 1 {
		t.Fatalf("per key = %v", perKey)
	}
	if r := got[1]; r.Fold != "bob" || !r.CreatedAt.Equal(at(2*time.Second)) {
		t.Fatalf("stored registration %+v", r)
	}
	if err := s.Unregister(ctx, "bob", "SHA256:k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unregistering another key's nick: %v, want ErrNotFound", err)
	}
	if err := s.Unregister(ctx, "nobody", "SHA256:k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unregistering an unknown nick: %v, want ErrNotFound", err)
	}
	must(t, s.Unregister(ctx, "bob", "SHA256:k1"))
	if err := s.Unregister(ctx, "bob", "SHA256:k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unregistering twice: %v, want ErrNotFound", err)
	}
	must(t, s.Register(ctx, store.Registration{Nick: "bob", Fold: "bob", Fingerprint: "SHA256:k2", CreatedAt: at(4 * time.Second)}))
	got, err = s.Registrations(ctx)
	must(t, err)
	if len(got) != 3 || got[2].Fingerprint != "SHA256:k2" || got[2].Fold != "bob" {
		t.Fatalf("after re-registration: %+v", got)
	}
}

func testOperators(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.SetOperator(ctx, "SHA256:a", "root", true, t0))
	must(t, s.SetOperator(ctx, "SHA256:a", "root", true, t0)) // again: no error
	must(t, s.SetOperator(ctx, "SHA256:b", "root", true, t0))
	ops, err := s.Operators(ctx)
	must(t, err)
	slices.Sort(ops)
	if strings.Join(ops, ",") != "SHA256:a,SHA256:b" {
		t.Fatalf("operators = %v", ops)
	}
	must(t, s.SetOperator(ctx, "SHA256:a", "root", false, t0))
	must(t, s.SetOperator(ctx, "SHA256:nobody", "root", false, t0))
	if ops, err = s.Operators(ctx); err != nil || len(ops) != 1 || ops[0] != "SHA256:b" {
		t.Fatalf("operators = %v, %v", ops, err)
	}
}

func testBans(t *testing.T, s store.Store) {
	ctx := context.Background()
	bans := []*store.Ban{
		{Kind: "key", Value: "SHA256:x", Reason: "spam", By: "op", CreatedAt: t0},                           // never expires
		{Kind: "ip", Value: "192.0.2.0/24", By: "op", CreatedAt: t0, Expires: at(time.Hour)},                // an hour
		{Kind: "key", Value: "SHA256:x", By: "op", CreatedAt: t0, Expires: at(time.Minute)},                 // a second ban on x
		{Kind: "ip", Value: "2001:db8::/64", By: "op", CreatedAt: t0, Expires: at(time.Hour + time.Second)}, // the last
	}
	var last int64
	for _, b := range bans {
		must(t, s.AddBan(ctx, b))
		if b.ID <= last {
			t.Fatalf("ban IDs not increasing: %d after %d", b.ID, last)
		}
		last = b.ID
	}
	values := func(now time.Time) string {
		t.Helper()
		got, err := s.Bans(ctx, now)
		must(t, err)
		var out []string
		for _, b := range got {
			out = append(out, fmt.Sprintf("%d %s", b.ID-bans[0].ID, b.Value))
		}
		return strings.Join(out, ",")
	}
	if got := values(t0); got != "0 SHA256:x,1 192.0.2.0/24,2 SHA256:x,3 2001:db8::/64" {
		t.Fatalf("bans in force = %s, want all, by ID", got)
	}
	// A ban is over at its expiry instant.
	if got := values(at(time.Minute)); got != "0 SHA256:x,1 192.0.2.0/24,3 2001:db8::/64" {
		t.Fatalf("after a minute = %s", got)
	}
	if got := values(at(time.Hour)); got != "0 SHA256:x,3 2001:db8::/64" {
		t.Fatalf("after an hour = %s", got)
	}
	got, err := s.Bans(ctx, t0)
	must(t, err)
	if b := got[0]; b.Kind != "key" || b.Reason != "spam" || b.By != "op" || !b.CreatedAt.Equal(t0) || !b.Expires.IsZero() {
		t.Fatalf("stored ban %+v", b)
	}
	if b := got[1]; !b.Expires.Equal(at(time.Hour)) {
		t.Fatalf("stored expiry %v", b.Expires)
	}
	// Lifting counts every ban on the value, expired ones too.
	if n, err := s.RemoveBans(ctx, "SHA256:x"); err != nil || n != 2 {
		t.Fatalf("RemoveBans = %d, %v; want 2", n, err)
	}
	if n, err := s.RemoveBans(ctx, "SHA256:x"); err != nil || n != 0 {
		t.Fatalf("RemoveBans again = %d, %v; want 0", n, err)
	}
	if got := values(t0); got != "1 192.0.2.0/24,3 2001:db8::/64" {
		t.Fatalf("after lifting = %s", got)
	}
}

func testAddBans(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := &store.Ban{Kind: "key", Value: "SHA256:y", By: "op", CreatedAt: t0}
	must(t, s.AddBan(ctx, first))
	bans := []*store.Ban{
		{Kind: "key", Value: "SHA256:z", Reason: "spam", By: "op", CreatedAt: t0},
		{Kind: "ip", Value: "2001:db8:1::/64", Reason: "spam", By: "op", CreatedAt: t0, Expires: at(time.Hour)},
	}
	must(t, s.AddBans(ctx, bans))
	if bans[0].ID <= first.ID || bans[1].ID <= bans[0].ID {
		t.Fatalf("IDs %d, %d after %d: want increasing in the order given", bans[0].ID, bans[1].ID, first.ID)
	}
	got, err := s.Bans(ctx, t0)
	must(t, err)
	if len(got) != 3 || got[1].Value != "SHA256:z" || got[2].Value != "2001:db8:1::/64" || got[2].Reason != "spam" || !got[2].Expires.Equal(at(time.Hour)) {
		t.Fatalf("stored %+v", got)
	}
	must(t, s.AddBans(ctx, nil))
	if got, err := s.Bans(ctx, t0); err != nil || len(got) != 3 {
		t.Fatalf("after adding none: %d bans, %v", len(got), err)
	}
}

func testMutes(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.SetMute(ctx, store.Mute{Target: "key:SHA256:a", By: "op"}))
	must(t, s.SetMute(ctx, store.Mute{Target: "addr:192.0.2.7/32", By: "op", Expires: at(time.Minute)}))
	mutes := func(now time.Time) string {
		t.Helper()
		got, err := s.Mutes(ctx, now)
		must(t, err)
		var out []string
		for _, m := range got {
			exp := "never"
			if !m.Expires.IsZero() {
				exp = m.Expires.Sub(t0).String()
			}
			out = append(out, m.Target+" by "+m.By+" "+exp)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	if got := mutes(t0); got != "addr:192.0.2.7/32 by op 1m0s,key:SHA256:a by op never" {
		t.Fatalf("mutes = %s", got)
	}
	if got := mutes(at(time.Minute)); got != "key:SHA256:a by op never" {
		t.Fatalf("a mute is over at its expiry: %s", got)
	}
	// Setting a mute again replaces it.
	must(t, s.SetMute(ctx, store.Mute{Target: "key:SHA256:a", By: "other", Expires: at(time.Hour)}))
	if got := mutes(at(time.Minute)); got != "key:SHA256:a by other 1h0m0s" {
		t.Fatalf("replaced mute: %s", got)
	}
	must(t, s.RemoveMute(ctx, "key:SHA256:a"))
	must(t, s.RemoveMute(ctx, "key:SHA256:nobody"))
	if got := mutes(t0); got != "addr:192.0.2.7/32 by op 1m0s" {
		t.Fatalf("after removal: %s", got)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	if v, err := s.Setting(ctx, "motd"); err != nil || v != "" {
		t.Fatalf("unset setting = %q, %v; want \"\", nil", v, err)
	}
	must(t, s.SetSetting(ctx, "motd", "hello"))
	must(t, s.SetSetting(ctx, "motd", "welcome"))
	must(t, s.SetSetting(ctx, "other", "x"))
	if v, err := s.Setting(ctx, "motd"); err != nil || v != "welcome" {
		t.Fatalf("setting = %q, %v", v, err)
	}
}

func testKeyRooms(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rooms, err := s.KeyRooms(ctx, "SHA256:a"); err != nil || len(rooms) != 0 {
		t.Fatalf("never set: %q, %v", rooms, err)
	}
	must(t, s.SetKeyRooms(ctx, "SHA256:a", []string{"lobby", "dev", "coffee"}))
	must(t, s.SetKeyRooms(ctx, "SHA256:b", []string{"other"}))
	must(t, s.SetKeyRooms(ctx, "SHA256:a", []string{"lobby", "coffee", "zeta", "alpha"}))
	if rooms, err := s.KeyRooms(ctx, "SHA256:a"); err != nil || strings.Join(rooms, " ") != "lobby coffee zeta alpha" {
		t.Fatalf("replaced: %q, %v; want them in the order given", rooms, err)
	}
	if rooms, err := s.KeyRooms(ctx, "SHA256:b"); err != nil || strings.Join(rooms, " ") != "other" {
		t.Fatalf("another key's: %q, %v", rooms, err)
	}
	must(t, s.SetKeyRooms(ctx, "SHA256:a", nil))
	if rooms, err := s.KeyRooms(ctx, "SHA256:a"); err != nil || len(rooms) != 0 {
		t.Fatalf("emptied: %q, %v", rooms, err)
	}
}

func testInputHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	if lines, err := s.InputHistory(ctx, "SHA256:a", 10); err != nil || len(lines) != 0 {
		t.Fatalf("none yet: %q, %v", lines, err)
	}
	for i := 1; i <= 7; i++ {
		must(t, s.AppendInputHistory(ctx, "SHA256:a", fmt.Sprintf("line %d", i), 5))
	}
	must(t, s.AppendInputHistory(ctx, "SHA256:b", "two\nlines, same text twice", 5))
	must(t, s.AppendInputHistory(ctx, "SHA256:b", "two\nlines, same text twice", 5))
	lines, err := s.InputHistory(ctx, "SHA256:a", 10)
	if err != nil || strings.Join(lines, "|") != "line 3|line 4|line 5|line 6|line 7" {
		t.Fatalf("kept: %q, %v; want the newest 5, oldest first", lines, err)
	}
	if lines, _ := s.InputHistory(ctx, "SHA256:a", 2); strings.Join(lines, "|") != "line 6|line 7" {
		t.Fatalf("limit 2: %q; want the newest two", lines)
	}
	if lines, _ := s.InputHistory(ctx, "SHA256:b", 10); len(lines) != 2 || lines[0] != "two\nlines, same text twice" {
		t.Fatalf("another key's: %q", lines)
	}
	must(t, s.SetKeyRooms(ctx, "SHA256:a", []string{"dev"}))
	must(t, s.ForgetKey(ctx, "SHA256:a"))
	rooms, err := s.KeyRooms(ctx, "SHA256:a")
	must(t, err)
	if lines, _ := s.InputHistory(ctx, "SHA256:a", 10); len(lines) != 0 || len(rooms) != 0 {
		t.Fatalf("forgotten key: lines %q, rooms %q", lines, rooms)
	}
	if lines, _ := s.InputHistory(ctx, "SHA256:b", 10); len(lines) != 2 {
		t.Fatalf("forgetting one key took another's lines: %q", lines)
	}
}

func testLoginCodes(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddLoginCode(ctx, "c1", "SHA256:a", at(5*time.Minute)))
	must(t, s.AddLoginCode(ctx, "c2", "SHA256:b", at(5*time.Minute)))
	must(t, s.AddLoginCode(ctx, "c3", "SHA256:c", at(time.Minute)))
	if err := s.AddLoginCode(ctx, "c1", "SHA256:z", at(time.Hour)); err == nil {
		t.Fatal("a code stored twice")
	}
	if fp, err := s.UseLoginCode(ctx, "c1", at(time.Minute-time.Millisecond)); err != nil || fp != "SHA256:a" {
		t.Fatalf("UseLoginCode = %q, %v", fp, err)
	}
	if _, err := s.UseLoginCode(ctx, "c1", at(time.Minute-time.Millisecond)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a code used twice: %v, want ErrNotFound", err)
	}
	if _, err := s.UseLoginCode(ctx, "unknown", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown code: %v, want ErrNotFound", err)
	}
	// A code is over at its expiry instant.
	if _, err := s.UseLoginCode(ctx, "c3", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired code: %v, want ErrNotFound", err)
	}
}

func testWebSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	add := func(token, fp string, created, expires time.Duration) {
		t.Helper()
		must(t, s.AddWebSession(ctx, store.WebSession{TokenHash: token, Fingerprint: fp, CreatedAt: at(created), ExpiresAt: at(expires)}))
	}
	add("t2", "SHA256:a", time.Second, time.Hour)
	add("t1", "SHA256:a", 0, time.Hour)
	add("t3", "SHA256:a", 2*time.Second, time.Minute)
	add("t4", "SHA256:b", 0, time.Hour)
	if err := s.AddWebSession(ctx, store.WebSession{TokenHash: "t1", Fingerprint: "SHA256:z", CreatedAt: t0, ExpiresAt: at(time.Hour)}); err == nil {
		t.Fatal("a token stored twice")
	}
	w, err := s.WebSessionByToken(ctx, "t2", t0)
	must(t, err)
	if w.TokenHash != "t2" || w.Fingerprint != "SHA256:a" || !w.CreatedAt.Equal(at(time.Second)) || !w.ExpiresAt.Equal(at(time.Hour)) {
		t.Fatalf("web session %+v", w)
	}
	if _, err := s.WebSessionByToken(ctx, "unknown", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown token: %v, want ErrNotFound", err)
	}
	// A session is over at its expiry instant.
	if _, err := s.WebSessionByToken(ctx, "t3", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired session: %v, want ErrNotFound", err)
	}
	tokens := func(fp string, now time.Time) string {
		t.Helper()
		list, err := s.WebSessions(ctx, fp, now)
		must(t, err)
		var out []string
		for _, w := range list {
			out = append(out, w.TokenHash)
		}
		return strings.Join(out, ",")
	}
	if got := tokens("SHA256:a", t0); got != "t1,t2,t3" {
		t.Fatalf("sessions = %s, want oldest first", got)
	}
	if got := tokens("SHA256:a", at(time.Minute)); got != "t1,t2" {
		t.Fatalf("live sessions = %s", got)
	}
	must(t, s.DeleteWebSession(ctx, "t1"))
	must(t, s.DeleteWebSession(ctx, "t1")) // again: nothing to do
	if _, err := s.WebSessionByToken(ctx, "t1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted session: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteWebSessions(ctx, "SHA256:a"); err != nil || n != 2 {
		t.Fatalf("DeleteWebSessions = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteWebSessions(ctx, "SHA256:a"); err != nil || n != 0 {
		t.Fatalf("DeleteWebSessions again = %d, %v; want 0", n, err)
	}
	if got := tokens("SHA256:b", t0); got != "t4" {
		t.Fatalf("another key's sessions = %s", got)
	}
}

// readier is the readiness check the server runs on its store.
type readier interface{ Ready(context.Context) error }

func testPingReadyAndClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.Ping(ctx))
	if r, ok := s.(readier); ok {
		must(t, r.Ready(ctx))
	}
	ensureRoom(t, s, "lobby")
	must(t, s.Close())
	if err := s.AppendMessage(ctx, &store.Message{Room: "lobby", Kind: store.KindMessage, Time: t0}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.History(ctx, "lobby", 0, 10); err == nil {
		t.Fatal("history read after Close")
	}
}

// testEntriesAfter: a store that reads entries for catching up (the SQL
// ones) returns every kind after an ID, oldest first.
func testEntriesAfter(t *testing.T, s store.Store) {
	r, ok := s.(store.EntryReader)
	if !ok {
		return // only stores shared between nodes need it
	}
	ctx := context.Background()
	ensureRoom(t, s, "lobby")
	first := appendText(t, s, "lobby", "one")
	topic := &store.Message{Room: "lobby", From: "alice", Text: "plans", Time: t0}
	must(t, s.SetTopic(ctx, topic))
	last := appendText(t, s, "lobby", "two")
	got, err := r.EntriesAfter(ctx, "lobby", first.ID, 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != topic.ID || got[0].Kind != store.KindTopic || got[1].ID != last.ID {
		t.Fatalf("entries after %d: %+v", first.ID, got)
	}
	if got, err := r.EntriesAfter(ctx, "lobby", last.ID, 10); err != nil || len(got) != 0 {
		t.Fatalf("entries after the last: %+v, %v", got, err)
	}
}
