package wire_test

// Benchmarks of the encoders, each run once per event whatever the number
// of recipients (room.Event.Render). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/wire

import (
	"fmt"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// ordinaryMessage is a message of ordinary length.
func ordinaryMessage() *room.Event {
	return &room.Event{Kind: room.KindMessage, ID: 42, Room: "lobby", From: "alice",
		Text: "hello everybody, this is a message of ordinary length", Time: time.Now()}
}

// BenchmarkEncodeMessage renders one message frame.
func BenchmarkEncodeMessage(b *testing.B) {
	ev := ordinaryMessage()
	b.ReportAllocs()
	for b.Loop() {
		wire.EncodeEvent(ev)
	}
}

// BenchmarkEncodeMembers renders the member list a joiner receives.
func BenchmarkEncodeMembers(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			list := make([]room.Member, n)
			for i := range list {
				list[i] = room.Member{Nick: fmt.Sprintf("member%d", i), Via: room.ViaWeb}
			}
			ev := &room.Event{Kind: room.KindMembers, Room: "lobby", Members: list, Count: n, Time: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				wire.EncodeEvent(ev)
			}
		})
	}
}

// BenchmarkRenderCached is what every recipient after the first pays for the
// frame: the cached rendering.
func BenchmarkRenderCached(b *testing.B) {
	ev := ordinaryMessage()
	ev.Render(room.FormatJSON, wire.EncodeEvent)
	b.ReportAllocs()
	for b.Loop() {
		ev.Render(room.FormatJSON, wire.EncodeEvent)
	}
}

// BenchmarkRenderLine renders one message line.
func BenchmarkRenderLine(b *testing.B) {
	ev := &room.Event{Kind: room.KindMessage, ID: 1, Room: "lobby", From: "alice",
		Text: "hello everybody, this is message number 1, of ordinary length", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		wire.FormatLine(ev)
	}
}
