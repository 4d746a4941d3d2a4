package sshchat

// Benchmarks of the SSH front-end: rendering one event for line mode and for
// the terminal interface (each done once per event), and the terminal
// interface's own work per session: one Update and View for an incoming
// message, or for a keystroke, with the history the session holds. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/sshchat

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/tertulia/tertulia/internal/room"
)

var renderSink []byte

func benchMessage(id uint64) *room.Event {
	return &room.Event{Kind: room.KindMessage, ID: id, Room: "lobby", From: "alice",
		Text: fmt.Sprintf("hello everybody, this is message number %d, of ordinary length", id), Time: time.Now()}
}

func BenchmarkRenderLine(b *testing.B) {
	ev := benchMessage(1)
	b.ReportAllocs()
	for b.Loop() {
		renderSink = renderLine(ev)
	}
}

func BenchmarkRenderTUI(b *testing.B) {
	ev := benchMessage(1)
	b.ReportAllocs()
	for b.Loop() {
		renderSink = renderTUI(ev)
	}
}

// benchModel is a terminal session of 100x30 that has received history
// messages (the scrollback keeps at most 1000 lines).
func benchModel(b *testing.B, history int) (*tuiModel, uint64) {
	b.Helper()
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<16))
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, 100, 30)
	// What the session got on connecting: welcome, join, members, history.
	for {
		select {
		case ev := <-cs.Events():
			m.Update(eventMsg{ev})
			continue
		default:
		}
		break
	}
	id := uint64(0)
	for range history {
		id++
		m.Update(eventMsg{benchMessage(id)})
	}
	m.View()
	return m, id
}

// BenchmarkTUIMessage is what one terminal session does for each message of
// its room: Update (file the line, point the viewport at the bottom) and
// View (the frame handed to the renderer). Every TUI member of a room pays
// it for every message.
func BenchmarkTUIMessage(b *testing.B) {
	for _, history := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			m, id := benchModel(b, history)
			events := make([]*room.Event, 1024)
			for i := range events {
				events[i] = benchMessage(0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Every message adds a line: below the scrollback's cap of
				// 1000, start again from the stated history now and then.
				if history < scrollback && i%20 == 19 {
					b.StopTimer()
					m, id = benchModel(b, history)
					b.StartTimer()
				}
				id++
				ev := events[i%len(events)]
				ev.ID = id
				m.Update(eventMsg{ev})
				m.View()
			}
		})
	}
}

// BenchmarkTUIKeystroke is one key typed into the input line, with a full
// screen of history above it: every key redraws the view.
func BenchmarkTUIKeystroke(b *testing.B) {
	for _, history := range []int{0, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			m, _ := benchModel(b, history)
			key := tea.KeyPressMsg{Code: 'a', Text: "a"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%200 == 199 {
					m.input.Reset()
				}
				m.Update(key)
				m.View()
			}
		})
	}
}

// BenchmarkViewportFollow is what the interface asks of the viewport for
// every event while it follows the bottom (tuiModel.sync and View): with all
// the scrollback in it, or with only the last screenful. The viewport
// soft-wraps, so each call measures the width of every line it holds.
func BenchmarkViewportFollow(b *testing.B) {
	var all []string
	for i := range 1000 {
		all = append(all, string(renderTUI(benchMessage(uint64(i+1)))))
	}
	for _, keep := range []int{1000, 22} {
		b.Run(fmt.Sprintf("lines=%d", keep), func(b *testing.B) {
			vp := viewport.New()
			vp.SoftWrap = true
			vp.SetWidth(80)
			vp.SetHeight(22)
			b.ReportAllocs()
			for b.Loop() {
				atBottom := vp.AtBottom()
				vp.SetContentLines(all[len(all)-keep:])
				if atBottom {
					vp.GotoBottom()
				}
				_ = vp.View()
			}
		})
	}
}

// BenchmarkTUIView is View alone (the frame handed to the renderer after
// every Update), with a full scrollback: the part of BenchmarkTUIMessage
// that does not depend on the event.
func BenchmarkTUIView(b *testing.B) {
	for _, history := range []int{0, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			m, _ := benchModel(b, history)
			b.ReportAllocs()
			for b.Loop() {
				m.View()
			}
		})
	}
}
