package sshchat

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/store"
)

// switchedBus stands for a cluster node's bus that may lose its lease for
// a while: its Live switches; entries go straight back to the node's own
// feed (no other node).
type switchedBus struct{ live atomic.Bool }

type loopFeed struct{ deliver func(store.Message) }

func (b *switchedBus) Follow(_ string, _ int64, deliver func(store.Message)) (room.Feed, error) {
	return loopFeed{deliver}, nil
}
func (b *switchedBus) Publish(store.Message) error { return nil }
func (b *switchedBus) Live() bool                  { return b.live.Load() }
func (f loopFeed) Offer(m store.Message)           { f.deliver(m) }
func (f loopFeed) Stop()                           {}

// bobOnSwitchedBus is bob's terminal on a hub whose bus is live until the
// test switches it, with alice in the lobby; what either had queued so far
// is read.
func bobOnSwitchedBus(t *testing.T, opts ...room.Option) (*switchedBus, *room.Session, *room.Session, *tuiModel) {
	t.Helper()
	bus := &switchedBus{}
	bus.live.Store(true)
	opts = append([]room.Option{room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1 << 12),
		room.WithStore(store.NewMemory()), room.WithBus(bus)}, opts...)
	hub := room.NewHub(opts...)
	if err := hub.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, 100, 24)
	readQueued(m, cs)
	for len(alice.Events()) > 0 {
		<-alice.Events()
	}
	return bus, alice, cs, m
}

// enterLine types text in m and presses Enter.
func enterLine(m *tuiModel, text string) tea.Cmd {
	typeText(m, text)
	_, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	return cmd
}

// Lines typed in the terminal while the node cannot reach the cluster
// (refused with cluster_unavailable) are not shown refused: the terminal
// says it sends them again, does so with their cid once the node serves
// again, and they reach the others once each, in the order typed, with the
// line typed after the refusal behind them.
func TestTUISendsAgainLinesRefusedWhileTheClusterIsUnavailable(t *testing.T) {
	bus, alice, cs, m := bobOnSwitchedBus(t)

	bus.live.Store(false)
	enterLine(m, "first")
	enterLine(m, "second")
	// The refusals, as the session's pump hands them over.
	var batch eventsMsg
	for len(cs.Events()) > 0 {
		batch = append(batch, <-cs.Events())
	}
	_, tick := m.Update(batch)
	if tick == nil {
		t.Fatal("no new try scheduled for the refused lines")
	}
	enterLine(m, "third") // waits behind them: the tick scheduled sends it too
	log := shownLog(m)
	if strings.Contains(log, "message not sent") || !strings.Contains(log, "will be sent again") {
		t.Fatalf("the terminal shows:\n%s\nwant the lines said to be sent again, no refusal", log)
	}
	if status := m.statusLine(); !strings.Contains(status, "3 lines waiting") {
		t.Fatalf("status line %q: want the three lines counted as waiting", status)
	}

	bus.live.Store(true)
	// The model's ticks, awaited as the program would, and its session's
	// answers handed back to it, until nothing waits.
	for tick != nil || len(m.waiting) > 0 {
		if tick == nil {
			t.Fatalf("%d lines waiting with nothing scheduled", len(m.waiting))
		}
		_, tick = m.Update(tick())
		var answers eventsMsg
		for len(cs.Events()) > 0 {
			answers = append(answers, <-cs.Events())
		}
		if _, cmd := m.Update(answers); cmd != nil {
			tick = cmd
		}
	}
	var got []string
	for len(alice.Events()) > 0 {
		if ev := <-alice.Events(); ev.Kind == room.KindMessage && ev.From == "bob" {
			got = append(got, ev.Text)
		}
	}
	if want := []string{"first", "second", "third"}; !slices.Equal(got, want) {
		t.Fatalf("alice got %q from bob, want %q; bob's terminal:\n%s", got, want, shownLog(m))
	}
	if log := shownLog(m); strings.Count(log, "<bob> first") != 1 || strings.Contains(log, "message not sent") {
		t.Fatalf("the terminal shows:\n%s\nwant bob's first line once, no refusal", log)
	}
}

// Lines whose answer never came, once they are old, no longer stop later
// lines from being sent again: a line refused while the cluster is
// unavailable, after many such, is still said to be sent again, not shown
// refused.
func TestTUISendsAgainAfterManyLinesWentUnanswered(t *testing.T) {
	bus, _, cs, m := bobOnSwitchedBus(t, room.WithRate(1<<30, math.Inf(1)))
	clock := time.Now()
	m.now = func() time.Time { return clock }
	for i := range maxInFlight + 10 {
		enterLine(m, fmt.Sprintf("line %d", i))
		if len(m.waiting) > 0 {
			t.Fatalf("line %d waits to be sent", i)
		}
	}
	// Their copies never reach the model.
	for len(cs.Events()) > 0 {
		<-cs.Events()
	}

	clock = clock.Add(2 * inFlightFor)
	bus.live.Store(false)
	enterLine(m, "during the outage")
	readQueued(m, cs)
	if log := shownLog(m); strings.Contains(log, "message not sent") || !strings.Contains(log, "will be sent again") {
		t.Fatalf("the terminal shows:\n%s\nwant the line said to be sent again, no refusal", log)
	}
}
