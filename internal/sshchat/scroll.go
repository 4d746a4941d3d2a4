package sshchat

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// scrollback is how many lines a terminal keeps per room.
const scrollback = 1000

// line is one row of text in the scrollback (an event, or one line of a
// multi-line one) with its display width, measured once when it is filed:
// lines never change, and measuring is what the view would otherwise redo
// for every line on every frame. risk is how many columns more a terminal
// may take to draw it than measured (see widthRisk), and wrap the line's
// rows at the width it was last wrapped at, made when first needed.
type line struct {
	s       string
	w, risk int32 // int32: a session keeps thousands of lines
	wrap    *wrapped
}

type wrapped struct {
	width int
	rows  []string
}

// newLine measures s, cheaply when it is plain ASCII, as most lines are.
func newLine(s string) line {
	if w, ok := styledASCIIWidth(s); ok {
		return line{s: s, w: int32(w)}
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return line{s: s, w: int32(ansi.StringWidth(s)), risk: int32(widthRisk(ansi.Strip(s)))}
		}
	}
	return line{s: s, w: int32(ansi.StringWidth(s))}
}

// styledASCIIWidth is ansi.StringWidth of s when s is printable ASCII and
// CSI sequences (the styles lines are rendered with), ok false otherwise.
// Every session measures every line it files, and the grapheme iteration
// StringWidth does was most of a session's work per message.
func styledASCIIWidth(s string) (w int, ok bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x7f:
			w++
		case c == ansi.ESC && i+1 < len(s) && s[i+1] == '[':
			// Parameters and intermediates, then the final byte.
			i += 2
			for i < len(s) && s[i] >= 0x20 && s[i] < 0x40 {
				i++
			}
			if i == len(s) || s[i] < 0x40 || s[i] > 0x7e {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return w, true
}

// tuiText is ev rendered for the terminal. The string is cached on the
// event, so the thousand sessions that show an event hold one copy of it
// between them rather than one each.
func tuiText(ev *room.Event) string {
	return ev.RenderText(room.FormatTUI, renderTUI)
}

// appendLines appends the lines of s (split at '\n', sharing its bytes) and
// keeps the newest scrollback of them. Dropping the oldest reslices, so the
// array is copied only when append grows it, not for every line.
func appendLines(dst []line, s string) []line {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			dst = append(dst, newLine(s))
			break
		}
		dst = append(dst, newLine(s[:i]))
		s = s[i+1:]
	}
	if len(dst) > scrollback {
		dst = dst[len(dst)-scrollback:]
	}
	return dst
}

// scroller is the message area: lines soft-wrapped to the width (a line
// wider than the screen takes several rows). While it follows the bottom it
// only ever looks at the last screenful of lines, whatever the scrollback
// holds; the whole scrollback is walked only once the user has scrolled
// back. It replaces bubbles' viewport, which measured and padded every line
// it held for every event and every frame.
type scroller struct {
	lines         []line // the shown room's, read only
	width, height int
	follow        bool // showing the bottom, and staying there as lines come
	top           int  // first row shown when not following
}

func (s *scroller) setSize(w, h int) {
	s.width, s.height = w, h
}

// setLines shows lines, at the bottom if bottom, else at the same row as
// before (at the bottom if that row is past it now).
func (s *scroller) setLines(lines []line, bottom bool) {
	s.lines = lines
	if bottom || (!s.follow && s.top >= s.maxTop()) {
		s.follow = true
	}
}

// fits reports whether l is one row at the scroller's width.
func (s *scroller) fits(l *line) bool {
	return int(l.w+l.risk) <= s.width || s.width <= 0
}

// wrapped is l's rows at the scroller's width (l wider than it).
func (s *scroller) wrapped(l *line) []string {
	if l.wrap == nil || l.wrap.width != s.width {
		l.wrap = &wrapped{width: s.width, rows: wrapRows(l.s, ansi.Strip(l.s), s.width)}
	}
	return l.wrap.rows
}

func (s *scroller) rows(l *line) int {
	if s.fits(l) {
		return 1
	}
	return len(s.wrapped(l))
}

func (s *scroller) totalRows() int {
	n := 0
	for i := range s.lines {
		n += s.rows(&s.lines[i])
	}
	return n
}

func (s *scroller) maxTop() int { return max(0, s.totalRows()-s.height) }

// offset is the first row shown.
func (s *scroller) offset() int {
	if s.follow {
		return s.maxTop()
	}
	return min(s.top, s.maxTop())
}

// scrollTo shows the screenful starting at row y (clamped), following the
// bottom again when that reaches it.
func (s *scroller) scrollTo(y int) {
	maxTop := s.maxTop()
	s.top = max(0, min(y, maxTop))
	s.follow = s.top >= maxTop
}

// scrollUp moves n rows up and reports whether the top is near, less than
// a screenful above: time to load an older page, before the user gets there.
func (s *scroller) scrollUp(n int) (nearTop bool) {
	y := s.offset()
	if y > 0 && len(s.lines) > 0 {
		s.scrollTo(y - n)
		y = s.top
	}
	return y < s.height
}

// prepended shows lines, whose first added are new on top of the ones
// shown, keeping the reading position: the same rows stay on screen, now
// further down the scrollback. dropped is the rows taken away from above
// the reading position besides.
func (s *scroller) prepended(lines []line, added, dropped int) {
	if s.follow {
		s.lines = lines
		return
	}
	rows := 0
	for i := range min(added, len(lines)) {
		rows += s.rows(&lines[i])
	}
	y := s.offset()
	s.lines = lines
	s.top = max(0, y+rows-dropped)
}

func (s *scroller) scrollDown(n int) {
	if !s.follow {
		s.scrollTo(s.offset() + n)
	}
}

// appendRows appends the message area's rows to dst: height of them,
// top-aligned when the lines do not fill them. While following, only the
// lines on screen are looked at. A line that fits is its own row, the same
// string whichever frame shows it.
func (s *scroller) appendRows(dst []string) []string {
	if s.width <= 0 || s.height <= 0 {
		return dst
	}
	// first is the first line shown and skip how many of its rows are above
	// the screen.
	first, skip := 0, 0
	if s.follow {
		rows := 0
		first = len(s.lines)
		for first > 0 && rows < s.height {
			first--
			rows += s.rows(&s.lines[first])
		}
		skip = max(0, rows-s.height)
	} else {
		y, acc := s.offset(), 0
		first = len(s.lines)
		for i := range s.lines {
			r := s.rows(&s.lines[i])
			if acc+r > y {
				first, skip = i, y-acc
				break
			}
			acc += r
		}
	}
	n := len(dst) + s.height
	for i := first; i < len(s.lines) && len(dst) < n; i++ {
		l := &s.lines[i]
		if s.fits(l) {
			dst = append(dst, l.s)
			continue
		}
		for _, row := range s.wrapped(l)[skip:] {
			if len(dst) == n {
				break
			}
			dst = append(dst, row)
		}
		skip = 0
	}
	for len(dst) < n {
		dst = append(dst, "")
	}
	return dst
}

// page is how far PgUp and PgDn go: a screenful less one row, which stays
// in sight to read on from (and is the one the "new messages" line covers
// while scrolled back).
func (s *scroller) page() int { return max(s.height-1, 1) }
