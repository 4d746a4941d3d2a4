package main

import (
	"fmt"
	"io"
	"time"
)

// rowScreen follows a terminal session's output as rows of plain text, with
// no cells, styles or scrollback: what the server's frames use (cursor
// positioning, erasing a row or the screen, scroll margins and scrolling
// up; docs/performance.md, "What bounds the load tool"). A full terminal
// emulator per client costs the tool about 150 µs per delivery (it copies
// every scrolled line into a scrollback and renders the whole screen to a
// string); this costs a few µs, so that 1,500 terminal clients and the
// server fit on two cores. A sample of the clients still runs the full
// emulator (--vt-every) as the reference.
//
// Columns are counted in bytes: the server writes every row from its first
// column after erasing it, so only the caret's position (where nothing is
// written) would be off on a row with multi-byte characters. Sequences it
// does not know are skipped.
type rowScreen struct {
	width, height int
	rows          [][]byte
	touched       []bool
	// payloads holds the payloads of each row as last read, moved with the
	// rows when they scroll, to tell a payload shown twice on the screen
	// (a duplicated delivery) from one shown again (a repaint).
	payloads    [][]payloadPos
	x, y        int
	top, bottom int // scroll margins: rows top to bottom-1

	state  escState
	params []byte // a control sequence's parameter and intermediate bytes
}

type escState uint8

const (
	escNone   escState = iota
	escEsc             // after ESC
	escInter           // ESC and intermediate bytes: one final byte to go
	escCSI             // after ESC [
	escString          // OSC, DCS, APC, PM, SOS: up to BEL or ST
	escStrEsc          // ESC inside a string (ST is ESC \)
)

// rowLimit bounds a row's bytes: wrapping is off, so a row longer than the
// screen is clipped by a terminal too (4 bytes a cell for UTF-8).
func (s *rowScreen) rowLimit() int { return 4 * s.width }

func newRowScreen(width, height int) *rowScreen {
	s := &rowScreen{width: max(width, 1), height: max(height, 1)}
	s.rows = make([][]byte, s.height)
	s.touched = make([]bool, s.height)
	s.payloads = make([][]payloadPos, s.height)
	s.bottom = s.height
	return s
}

// write applies a chunk of output. Rows it changed are marked touched.
func (s *rowScreen) write(p []byte) {
	for _, b := range p {
		switch s.state {
		case escNone:
			switch {
			case b == 0x1b:
				s.state = escEsc
			case b >= 0x20 && b != 0x7f:
				s.put(b)
			default:
				s.control(b)
			}
		case escEsc:
			switch {
			case b == '[':
				s.state, s.params = escCSI, s.params[:0]
			case b == ']' || b == 'P' || b == '_' || b == '^' || b == 'X':
				s.state = escString
			case b >= 0x20 && b <= 0x2f: // e.g. ESC ( B
				s.state = escInter
			case b == 'c': // full reset
				s.state = escNone
				s.clearRows(0, s.height)
				s.top, s.bottom, s.x, s.y = 0, s.height, 0, 0
			default: // ESC 7, ESC 8, ESC =...: nothing to the rows
				s.state = escNone
			}
		case escInter:
			if b < 0x20 || b > 0x2f {
				s.state = escNone
			}
		case escCSI:
			switch {
			case b >= 0x40 && b <= 0x7e:
				s.state = escNone
				s.csi(b)
			case b >= 0x20:
				if len(s.params) < 64 {
					s.params = append(s.params, b)
				}
			case b == 0x1b: // cancels the sequence and starts another
				s.state = escEsc
			default: // a control inside a sequence acts at once
				s.control(b)
			}
		case escString:
			switch b {
			case 0x07:
				s.state = escNone
			case 0x1b:
				s.state = escStrEsc
			}
		case escStrEsc:
			if b == '\\' {
				s.state = escNone
			} else if b != 0x1b {
				s.state = escString
			}
		}
	}
}

