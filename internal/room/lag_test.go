package room

import (
	"fmt"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
)

func newTestClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
}

// say sends text as s and reads s's events up to its own echo, so that only
// the session under test falls behind.
func say(t *testing.T, h *Hub, s *Session, text string) {
	t.Helper()
	h.Input(s, "", text)
	for {
		ev := next(t, s)
		s.Ack([]*Event{ev})
		if ev.Kind == KindMessage && ev.From == s.Nick() && ev.Text == text {
			return
		}
		if ev.Kind == KindError {
			t.Fatalf("%s: %s", s.Nick(), ev.Text)
		}
	}
}

// A burst larger than a reader's queue is skipped and
// counted for it, not a reason to drop it. The reader gets every message up
// to the gap, one missed event that accounts for the rest, then live
// messages; its own message and the answer to its command are never
// skipped.
func TestBurstIsSkippedAndCountedNotDropped(t *testing.T) {
	const queue, burst = 16, 100
	h := newTestHub(t, WithQueueSize(queue))
	reader := connect(t, h, "reader", ViaWeb)
	nextKind(t, reader, KindHistory)
	talker := connect(t, h, "talker", ViaWeb)
	nextKind(t, talker, KindHistory)
	for ev := next(t, reader); ev.Kind != KindJoin || ev.From != "talker"; ev = next(t, reader) {
	}

	for i := range burst {
		say(t, h, talker, fmt.Sprint(i))
	}
	// The reader's own line and command while it lags.
	h.Input(reader, "", "mine")
	h.Input(reader, "", "/who")
	select {
	case <-reader.Done():
		t.Fatalf("reader dropped (%s) by a burst", reader.CloseReason())
	default:
	}

	got, missed := 0, 0
	var mine, members bool
	for missed == 0 {
		ev := next(t, reader)
		reader.Ack([]*Event{ev})
		switch {
		case ev.Kind == KindMessage && ev.From == "talker":
			if ev.Text != fmt.Sprint(got) {
				t.Fatalf("message %q before the gap, want %d", ev.Text, got)
			}
			got++
		case ev.Kind == KindMessage && ev.Text == "mine":
			mine = true
		case ev.Kind == KindMembers:
			members = true
		case ev.Kind == KindMissed:
			if ev.Room != "lobby" {
				t.Fatalf("missed event for %q", ev.Room)
			}
			missed = ev.Count
		}
	}
	if got+missed != burst {
		t.Fatalf("got %d messages and missed %d, want %d in all", got, missed, burst)
	}
	if !mine || !members {
		t.Fatalf("own message shown %v, /who answered %v: they must never be skipped", mine, members)
	}
	t.Logf("queue %d: %d messages delivered, %d missed", queue, got, missed)

	// Caught up: the next message arrives live.
	say(t, h, talker, "after")
	for {
		ev := next(t, reader)
		if ev.Kind == KindMessage {
			if ev.Text != "after" {
				t.Fatalf("after the missed event: %q", ev.Text)
			}
			break
		}
	}
}

// A lagging session that keeps writing is kept however
// long it lags; one that writes nothing for the slow timeout is dropped.
func TestLaggingWithoutProgressIsDropped(t *testing.T) {
	clock := newTestClock()
	h := newTestHub(t, WithQueueSize(16), WithClock(clock.Now), WithSlowTimeout(30*time.Second))
	reader := connect(t, h, "reader", ViaWeb)
	nextKind(t, reader, KindHistory)
	talker := connect(t, h, "talker", ViaWeb)
	nextKind(t, talker, KindHistory)
	for i := range 40 {
		say(t, h, talker, fmt.Sprint(i))
	}
	// Lagging, but writing one event every 20 s: kept.
	for i := range 5 {
		clock.Advance(20 * time.Second)
		reader.Ack([]*Event{next(t, reader)})
		say(t, h, talker, fmt.Sprint("slow", i))
	}
	select {
	case <-reader.Done():
		t.Fatalf("reader dropped (%s) while making progress", reader.CloseReason())
	default:
	}
	// Nothing written for 31 s: dropped at the next message.
	clock.Advance(31 * time.Second)
	say(t, h, talker, "last")
	select {
	case <-reader.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("reader without progress was not dropped")
	}
	if reader.CloseReason() != ReasonSlowClient {
		t.Fatalf("reason %q", reader.CloseReason())
	}
}

// Private messages to a lagging session are skipped and counted too.
func TestMissedPrivateMessagesAreCounted(t *testing.T) {
	h := newTestHub(t, WithQueueSize(16))
	reader := connect(t, h, "reader", ViaWeb)
	nextKind(t, reader, KindHistory)
	talker := connect(t, h, "talker", ViaWeb)
	nextKind(t, talker, KindHistory)
	const n = 60
	for i := range n {
		h.Input(talker, "", fmt.Sprintf("/msg reader %d", i))
		for ev := next(t, talker); ev.Kind != KindPrivate; ev = next(t, talker) {
		}
	}
	got, missed := 0, 0
	for missed == 0 {
		ev := next(t, reader)
		reader.Ack([]*Event{ev})
		switch ev.Kind {
		case KindPrivate:
			got++
		case KindMissed:
			if ev.Room != "" {
				t.Fatalf("missed event for room %q", ev.Room)
			}
			missed = ev.Count
		}
	}
	if got+missed != n {
		t.Fatalf("got %d private messages and missed %d, want %d", got, missed, n)
	}
}

// A lag the writer could not see (it emptied the queue just before the lag
// was recorded) is made good by the next event of that room rather than
// skipping every later one: the missed count first, then the event.
func TestLagSeenAfterTheQueueEmptied(t *testing.T) {
	h := newTestHub(t, WithQueueSize(16))
	reader := connect(t, h, "reader", ViaWeb)
	nextKind(t, reader, KindHistory)
	talker := connect(t, h, "talker", ViaWeb)
	nextKind(t, talker, KindHistory)
	for ev := next(t, reader); ev.Kind != KindJoin || ev.From != "talker"; ev = next(t, reader) {
	}
	// As left by a skip recorded after the writer's last write.
	reader.lagMu.Lock()
	reader.lagRooms = map[string]*roomLag{"lobby": {missed: 3}}
	reader.lagging.Store(true)
	reader.lagMu.Unlock()

	say(t, h, talker, "next")
	if ev := next(t, reader); ev.Kind != KindMissed || ev.Count != 3 || ev.Room != "lobby" {
		t.Fatalf("first event %+v, want the missed count", ev)
	}
	ev := next(t, reader)
	if ev.Kind != KindMessage || ev.Text != "next" {
		t.Fatalf("then %+v, want the message", ev)
	}
	reader.Ack([]*Event{ev}) // the queue is empty: the lag is over
	if reader.lagging.Load() {
		t.Fatal("still lagging")
	}
}
