package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Waiting messages are kept per key up to a cap, taken once (oldest
// first, those older than since left out), pruned by age and forgotten
// with the key.
func testWaiting(t *testing.T, s store.Store) {
	ctx := context.Background()
	add := func(fp, text string, ms int, max int) error {
		w := &store.Waiting{Fingerprint: fp, From: "bob", FromKey: "SHA256:bob", To: "alice", Text: text, Time: atMS(ms), PrivateID: int64(ms)}
		err := s.AddWaiting(ctx, w, max)
		if err == nil && w.ID == 0 {
			t.Fatalf("stored %q without an id", text)
		}
		return err
	}
	must(t, add("SHA256:a", "old", 1, 3))
	must(t, add("SHA256:a", "one", 10, 3))
	must(t, add("SHA256:b", "for b", 11, 3))
	must(t, add("SHA256:a", "two\nlines", 12, 3))
	if err := add("SHA256:a", "too many", 13, 3); !errors.Is(err, store.ErrMailboxFull) {
		t.Fatalf("fourth message to a key capped at 3: %v, want ErrMailboxFull", err)
	}
	got, err := s.TakeWaiting(ctx, "SHA256:a", atMS(5))
	must(t, err)
	if len(got) != 2 || got[0].Text != "one" || got[1].Text != "two\nlines" {
		t.Fatalf("taken %+v; want one, two\\nlines (the one before since left out)", got)
	}
	w := got[0]
	if w.From != "bob" || w.FromKey != "SHA256:bob" || w.To != "alice" || w.Fingerprint != "SHA256:a" || !w.Time.Equal(atMS(10)) || w.PrivateID != 10 {
		t.Fatalf("taken message %+v, want it as stored", w)
	}
	if again, _ := s.TakeWaiting(ctx, "SHA256:a", t0); len(again) != 0 {
		t.Fatalf("taken twice: %+v", again)
	}
	must(t, add("SHA256:a", "after taking", 20, 3))
	if n, err := s.PruneMail(ctx, atMS(15)); err != nil || n != 1 {
		t.Fatalf("prune before 15ms: %d, %v; want b's message gone", n, err)
	}
	if left, _ := s.TakeWaiting(ctx, "SHA256:b", t0); len(left) != 0 {
		t.Fatalf("pruned message still taken: %+v", left)
	}
	must(t, s.ForgetKey(ctx, "SHA256:a"))
	if left, _ := s.TakeWaiting(ctx, "SHA256:a", t0); len(left) != 0 {
		t.Fatalf("forgotten key still has %+v", left)
	}
}

// Of concurrent takers of one key's waiting messages, exactly one gets
// each message.
func testWaitingTakenOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 20 {
		must(t, s.AddWaiting(ctx, &store.Waiting{Fingerprint: "SHA256:a", From: "bob", To: "alice", Text: "m", Time: atMS(i + 1)}, 100))
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.TakeWaiting(ctx, "SHA256:a", t0)
			if err != nil {
				t.Error(err)
			}
			counts[i] = len(got)
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 20 {
		t.Fatalf("concurrent takers got %v messages in all, want each of the 20 once", counts)
	}
}

// Mentions keep the newest per key, are listed after since, pruned by age
// and forgotten with the key; a key's last-seen time reads back.
func testMentionsAndSeen(t *testing.T, s store.Store) {
	ctx := context.Background()
	if seen, err := s.KeySeen(ctx, "SHA256:a"); err != nil || !seen.IsZero() {
		t.Fatalf("never seen: %v, %v", seen, err)
	}
	must(t, s.SetKeysSeen(ctx, []string{"SHA256:a", "SHA256:b"}, atMS(7)))
	must(t, s.SetKeysSeen(ctx, []string{"SHA256:a"}, atMS(9)))
	if seen, err := s.KeySeen(ctx, "SHA256:a"); err != nil || !seen.Equal(atMS(9)) {
		t.Fatalf("seen %v, %v; want the last set", seen, err)
	}
	if seen, err := s.KeySeen(ctx, "SHA256:b"); err != nil || !seen.Equal(atMS(7)) {
		t.Fatalf("b seen %v, %v; want the time set with a's", seen, err)
	}
	m := func(text string, ms int) store.Mention {
		return store.Mention{Room: "dev", MessageID: int64(ms), From: "bob", Text: text, Time: atMS(ms)}
	}
	must(t, s.AddMentions(ctx, "SHA256:a", []store.Mention{m("m1", 1), m("m2", 2)}, 3))
	must(t, s.AddMentions(ctx, "SHA256:b", []store.Mention{m("b1", 3)}, 3))
	must(t, s.AddMentions(ctx, "SHA256:a", []store.Mention{m("m3", 4), m("m4", 5)}, 3))
	got, err := s.Mentions(ctx, "SHA256:a", t0, 10)
	must(t, err)
	if len(got) != 3 || got[0].Text != "m2" || got[2].Text != "m4" {
		t.Fatalf("mentions %+v; want the newest 3, oldest first", got)
	}
	if g := got[2]; g.Room != "dev" || g.MessageID != 5 || g.From != "bob" || !g.Time.Equal(atMS(5)) {
		t.Fatalf("mention %+v, want it as stored", g)
	}
	if got, _ := s.Mentions(ctx, "SHA256:a", atMS(3), 1); len(got) != 1 || got[0].Text != "m4" {
		t.Fatalf("limit 1: %+v; want the newest", got)
	}
	if n, err := s.PruneMail(ctx, atMS(4)); err != nil || n != 2 {
		t.Fatalf("prune: %d, %v; want m2 and b1 gone", n, err)
	}
	if got, _ := s.Mentions(ctx, "SHA256:a", t0, 10); len(got) != 2 {
		t.Fatalf("after prune: %+v", got)
	}
	must(t, s.ForgetKey(ctx, "SHA256:a"))
	if got, _ := s.Mentions(ctx, "SHA256:a", t0, 10); len(got) != 0 {
		t.Fatalf("forgotten key's mentions: %+v", got)
	}
	if seen, _ := s.KeySeen(ctx, "SHA256:a"); !seen.IsZero() {
		t.Fatalf("forgotten key still seen at %v", seen)
	}
}

// MessagesSince gives a room's newest messages after a time, oldest
// first, without topic changes.
func testMessagesSince(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensureRoom(t, s, "dev")
	for i, text := range []string{"a", "b", "c", "d"} {
		must(t, s.AppendMessage(ctx, &store.Message{Room: "dev", Kind: store.KindMessage, From: "bob", Text: text, Time: atMS(i + 1)}))
	}
	must(t, s.SetTopic(ctx, &store.Message{Room: "dev", Kind: store.KindTopic, From: "bob", Text: "topic", Time: atMS(5)}))
	if got, err := s.MessagesSince(ctx, "dev", atMS(2), 10); err != nil || texts(got) != "c,d" {
		t.Fatalf("since 2ms: %q, %v; want c d", texts(got), err)
	}
	if got, _ := s.MessagesSince(ctx, "dev", t0, 2); texts(got) != "c,d" {
		t.Fatalf("limit 2: %q; want the newest two", texts(got))
	}
	if got, _ := s.MessagesSince(ctx, "nowhere", t0, 2); len(got) != 0 {
		t.Fatalf("unknown room: %q", texts(got))
	}
}

// atMS is the suite's clock n milliseconds on (stores keep milliseconds).
func atMS(n int) time.Time { return at(time.Duration(n) * time.Millisecond) }