func (s *rowScreen) put(b byte) {
	row := s.rows[s.y]
	switch {
	case s.x < len(row):
		row[s.x] = b
	case s.x < s.rowLimit():
		for len(row) < s.x {
			row = append(row, ' ')
		}
		row = append(row, b)
	default:
		return // past the right edge: clipped
	}
	s.rows[s.y] = row
	s.touched[s.y] = true
	s.x++
}

func (s *rowScreen) control(b byte) {
	switch b {
	case '\r':
		s.x = 0
	case '\n', 0x0b, 0x0c:
		if s.y == s.bottom-1 {
			s.scrollUp(1)
		} else if s.y < s.height-1 {
			s.y++
		}
	case '\b':
		s.x = max(0, s.x-1)
	case '\t':
		s.x = min(s.rowLimit(), (s.x/8+1)*8)
	}
}

// param returns the i-th numeric parameter of the sequence, def when it is
// missing or 0.
func (s *rowScreen) param(i, def int) int {
	k := 0
	v, seen := 0, false
	for _, b := range s.params {
		switch {
		case b == ';':
			if k == i {
				if !seen || v == 0 {
					return def
				}
				return v
			}
			k++
			v, seen = 0, false
		case b >= '0' && b <= '9':
			if v < 1<<20 {
				v = v*10 + int(b-'0')
			}
			seen = true
		}
	}
	if k == i && seen && v != 0 {
		return v
	}
	return def
}

func (s *rowScreen) private() bool { return len(s.params) > 0 && s.params[0] == '?' }

func (s *rowScreen) csi(final byte) {
	if s.private() {
		// The alternate screen starts blank; modes change no row.
		if (final == 'h' || final == 'l') && (s.param(0, 0) == 1049 || s.param(0, 0) == 47 || s.param(0, 0) == 1047) {
			s.clearRows(0, s.height)
		}
		return
	}
	switch final {
	case 'H', 'f':
		s.y = min(s.param(0, 1), s.height) - 1
		s.x = min(s.param(1, 1), s.width) - 1
	case 'A':
		s.y = max(0, s.y-s.param(0, 1))
	case 'B':
		s.y = min(s.height-1, s.y+s.param(0, 1))
	case 'C':
		s.x = min(s.width-1, s.x+s.param(0, 1))
	case 'D':
		s.x = max(0, s.x-s.param(0, 1))
	case 'G':
		s.x = min(s.param(0, 1), s.width) - 1
	case 'd':
		s.y = min(s.param(0, 1), s.height) - 1
	case 'K':
		s.eraseInRow(s.param(0, 0))
	case 'J':
		switch s.param(0, 0) {
		case 0:
			s.eraseInRow(0)
			s.clearRows(s.y+1, s.height)
		case 1:
			s.eraseInRow(1)
			s.clearRows(0, s.y)
		default:
			s.clearRows(0, s.height)
		}
	case 'r':
		top, bottom := s.param(0, 1)-1, min(s.param(1, s.height), s.height)
		if top < bottom-1 {
			s.top, s.bottom = top, bottom
		} else {
			s.top, s.bottom = 0, s.height
		}
		s.x, s.y = 0, 0
	case 'S':
		s.scrollUp(s.param(0, 1))
	case 'T':
		s.scrollDown(s.param(0, 1))
	}
}

func (s *rowScreen) eraseInRow(mode int) {
	row := s.rows[s.y]
	switch mode {
	case 0:
		if s.x < len(row) {
			row = row[:s.x]
		}
	case 1:
		for i := 0; i < len(row) && i <= s.x; i++ {
			row[i] = ' '
		}
	default:
		row = row[:0]
	}
	s.rows[s.y] = row
	s.touched[s.y] = true
}

func (s *rowScreen) clearRows(from, to int) {
	for y := max(from, 0); y < min(to, s.height); y++ {
		s.rows[y] = s.rows[y][:0]
		s.touched[y] = true
	}
}

