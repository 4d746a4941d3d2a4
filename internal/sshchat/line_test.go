package sshchat

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// recordingWriter keeps each Write apart.
type recordingWriter struct{ writes [][]byte }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *recordingWriter) all() []byte { return bytes.Join(w.writes, nil) }

func notices(texts ...string) []*room.Event {
	evs := make([]*room.Event, len(texts))
	for i, text := range texts {
		evs[i] = &room.Event{Kind: room.KindNotice, Text: text}
	}
	return evs
}

// A batch's lines go out as the same bytes as one Write per event would
// send, in one Write of at most maxLineBatchBytes; a rendering that long on
// its own is written by itself.
func TestWriteLinesBatchesBytes(t *testing.T) {
	big := strings.Repeat("x", maxLineBatchBytes)
	many := make([]string, maxLineBatch)
	for i := range many {
		many[i] = fmt.Sprintf("%d %s", i, strings.Repeat("y", 2000))
	}
	for _, tc := range []struct {
		name   string
		batch  []*room.Event
		writes int
	}{
		{"one", notices("hello"), 1},
		{"small", notices("a", "b", "c"), 1},
		{"a big one between", notices("a", big, "b"), 3},
		{"more than a write's worth", notices(many...), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var perEvent []byte
			for _, ev := range tc.batch {
				perEvent = append(perEvent, ev.Render(room.FormatLine, wire.FormatLine)...)
			}
			w := &recordingWriter{}
			s := &Server{}
			if err := s.writeLines(w, tc.batch); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.all(), perEvent) {
				t.Fatalf("wrote %q, want %q", w.all(), perEvent)
			}
			if len(w.writes) != tc.writes {
				t.Errorf("%d writes, want %d", len(w.writes), tc.writes)
			}
			for _, p := range w.writes {
				if len(p) > maxLineBatchBytes && !bytes.Equal(p, tc.batch[1].Render(room.FormatLine, wire.FormatLine)) {
					t.Errorf("a write of %d bytes, not the big line alone", len(p))
				}
			}
		})
	}
}

// Line mode writes what is queued in batches, in order, then drains the
// queue once the session is closed.
func TestLineWriterBatches(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1000, 1000))
	talker, err := hub.Connect(room.Identity{Nick: "talker", Via: room.ViaWeb})
	must(t, err)
	defer talker.Leave()
	reader, err := hub.Connect(room.Identity{Nick: "reader", Via: room.ViaSSH})
	must(t, err)
	for len(reader.Events()) > 0 {
		<-reader.Events()
	}
	const n = maxLineBatch + 8
	for i := range n {
		hub.Input(talker, "", fmt.Sprintf("m%d", i))
	}
	if got := len(reader.Events()); got != n {
		t.Fatalf("%d events queued, want %d", got, n)
	}
	reader.Close(room.ReasonStopping)
	w := &recordingWriter{}
	(&Server{}).lineWriter(w, reader)
	if len(w.writes) != 2 {
		t.Errorf("%d writes for %d events, want 2", len(w.writes), n)
	}
	lines := strings.Split(strings.TrimSuffix(string(w.all()), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d: %q", len(lines), n, lines)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(" m%d", i); !strings.HasSuffix(l, want) {
			t.Fatalf("line %d: %q, want it to end with %q", i, l, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// In line mode every input line is one message, whatever the front-end
// core makes of line breaks: a bot piping lines keeps meaning one message
// each, and a lone CR still ends a line as it always did.
func TestLineModeInputIsOneMessagePerLine(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1000, 1000))
	bot, err := hub.Connect(room.Identity{Nick: "bot", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Leave()
	for len(bot.Events()) > 0 {
		<-bot.Events()
	}
	s := &Server{hub: hub, maxLine: 1000}
	s.lineReader(strings.NewReader("one\rtwo\r\nthree\nfour"), bot)
	var got []string
	for len(bot.Events()) > 0 {
		if ev := <-bot.Events(); ev.Kind == room.KindMessage {
			got = append(got, ev.Text)
		}
	}
	if strings.Join(got, "|") != "one|two|three|four" {
		t.Errorf("messages %q, want one, two, three and four", got)
	}
}
