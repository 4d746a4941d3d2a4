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
// for every line on every frame.
type line struct {
	s string
	w int
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
			dst = append(dst, line{s, ansi.StringWidth(s)})
			break
		}
		dst = append(dst, line{s[:i], ansi.StringWidth(s[:i])})
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

func (s *scroller) rows(l line) int {
	if l.w <= s.width || s.width <= 0 {
		return 1
	}
	return (l.w + s.width - 1) / s.width
}

func (s *scroller) totalRows() int {
	n := 0
	for _, l := range s.lines {
		n += s.rows(l)
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

// scrollUp moves n rows up and reports whether the top is shown.
func (s *scroller) scrollUp(n int) (atTop bool) {
	y := s.offset()
	if y > 0 && len(s.lines) > 0 {
		s.scrollTo(y - n)
		y = s.top
	}
	return y <= 0
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
			rows += s.rows(s.lines[first])
		}
		skip = max(0, rows-s.height)
	} else {
		y, acc := s.offset(), 0
		first = len(s.lines)
		for i, l := range s.lines {
			r := s.rows(l)
			if acc+r > y {
				first, skip = i, y-acc
				break
			}
			acc += r
		}
	}
	n := len(dst) + s.height
	for i := first; i < len(s.lines) && len(dst) < n; i++ {
		l := s.lines[i]
		if l.w <= s.width {
			dst = append(dst, l.s)
			continue
		}
		for x := skip * s.width; x < l.w && len(dst) < n; x += s.width {
			dst = append(dst, ansi.Cut(l.s, x, x+s.width))
		}
		skip = 0
	}
	for len(dst) < n {
		dst = append(dst, "")
	}
	return dst
}
