package sshchat

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/room"
)

type ptyPayload struct {
	Term              string
	Columns, Rows     uint32
	WidthPx, HeightPx uint32
	Modes             string
}

type winPayload struct{ Columns, Rows, WidthPx, HeightPx uint32 }

const huge = 1<<32 - 1

// ptySeeds and windowSeeds seed the fuzz targets: sizes of 2^32-1 and 2^31,
// the edges of the clamp, and payloads cut short or padded.
func ptySeeds() [][]byte {
	seeds := [][]byte{
		nil, {}, {0, 0, 0, 5, 'x'}, []byte("garbage"),
		gossh.Marshal(ptyPayload{Term: strings.Repeat("x", maxTermName+1), Columns: 80, Rows: 24}),
		gossh.Marshal(ptyPayload{Term: "xterm\x1b]0;t\a", Columns: 80, Rows: 24}),
		gossh.Marshal(ptyPayload{Term: "xterm", Columns: 80, Rows: 24, Modes: strings.Repeat("\x01\x00\x00\x00\x03", 1000)}),
	}
	for _, size := range [][2]uint32{{80, 24}, {huge, 24}, {80, huge}, {huge, huge}, {0, 0}, {MaxTermSize, MaxTermSize}, {MaxTermSize + 1, 1}, {1 << 31, 1 << 31}} {
		p := gossh.Marshal(ptyPayload{"xterm-256color", size[0], size[1], huge, huge, "\x00"})
		seeds = append(seeds, p, p[:len(p)-3], append(p, 0))
	}
	return seeds
}

func windowSeeds() [][]byte {
	seeds := [][]byte{nil, {}, {1, 2, 3}}
	for _, size := range [][2]uint32{{80, 24}, {huge, 24}, {80, huge}, {huge, huge}, {0, 0}, {MaxTermSize + 1, MaxTermSize + 1}} {
		p := gossh.Marshal(winPayload{size[0], size[1], huge, 0})
		seeds = append(seeds, p, p[:len(p)-1], append(p, 0))
	}
	return seeds
}

func checkWindow(t *testing.T, win ssh.Window) {
	t.Helper()
	if win.Width < 1 || win.Width > MaxTermSize || win.Height < 1 || win.Height > MaxTermSize {
		t.Fatalf("size %dx%d outside 1..%d", win.Width, win.Height, MaxTermSize)
	}
	if win.WidthPixels < 0 || win.WidthPixels > maxTermPixels || win.HeightPixels < 0 || win.HeightPixels > maxTermPixels {
		t.Fatalf("pixels %dx%d outside 0..%d", win.WidthPixels, win.HeightPixels, maxTermPixels)
	}
}

// FuzzPtyRequest: any pty-req payload is refused or comes out well formed,
// with a short printable TERM and sizes within bounds; it never panics.
func FuzzPtyRequest(f *testing.F) {
	for _, s := range ptySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		clean, win, ok := sanitizePtyRequest(payload)
		if !ok {
			return
		}
		checkWindow(t, win)
		var got ptyPayload
		if err := gossh.Unmarshal(clean, &got); err != nil {
			t.Fatalf("re-encoded payload does not parse: %v", err)
		}
		if int(got.Columns) != win.Width || int(got.Rows) != win.Height {
			t.Fatalf("payload says %dx%d, window %dx%d", got.Columns, got.Rows, win.Width, win.Height)
		}
		if len(got.Term) > maxTermName || !validTermName(got.Term) || len(got.Modes) > maxTermModes {
			t.Fatalf("TERM %q or %d bytes of modes let through", got.Term, len(got.Modes))
		}
	})
}

// FuzzWindowChange: any window-change payload is refused or gives a size
// within bounds, which the terminal model and screen take as they are.
func FuzzWindowChange(f *testing.F) {
	for _, s := range windowSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		win, ok := parseWindowChange(payload)
		if !ok {
			return
		}
		checkWindow(t, win)
		scr := newScreen(io.Discard, colorprofile.ANSI, 80, 24)
		scr.resize(win.Width, win.Height)
		if scr.width != win.Width || scr.height != win.Height {
			t.Fatalf("screen took %dx%d as %dx%d", win.Width, win.Height, scr.width, scr.height)
		}
	})
}

func TestPtyRequestClamped(t *testing.T) {
	for _, tc := range []struct {
		cols, rows uint32
		w, h       int
	}{
		{80, 24, 80, 24}, {huge, 24, MaxTermSize, 24}, {80, huge, 80, MaxTermSize},
		{huge, huge, MaxTermSize, MaxTermSize}, {0, 0, defaultTermWidth, defaultTermHeight},
	} {
		clean, win, ok := sanitizePtyRequest(gossh.Marshal(ptyPayload{"xterm", tc.cols, tc.rows, 640, 480, "\x00"}))
		if !ok || win.Width != tc.w || win.Height != tc.h {
			t.Errorf("%dx%d: got %dx%d ok=%v, want %dx%d", tc.cols, tc.rows, win.Width, win.Height, ok, tc.w, tc.h)
			continue
		}
		var got ptyPayload
		if err := gossh.Unmarshal(clean, &got); err != nil || got.Term != "xterm" || got.Modes != "\x00" || got.WidthPx != 640 {
			t.Errorf("%dx%d: re-encoded as %+v (%v)", tc.cols, tc.rows, got, err)
		}
	}
	for _, bad := range []ptyPayload{
		{Term: strings.Repeat("x", maxTermName+1), Columns: 80, Rows: 24},
		{Term: "xterm\x1b", Columns: 80, Rows: 24},
		{Term: "xterm", Columns: 80, Rows: 24, Modes: strings.Repeat("x", maxTermModes+1)},
	} {
		if _, _, ok := sanitizePtyRequest(gossh.Marshal(bad)); ok {
			t.Errorf("accepted %.40q", bad.Term+bad.Modes)
		}
	}
}

