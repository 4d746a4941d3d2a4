package sshchat

import (
	"io"
	"strconv"
	"sync"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// screen draws the terminal interface's frames on the client's terminal, in
// place of Bubble Tea's renderer. That renderer keeps two buffers of styled
// cells per session (about 450 KB at 80×24, most of a session's memory) and
// parses and compares every cell of every frame (about 160 µs, most of a
// session's work per event). A frame here is a list of rows that are mostly
// the scrollback's own strings, so the screen keeps only the rows the
// terminal shows, compares them (unchanged rows are usually the same
// string), scrolls the message area when the new frame is the old one moved
// up, and rewrites the rows that differ.
//
// Only the session's loop uses it (from Update and View), and runTUI once
// the loop has ended.
type screen struct {
	out     io.Writer
	profile colorprofile.Profile
	// converted gives rows in the terminal's colours (shared by the
	// server's sessions; nil: each row converted afresh).
	converted *profileRows
	// frames holds the buffers frames are built in (*[]byte), shared by the
	// server's sessions: a session holds one only while drawing. nil: the
	// screen keeps its own in buf.
	frames  *sync.Pool
	width   int
	height  int
	shown   []string // the rows on the terminal; nil: unknown, clear first
	buf     []byte
	started bool
	failed  bool // a write failed: the connection is going
	// The terminal's cursor, at the input's caret: where input methods and
	// screen readers look. cursorX < 0: not placed yet.
	cursorX, cursorY int
	mouse            bool // wheel reporting asked for
	mouseShown       bool // and told to the terminal
}

// caret is where the terminal's cursor goes, in cells from the top left.
type caret struct{ x, y int }

// Sequences written around the interface. Automatic wrapping is off while
// it runs, so that a row a terminal draws wider than measured loses its end
// rather than scrolling the screen (see width.go).
const (
	screenEnter = ansi.SetModeAltScreenSaveCursor + ansi.ResetModeAutoWrap + ansi.SetModeBracketedPaste
	screenLeave = ansi.ResetStyle + ansi.ResetModeBracketedPaste + ansi.SetModeAutoWrap + ansi.ShowCursor + ansi.ResetModeAltScreenSaveCursor
	// Wheel (and button) reports in the SGR encoding; terminals keep text
	// selection on Shift-drag meanwhile.
	mouseOn  = ansi.SetModeMouseNormal + ansi.SetModeMouseExtSgr
	mouseOff = ansi.ResetModeMouseNormal + ansi.ResetModeMouseExtSgr
)

func newScreen(out io.Writer, profile colorprofile.Profile, width, height int) *screen {
	// Without a terminal type the profile says strip every sequence, which
	// would strip the cursor movements too: keep those, drop the styles.
	profile = max(profile, colorprofile.ASCII)
	width, height = clampTermSize(int64(width), int64(height))
	return &screen{out: out, profile: profile, width: width, height: height, cursorX: -1}
}

// repaint redraws everything at the next frame (Ctrl-L): whatever a
// terminal did with what it was sent, the next frame puts it right.
func (s *screen) repaint() {
	s.shown = nil
}

// setMouse asks for the wheel's reports, or stops them, at the next frame.
func (s *screen) setMouse(on bool) {
	s.mouse = on
}

// resize redraws everything at the next frame, as terminals reflow or clear
// on a resize in their own ways.
func (s *screen) resize(width, height int) {
	s.width, s.height = clampTermSize(int64(width), int64(height))
	s.shown = nil
}

// draw brings the terminal to rows (the first height of them, as Bubble
// Tea's renderer drew a frame taller than the screen), ringing the bell
// bells times first, and leaves the cursor at cur. The first scroll rows
// are the message area, which may be scrolled. Nothing is written when
// nothing changed: an idle session costs no traffic.
func (s *screen) draw(rows []string, scroll int, cur caret, bells int) {
	if s.failed || s.height <= 0 {
		return
	}
	b := s.buf[:0]
	var pooled *[]byte
	if s.frames != nil {
		pooled, _ = s.frames.Get().(*[]byte)
		if pooled == nil {
			pooled = new([]byte)
		}
		b = (*pooled)[:0]
	}
	if !s.started {
		s.started = true
		b = append(b, screenEnter...)
	}
	for range bells {
		b = append(b, '\a')
	}
	if len(rows) > s.height {
		rows = rows[:s.height]
	}
	if s.mouse != s.mouseShown {
		s.mouseShown = s.mouse
		if s.mouse {
			b = append(b, mouseOn...)
		} else {
			b = append(b, mouseOff...)
		}
	}
	if s.shown == nil {
		s.shown = make([]string, s.height)
		s.cursorX = -1
		// The modes again too: a repaint is also for a terminal that was
		// reset under the interface.
		b = append(b, ansi.ResetModeAutoWrap+ansi.ResetStyle+ansi.CursorHomePosition+ansi.EraseEntireScreen...)
	}
	scroll = max(0, min(scroll, len(rows)))
	if k := scrolledBy(s.shown[:scroll], rows[:scroll]); k > 0 {
		// Margins around the message area, scroll it up k rows, margins
		// back to the whole screen.
		b = append(b, "\x1b[1;"...)
		b = strconv.AppendInt(b, int64(scroll), 10)
		b = append(b, "r\x1b["...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, "S\x1b[r"...)
		copy(s.shown, s.shown[k:scroll])
		clear(s.shown[scroll-k : scroll])
	}
	drew := false
	for i := range s.height {
		row := ""
		if i < len(rows) {
			row = rows[i]
		}
		if row == s.shown[i] {
			continue
		}
		if !drew {
			// The cursor jumping about while rows are written is not
			// worth showing.
			b = append(b, ansi.HideCursor...)
		}
		// To the row's start, plain style, erase it, write it. Erasing
		// first rather than after leaves a row as wide as the screen intact.
		b = append(b, "\x1b["...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ";1H"+ansi.ResetStyle+ansi.EraseEntireLine...)
		s.shown[i] = row
		if i == s.height-1 {
			// Never the bottom row's last cell: a terminal that wraps
			// anyway would scroll the screen.
			if w, ok := styledASCIIWidth(row); !ok || w > s.width-1 {
				row = ansi.Truncate(row, s.width-1, "")
			}
		}
		b = append(b, s.converted.convert(s.profile, row)...)
		drew = true
	}
	if drew {
		b = append(b, ansi.ResetStyle...)
	}
	cur.x, cur.y = max(0, min(cur.x, s.width-1)), max(0, min(cur.y, s.height-1))
	if drew || cur.x != s.cursorX || cur.y != s.cursorY {
		b = append(b, "\x1b["...)
		b = strconv.AppendInt(b, int64(cur.y+1), 10)
		b = append(b, ';')
		b = strconv.AppendInt(b, int64(cur.x+1), 10)
		b = append(b, 'H')
		if drew || s.cursorX < 0 {
			b = append(b, ansi.ShowCursor...)
		}
		s.cursorX, s.cursorY = cur.x, cur.y
	}
	s.write(b)
	if cap(b) > 64<<10 {
		b = nil // a full redraw of a huge window: do not keep it
	}
	if pooled != nil {
		*pooled = b[:0]
		s.frames.Put(pooled)
	} else {
		s.buf = b
	}
}

// stop leaves the interface's screen and restores the terminal's modes.
func (s *screen) stop() {
	if s.started && !s.failed {
		leave := screenLeave
		if s.mouseShown {
			leave = mouseOff + leave
		}
		s.write([]byte(leave))
	}
}

func (s *screen) write(b []byte) {
	if len(b) == 0 {
		return
	}
	// The rows in b are in the terminal's colours already (see draw): a
	// terminal that says it has fewer than true colour gets the nearest
	// ones, as Bubble Tea's renderer gave it, without the frame being
	// parsed again on its way out.
	for len(b) > 0 {
		n := min(len(b), maxFrameWrite)
		if _, err := s.out.Write(b[:n]); err != nil {
			s.failed = true
			return
		}
		b = b[n:]
	}
}

// maxFrameWrite bounds one write of a frame to the channel. x/crypto keeps
// a channel's packet buffer, and the cipher its output buffer, at the size
// of the largest packet the connection sent, for as long as it lasts: a
// full redraw (the first frame, a resize) written whole would keep both at
// several KB per session, where a message's frame is a few hundred bytes.
const maxFrameWrite = 1 << 10

// scrolledBy returns the smallest k > 0 such that the new rows are the old
// ones moved up k rows (the last k aside), or 0. Comparing the same string
// is cheap, and most rows are the scrollback's own strings.
func scrolledBy(old, rows []string) int {
	n := len(rows)
	for k := 1; k < n; k++ {
		if rows[0] != old[k] || old[k] == "" {
			continue
		}
		same := true
		for i := 1; i < n-k; i++ {
			if rows[i] != old[i+k] {
				same = false
				break
			}
		}
		if same {
			return k
		}
	}
	return 0
}