// scrollUp moves the rows between the margins up n, with what they showed
// (and their payloads); the n rows at the bottom come in blank.
func (s *rowScreen) scrollUp(n int) {
	n = min(n, s.bottom-s.top)
	if n <= 0 {
		return
	}
	for y := s.top; y < s.bottom; y++ {
		if y+n < s.bottom {
			// Swap, so that the blank rows reuse the buffers scrolled off.
			s.rows[y], s.rows[y+n] = s.rows[y+n], s.rows[y]
			s.payloads[y], s.payloads[y+n] = s.payloads[y+n], s.payloads[y]
			s.touched[y] = s.touched[y+n]
		} else {
			s.rows[y] = s.rows[y][:0]
			s.payloads[y] = s.payloads[y][:0]
			s.touched[y] = true
		}
	}
}

// scrollDown moves the rows between the margins down n.
func (s *rowScreen) scrollDown(n int) {
	n = min(n, s.bottom-s.top)
	if n <= 0 {
		return
	}
	for y := s.bottom - 1; y >= s.top; y-- {
		if y-n >= s.top {
			s.rows[y], s.rows[y-n] = s.rows[y-n], s.rows[y]
			s.payloads[y], s.payloads[y-n] = s.payloads[y-n], s.payloads[y]
			s.touched[y] = s.touched[y-n]
		} else {
			s.rows[y] = s.rows[y][:0]
			s.payloads[y] = s.payloads[y][:0]
			s.touched[y] = true
		}
	}
}

// appendRowPayloads appends the payloads shown on one row: words that
// parse as one.
func appendRowPayloads(dst []payloadPos, row []byte) []payloadPos {
	for i := 0; i < len(row); i++ {
		if row[i] != 'b' || (i > 0 && row[i-1] != ' ') {
			continue
		}
		snd, seq, nanos, end, ok := parsePayload(row, i)
		if !ok || (end < len(row) && row[end] != ' ') {
			continue
		}
		dst = append(dst, payloadPos{snd, seq, nanos})
		i = end
	}
	return dst
}

// shownBefore says whether payload p (the k-th of row y) is also on the
// screen before it (an earlier row or earlier in its row) or on a later row
// that was not just redrawn (read, and counted, before).
func (s *rowScreen) shownBefore(p payloadPos, y, k int, last int) bool {
	for yy := 0; yy < last; yy++ {
		if yy == y || yy > y && s.touched[yy] {
			continue
		}
		for _, q := range s.payloads[yy] {
			if q == p {
				return true
			}
		}
	}
	for _, q := range s.payloads[y][:k] {
		if q == p {
			return true
		}
	}
	return false
}

// ptyRowReader follows a terminal session's output with a rowScreen and
// reads the rows each chunk changed: payloads in the message area (a payload
// shown twice on the screen is a duplicate, one shown again by a redraw is
// not), and the status line.
func (r *run) ptyRowReader(c *client, stdout io.Reader) {
	defer close(c.readerDone)
	s := newRowScreen(c.width, c.height)
	buf := make([]byte, 8<<10)
	for {
		n, err := stdout.Read(buf)
		if n > 0 {
			at := time.Now()
			s.write(buf[:n])
			r.scanRows(c, s, at)
		}
		if err != nil {
			c.die(fmt.Errorf("ssh output ended: %w", err))
			return
		}
	}
}

// scanRows reads the rows of s touched since the last call, as scanScreen
// reads a whole screen.
func (r *run) scanRows(c *client, s *rowScreen, at time.Time) {
	// The last two rows are the status line and the input line (which
	// echoes what a sender types: not a delivery).
	status := c.height - 2
	if status >= 0 && status < s.height && s.touched[status] {
		c.noteStatus(string(s.rows[status]))
	}
	last := min(max(status, 0), s.height)
	for y := range last {
		if s.touched[y] {
			s.payloads[y] = appendRowPayloads(s.payloads[y][:0], s.rows[y])
		}
	}
	if r.recording.Load() {
		for y := range last {
			if !s.touched[y] {
				continue
			}
			for k, p := range s.payloads[y] {
				if s.shownBefore(p, y, k, last) {
					r.recordDup(c, p.sender, p.seq, p.nanos)
				} else {
					r.record(c, p.sender, p.seq, p.nanos, at, true)
				}
			}
		}
	}
	clear(s.touched)
}