func TestEnvBounded(t *testing.T) {
	ok := gossh.Marshal(struct{ Key, Value string }{"LANG", "C.UTF-8"})
	big := gossh.Marshal(struct{ Key, Value string }{"X", strings.Repeat("v", maxEnvBytes)})
	if !validEnv(ok) || validEnv(big) || validEnv([]byte("junk")) || validEnv(gossh.Marshal(struct{ Key, Value string }{"", "v"})) {
		t.Error("env bounds")
	}
}

// A flood of window changes never waits for a reader and leaves the latest.
func TestWindowFeedKeepsLatest(t *testing.T) {
	f := newWindowFeed()
	for i := range 100000 {
		f.set(ssh.Window{Width: i%MaxTermSize + 1, Height: 24})
	}
	<-f.Changed()
	if got, resized := f.take(); got.Width != 99999%MaxTermSize+1 || !resized {
		t.Errorf("latest width %d, resized %v", got.Width, resized)
	}
	select {
	case <-f.Changed():
		t.Error("more than one change signalled")
	default:
	}
	// A poke (the session's end) wakes the reader without a new size.
	f.poke()
	<-f.Changed()
	if got, resized := f.take(); resized || got.Width != 99999%MaxTermSize+1 {
		t.Errorf("after a poke: width %d, resized %v", got.Width, resized)
	}
}

// Whatever size reaches it, the terminal model draws at most MaxTermSize
// columns and rows (defence in depth behind the request filter).
func TestTUIClampsHugeSizes(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	cs, err := hub.Connect(room.Identity{Nick: "huge", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Leave()
	m := newTUIModel(hub, cs, huge, huge)
	m.scr = newScreen(io.Discard, colorprofile.TrueColor, huge, huge)
	if m.width != MaxTermSize || m.height != MaxTermSize || m.scr.width != MaxTermSize || m.scr.height != MaxTermSize {
		t.Fatalf("model %dx%d, screen %dx%d", m.width, m.height, m.scr.width, m.scr.height)
	}
	m.Update(eventsMsg{&room.Event{Kind: room.KindNotice, Text: strings.Repeat("wide ", 1000)}})
	rows := m.rows()
	if len(rows) != MaxTermSize {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if len(r) > 64*MaxTermSize {
			t.Fatalf("row %d is %d bytes", i, len(r))
		}
	}
	m.Update(tea.WindowSizeMsg{})
	if m.width != defaultTermWidth || m.height != defaultTermHeight {
		t.Fatalf("0x0 taken as %dx%d", m.width, m.height)
	}
}

// FuzzRequestParsing: the request payloads' parsers accept exactly what
// x/crypto's Unmarshal accepts, and read the same fields.
func FuzzRequestParsing(f *testing.F) {
	for _, s := range append(ptySeeds(), windowSeeds()...) {
		f.Add(s)
	}
	f.Add(gossh.Marshal(struct{ Key, Value string }{"LANG", "C.UTF-8"}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var pty ptyPayload
		ptyErr := gossh.Unmarshal(payload, &pty)
		r := payloadReader{rest: payload, ok: true}
		term := r.string()
		cols, rows, wpx, hpx := r.uint32(), r.uint32(), r.uint32(), r.uint32()
		modes := r.string()
		if r.done() != (ptyErr == nil) {
			t.Fatalf("pty-req: parsed %v, Unmarshal: %v", r.done(), ptyErr)
		}
		if ptyErr == nil && (string(term) != pty.Term || string(modes) != pty.Modes ||
			cols != pty.Columns || rows != pty.Rows || wpx != pty.WidthPx || hpx != pty.HeightPx) {
			t.Fatalf("pty-req: read %q %d %d %d %d %q, Unmarshal %+v", term, cols, rows, wpx, hpx, modes, pty)
		}
		var win struct{ Columns, Rows, WidthPx, HeightPx uint32 }
		winErr := gossh.Unmarshal(payload, &win)
		if got, ok := parseWindowChange(payload); ok != (winErr == nil) ||
			ok && got != clampWindow(win.Columns, win.Rows, win.WidthPx, win.HeightPx) {
			t.Fatalf("window-change: %+v %v, Unmarshal %+v %v", got, ok, win, winErr)
		}
		var env struct{ Key, Value string }
		envErr := gossh.Unmarshal(payload, &env)
		want := envErr == nil && env.Key != "" && len(env.Key)+len(env.Value) <= maxEnvBytes
		if validEnv(payload) != want {
			t.Fatalf("env: valid %v, Unmarshal %+v %v", !want, env, envErr)
		}
	})
}
