package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Many rooms appending at once: every message is stored once, each
// caller's IDs increase in its own order, and a bad message in a group
// commit fails for its sender only.
func TestGroupCommitConcurrentRooms(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const rooms, per = 8, 200
	for i := range rooms {
		if err := s.EnsureRoom(ctx, Room{Name: fmt.Sprint("r", i), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, rooms+1)
	for i := range rooms {
		wg.Go(func() {
			room := fmt.Sprint("r", i)
			var last int64
			for j := range per {
				m := &Message{Room: room, Kind: KindMessage, From: "a", Text: fmt.Sprint(j), Time: time.Now()}
				if err := s.AppendMessage(ctx, m); err != nil {
					errs <- err
					return
				}
				if m.ID <= last {
					errs <- fmt.Errorf("%s: id %d after %d", room, m.ID, last)
					return
				}
				last = m.ID
			}
		})
	}
	wg.Go(func() {
		for range per / 4 {
			if err := s.AppendMessage(ctx, &Message{Room: "nowhere", Kind: KindMessage, Time: time.Now()}); err == nil {
				errs <- errors.New("a message to an unknown room was stored")
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range rooms {
		h, err := s.History(ctx, fmt.Sprint("r", i), 0, per+1)
		if err != nil || len(h) != per {
			t.Fatalf("r%d: %d messages, %v", i, len(h), err)
		}
		for j, m := range h {
			if m.Text != fmt.Sprint(j) {
				t.Fatalf("r%d: message %d is %q", i, j, m.Text)
			}
		}
	}
}

// Messages queued together are committed in queue order, and one that
// fails does not take the others of its group with it.
func TestQueueMessageOrderAndIsolatedFailure(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var ms []*Message
	var waits []func(context.Context) error
	for i := range 300 {
		m := &Message{Room: "lobby", Kind: KindMessage, From: "a", Text: fmt.Sprint(i), Time: time.Now()}
		if i == 150 {
			m.Room = "nowhere"
		}
		ms = append(ms, m)
		waits = append(waits, s.QueueMessage(m))
	}
	var last int64
	for i, wait := range waits {
		err := wait(ctx)
		if i == 150 {
			if err == nil {
				t.Fatal("a message to an unknown room was stored")
			}
			continue
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if ms[i].ID <= last {
			t.Fatalf("message %d: id %d after %d", i, ms[i].ID, last)
		}
		last = ms[i].ID
	}
	h, err := s.History(ctx, "lobby", 0, 1000)
	if err != nil || len(h) != 299 {
		t.Fatalf("%d stored, %v", len(h), err)
	}
}

// Close answers every queued append, and what it answered as stored is
// there after reopening; later appends are refused.
func TestCloseFlushesQueuedAppends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var waits []func(context.Context) error
	for i := range 500 {
		waits = append(waits, s.QueueMessage(&Message{Room: "lobby", Kind: KindMessage, Text: fmt.Sprint(i), Time: time.Now()}))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, wait := range waits {
		// Answered already: Close waited for the queue.
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := wait(done); err == nil {
			stored++
		} else if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	if stored != 500 {
		t.Fatalf("%d of 500 stored before Close returned", stored)
	}
	if err := s.AppendMessage(ctx, &Message{Room: "lobby", Kind: KindMessage, Time: time.Now()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2 := openTest(t, dir)
	h, err := s2.History(ctx, "lobby", 0, 1000)
	if err != nil || len(h) != 500 {
		t.Fatalf("after reopen: %d messages, %v", len(h), err)
	}
}

// A caller whose context ends before its message is taken withdraws it.
func TestWithdrawnAppendIsNotStored(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.EnsureRoom(ctx, Room{Name: "lobby", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	req := &appendReq{m: &Message{Room: "lobby", Kind: KindMessage, Text: "late", Time: time.Now()}, done: make(chan error, 1)}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := req.wait(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v", err)
	}
	// Now queued: the batcher must skip it.
	s.batch.mu.Lock()
	s.batch.queue = append(s.batch.queue, req)
	s.batch.mu.Unlock()
	if err := s.AppendMessage(ctx, &Message{Room: "lobby", Kind: KindMessage, Text: "after", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "lobby", 0, 10)
	if err != nil || texts(h) != "after" {
		t.Fatalf("history = %s, %v", texts(h), err)
	}
}
