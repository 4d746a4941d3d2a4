package room

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// writtenCounter counts the events acknowledged to the hub's observer.
type writtenCounter struct {
	nopObserver
	mu sync.Mutex
	n  int
}

func (c *writtenCounter) Written(Via, time.Duration) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *writtenCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// queueMessages has talker say n messages and waits until reader has them
// all queued behind what it had.
func queueMessages(t *testing.T, h *Hub, talker, reader *Session, n int) {
	t.Helper()
	want := len(reader.Events()) + n
	for i := range n {
		h.Input(talker, "", fmt.Sprintf("m%d", i))
	}
	if got := len(reader.Events()); got != want {
		t.Fatalf("%d events queued, want %d", got, want)
	}
}

// emptyQueue takes whatever is queued for s.
func emptyQueue(s *Session) {
	for len(s.Events()) > 0 {
		<-s.Events()
	}
}

// A batch is the event that woke the writer and what is queued behind it,
// in order, never more than asked for, and never waiting for more.
func TestNextBatchTakesWhatIsQueued(t *testing.T) {
	h := newTestHub(t)
	talker := connect(t, h, "talker", ViaWeb)
	reader := connect(t, h, "reader", ViaSSH)
	emptyQueue(reader)
	queueMessages(t, h, talker, reader, 5)

	var buf [3]*Event
	batch := reader.NextBatch(buf[:0], next(t, reader), len(buf))
	if len(batch) != 3 || &batch[0] != &buf[0] {
		t.Fatalf("batch of %d (in the array given: %v), want 3 in it", len(batch), &batch[0] == &buf[0])
	}
	batch = append(batch, reader.NextBatch(nil, next(t, reader), 3)...)
	for i, ev := range batch {
		if want := fmt.Sprintf("m%d", i); ev.Text != want {
			t.Fatalf("event %d: %q, want %q", i, ev.Text, want)
		}
	}
	if len(batch) != 5 || len(reader.Events()) != 0 {
		t.Fatalf("%d events taken, %d left, want 5 and 0", len(batch), len(reader.Events()))
	}
}

// Once the session is closed, Drain writes what is left in batches and
// acknowledges each; a session dropped as too slow has its queue thrown
// away; a failed write ends the drain.
func TestDrain(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reason      CloseReason
		failAt      int // the write that fails, 0 for none
		wantWritten int // of the 10 messages queued
		wantWrites  int
	}{
		{"stopping", ReasonStopping, 0, 10, 3},
		{"kicked", kickedBy("boss", ""), 0, 10, 3},
		{"slow", ReasonSlowClient, 0, 0, 0},
		{"write fails", ReasonClosed, 2, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &writtenCounter{}
			h := newTestHub(t, WithObserver(obs))
			talker := connect(t, h, "talker", ViaWeb)
			reader := connect(t, h, "reader", ViaSSH)
			emptyQueue(reader)
			queueMessages(t, h, talker, reader, 10)
			reader.Close(tc.reason)

			var written []*Event
			writes := 0
			reader.Drain(4, func(batch []*Event) error {
				writes++
				if len(batch) > 4 {
					t.Errorf("batch of %d, want at most 4", len(batch))
				}
				if writes == tc.failAt {
					return errors.New("peer gone")
				}
				written = append(written, batch...)
				return nil
			})
			if len(written) != tc.wantWritten || writes != tc.wantWrites {
				t.Fatalf("%d events in %d writes, want %d in %d", len(written), writes, tc.wantWritten, tc.wantWrites)
			}
			for i, ev := range written {
				if want := fmt.Sprintf("m%d", i); ev.Text != want {
					t.Fatalf("event %d: %q, want %q", i, ev.Text, want)
				}
			}
			if got := obs.count(); got != tc.wantWritten {
				t.Errorf("%d events acknowledged, want %d", got, tc.wantWritten)
			}
		})
	}
}

// Kicks and bans close with their own code; their text names the operator
// and the reason given, as the part notice always has.
func TestKickAndBanCloseReasons(t *testing.T) {
	h := newTestHub(t, WithAdmins(opKey))
	op := connectAs(t, h, "boss", opKey, "192.0.2.1")
	for _, tc := range []struct {
		line string
		want CloseReason
	}{
		{"/kick gus spamming the room", CloseReason{CodeKicked, "kicked by boss: spamming the room"}},
		{"/kick gus", CloseReason{CodeKicked, "kicked by boss"}},
		{"/ban gus 1h flooding", CloseReason{CodeBanned, "banned by boss: flooding"}},
	} {
		gus := connectAs(t, h, "gus", "", "192.0.2.7")
		h.Input(op, "", tc.line)
		<-gus.Done()
		if got := gus.CloseReason(); got != tc.want {
			t.Errorf("%s: closed with %+v, want %+v", tc.line, got, tc.want)
		}
		gus.Leave()
	}
}
