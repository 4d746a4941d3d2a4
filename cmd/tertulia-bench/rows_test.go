package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
)

// testdata/pty-frames.out is what a server wrote to one 80×24 terminal
// client while another client sent the payloads b0-0-… to b0-35-… (nanos
// recordedBase+seq), someone joined (the status line changes), the window
// was resized twice (two full redraws), the user pressed Ctrl-L (another)
// and typed b0-99-… into the input line without sending it.
const (
	recordedBase     = 1764097556000000000
	recordedMessages = 36
	recordedTyped    = 99
)

func recordedFrames(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/pty-frames.out")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\x1b[2J")); n < 4 {
		t.Fatalf("the recording has %d full redraws, want the first frame and three repaints", n)
	}
	return b
}

// rowRun is a run of one PTY receiver reading with the row model, with
// messages 0..registered-1 of sender 0 (and the typed one) sent.
func rowRun(registered int) (*run, *client) {
	r := newRun(config{Rooms: 1}, io.Discard)
	r.reg = newRegistry([]int{0}, 128)
	for seq := range registered {
		r.reg.sent[0][seq].Store(recordedBase + int64(seq))
	}
	r.reg.sent[0][recordedTyped].Store(recordedBase + recordedTyped)
	r.reg.count[0].Store(int64(registered))
	c := &client{kind: kindPTY, width: 80, height: 24, signals: make(chan sig, 16)}
	r.clients = []*client{c}
	r.recording.Store(true)
	return r, c
}

// feedRows gives the output to the row model in chunks of size n, as reads
// of the SSH channel would.
func feedRows(r *run, c *client, s *rowScreen, out []byte, n int) {
	for len(out) > 0 {
		k := min(n, len(out))
		s.write(out[:k])
		r.scanRows(c, s, time.Now())
		out = out[k:]
	}
}

// Every payload of the recording counts once, however the output is cut
// into reads no longer than a frame's writes (a payload cut in two by a read
// is a stray one, not a delivery, until its row is complete); the redraws show them again without making duplicates; the
// input line (a sender's typing) is never a delivery; the status line gives
// the room and its count.
func TestRowScreenCountsRecordedOutput(t *testing.T) {
	out := recordedFrames(t)
	for _, n := range []int{1, 7, 100, 1 << 10} {
		r, c := rowRun(recordedMessages)
		feedRows(r, c, newRowScreen(80, 24), out, n)
		var dr deliveryReport
		r.countDeliveries(&dr)
		if dr.Delivered != recordedMessages || dr.Lost != 0 || dr.Duplicated != 0 {
			t.Errorf("reads of %d bytes: delivered %d, lost %d, duplicated %d; want %d, 0, 0",
				n, dr.Delivered, dr.Lost, dr.Duplicated, recordedMessages)
		}
		if c.track.has(0, recordedTyped) {
			t.Errorf("reads of %d bytes: the input line was taken for a delivery", n)
		}
		if c.lobby != "lobby" || c.count.Load() != 3 {
			t.Errorf("reads of %d bytes: status: lobby %q, count %d", n, c.lobby, c.count.Load())
		}
	}
}

// The row model ends with the screen a full terminal emulator shows, and
// so do the rows read from the emulator's cells.
func TestRowScreenMatchesEmulator(t *testing.T) {
	out := recordedFrames(t)
	emu := vt.NewEmulator(80, 24)
	_, _ = emu.Write(out)
	want := strings.Split(emu.String(), "\n")
	s := newRowScreen(80, 24)
	s.write(out)
	cells := make([][]byte, 24)
	emulatorRows(emu, cells)
	for y := range 24 {
		w := ""
		if y < len(want) {
			w = strings.TrimRight(want[y], " ")
		}
		if got := strings.TrimRight(string(s.rows[y]), " "); got != w {
			t.Errorf("row %d: %q, the emulator shows %q", y+1, got, w)
		}
		if got := strings.TrimRight(string(cells[y]), " "); got != w {
			t.Errorf("row %d read from the cells: %q, the emulator shows %q", y+1, got, w)
		}
	}
}

// A payload written again on another row while it is still on the screen
// is the same message delivered twice; a message that never comes is lost.
func TestRowScreenDuplicateAndLost(t *testing.T) {
	out := recordedFrames(t)
	r, c := rowRun(recordedMessages + 1) // the last one is never shown
	s := newRowScreen(80, 24)
	feedRows(r, c, s, out, 1<<10)
	again := "\x1b[1;22r\x1b[1S\x1b[r\x1b[22;1H\x1b[m\x1b[2K08:10 <bl0> b0-35-1764097556000000035\x1b[m\x1b[24;3H"
	feedRows(r, c, s, []byte(again), len(again))
	var dr deliveryReport
	r.countDeliveries(&dr)
	if dr.Delivered != recordedMessages || dr.Duplicated != 1 || dr.Lost != 1 {
		t.Fatalf("delivered %d, duplicated %d, lost %d; want %d, 1, 1", dr.Delivered, dr.Duplicated, dr.Lost, recordedMessages)
	}
	if c.track.has(0, recordedMessages) {
		t.Fatal("a message never shown counted as delivered")
	}
}

// Scrolling moves rows, and what they showed, within the margins only;
// erasing and cursor moves act on the rows as a terminal's do.
func TestRowScreenSequences(t *testing.T) {
	s := newRowScreen(10, 5)
	s.write([]byte("\x1b[1;1Haaa\x1b[2;1Hbbb\x1b[3;1Hccc\x1b[5;1Hstatus"))
	s.write([]byte("\x1b[1;3r\x1b[1S\x1b[r\x1b[3;1H\x1b[2Kddd"))
	want := []string{"bbb", "ccc", "ddd", "", "status"}
	for y, w := range want {
		if string(s.rows[y]) != w {
			t.Fatalf("after a scroll, row %d is %q, want %q", y+1, s.rows[y], w)
		}
	}
	s.write([]byte("\x1b[2;2H\x1b[K\x1b]0;title\x07\x1b(B\x1b[38;5;1mX\x1b[m"))
	if string(s.rows[1]) != "cX" {
		t.Fatalf("row 2: %q", s.rows[1])
	}
	s.write([]byte("\x1b[2J"))
	for y := range 5 {
		if len(s.rows[y]) != 0 {
			t.Fatalf("row %d not cleared: %q", y+1, s.rows[y])
		}
	}
	// Split anywhere, a sequence still applies whole.
	for _, b := range []byte("\x1b[4;3Hxy") {
		s.write([]byte{b})
	}
	if string(s.rows[3]) != "  xy" {
		t.Fatalf("row 4: %q", s.rows[3])
	}
	// An ESC inside a control sequence cancels it and starts another.
	s.write([]byte("\x1b[1;\x1b[5;1Hz"))
	if string(s.rows[4]) != "z" || len(s.rows[0]) != 0 {
		t.Fatalf("after a cancelled sequence: row 1 %q, row 5 %q", s.rows[0], s.rows[4])
	}
}
