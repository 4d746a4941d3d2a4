package sshchat

// Benchmarks of the SSH front-end: rendering one event for the terminal
// interface (done once per event; line mode's is measured in package wire),
// and the terminal
// interface's own work per session: one Update and View (which draws on the
// terminal, here io.Discard) for an incoming message, a batch of them, or a
// keystroke, with the history the session holds. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/sshchat

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/colorprofile"

	"github.com/tertulia/tertulia/internal/room"
)

var renderTextSink string

func benchMessage(id uint64) *room.Event {
	return &room.Event{Kind: room.KindMessage, ID: id, Room: "lobby", From: "alice",
		Text: fmt.Sprintf("hello everybody, this is message number %d, of ordinary length", id), Time: time.Now()}
}

func BenchmarkRenderTUI(b *testing.B) {
	ev := benchMessage(1)
	b.ReportAllocs()
	for b.Loop() {
		renderTextSink = renderTUI(ev)
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
	// The terminal: frames are written, to nowhere, as a session's are.
	m.scr = newScreen(io.Discard, colorprofile.ANSI256, 100, 30)
	// Rows converted to the terminal's colours are shared, as between the
	// sessions of a server.
	m.scr.converted, m.scr.frames = &profileRows{}, &sync.Pool{}
	// What the session got on connecting: welcome, join, members, history.
	for {
		select {
		case ev := <-cs.Events():
			m.Update(eventsMsg{ev})
			continue
		default:
		}
		break
	}
	id := uint64(0)
	for range history {
		id++
		m.Update(eventsMsg{benchMessage(id)})
	}
	m.View()
	return m, id
}

// BenchmarkTUIMessage is what one terminal session does for each message of
// its room: Update (file the line, show the bottom) and View (build the
// frame, write what changed). Every TUI member of a room pays it for every
// message.
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
				m.Update(eventsMsg{ev})
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

// BenchmarkViewportFollow is what the interface asked of bubbles' viewport
// for every event while it followed the bottom, before scroller replaced it:
// with all the scrollback in it, or with only the last screenful. The
// viewport soft-wraps, so each call measures the width of every line it
// holds.
func BenchmarkViewportFollow(b *testing.B) {
	var all []string
	for i := range 1000 {
		all = append(all, renderTUI(benchMessage(uint64(i+1))))
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

// BenchmarkTUIView is View alone (called after every Update), with no
// history or a full scrollback, when nothing changed: the frame is built and
// compared with what the terminal shows, and nothing is written.
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

// BenchmarkScrollerFollow is BenchmarkViewportFollow for the message area
// that replaced the viewport: its lines set and its rows built, with all
// the scrollback or the last screenful.
func BenchmarkScrollerFollow(b *testing.B) {
	var all []line
	for i := range 1000 {
		all = appendLines(all, renderTUI(benchMessage(uint64(i+1))))
	}
	for _, keep := range []int{1000, 22} {
		b.Run(fmt.Sprintf("lines=%d", keep), func(b *testing.B) {
			s := scroller{follow: true}
			s.setSize(80, 22)
			var rows []string
			b.ReportAllocs()
			for b.Loop() {
				s.setLines(all[len(all)-keep:], s.follow)
				rows = s.appendRows(rows[:0])
			}
		})
	}
}

// BenchmarkTUIBatch is what a terminal session does when several events
// wait in its queue: the pump sends them as one message, so one Update and
// one View serve them all. ns/event is the cost per event.
func BenchmarkTUIBatch(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
			m, id := benchModel(b, scrollback)
			batch := make(eventsMsg, size)
			for i := range batch {
				batch[i] = benchMessage(0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, ev := range batch {
					id++
					ev.ID = id
				}
				m.Update(batch)
				m.View()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
		})
	}
}

// BenchmarkTUIScrolledBack is BenchmarkTUIMessage with a full scrollback
// while the user reads further up: the one case where the whole scrollback
// is walked for every event.
func BenchmarkTUIScrolledBack(b *testing.B) {
	m, id := benchModel(b, scrollback)
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	if m.msgs.follow {
		b.Fatal("still following after PgUp")
	}
	ev := benchMessage(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id++
		ev.ID = id
		m.Update(eventsMsg{ev})
		m.View()
	}
}

// BenchmarkFrameWrite is one message's frame (the message area scrolled,
// its new row, the cursor put back) written to a real SSH channel for a
// 256-colour terminal: as Bubble Tea's renderer and the screen did before
// (through colorprofile.Writer, which parses the frame to downsample its
// colours, then charm's emulated PTY, which copies it twice looking for
// "\n"), and as the screen does now (the row converted once for every
// session, the frame written to the channel as it is).
func BenchmarkFrameWrite(b *testing.B) {
	row := renderTUI(benchMessage(1))
	frame := func(row string) []byte {
		return []byte("\x1b[1;22r\x1b[1S\x1b[r\x1b[?25l\x1b[22;1H\x1b[m\x1b[2K" + row + "\x1b[m\x1b[24;3H\x1b[?25h")
	}
	b.Run("reparsed", func(b *testing.B) {
		ch := benchSSHChannel(b)
		w := colorprofile.Writer{Forward: ssh.NewPtyWriter(ch), Profile: colorprofile.ANSI256}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.Write(frame(row)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("converted", func(b *testing.B) {
		ch := benchSSHChannel(b)
		out := ptyOutput{ch}
		rows := &profileRows{}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := out.Write(frame(rows.convert(colorprofile.ANSI256, row))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
