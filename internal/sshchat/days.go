package sshchat

import (
	"slices"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// dayLine is the separator that goes above the first message of t's day
// in the session's zone. It names the date, not "today", so that a screen
// reads the same after midnight.
func (l *look) dayLine(t time.Time) string {
	return l.theme.dim.Render("── " + t.In(l.prefs.Location).Format("Mon 2 Jan 2006") + " ──")
}

// sameDay: a and b fall on the same calendar day in loc.
func sameDay(a, b time.Time, loc *time.Location) bool {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	return ay == by && am == bm && ad == bd
}

// appendMessage files a message line at the bottom of v, after a day
// separator when the message above it is of another day.
func (m *tuiModel) appendMessage(v *roomView, at time.Time, text string) {
	lk := m.look()
	if !v.newestAt.IsZero() && !sameDay(v.newestAt, at, lk.prefs.Location) {
		v.lines = appendLines(v.lines, lk.dayLine(at))
	}
	v.lines = appendLines(v.lines, text)
	v.newestAt = at
	if v.oldestAt.IsZero() {
		v.oldestAt = at
	}
}

// historyLines is a page of stored messages as lines, with a day
// separator between two of different days. prev is the time of the
// message shown just above the page, zero if none: then the first gets a
// separator (topSep) when it is of an earlier day than now, the hub's time
// when it sent the page.
func (m *tuiModel) historyLines(page []*room.Event, prev, now time.Time) (lines []line, topSep string) {
	lk := m.look()
	loc := lk.prefs.Location
	for _, h := range page {
		switch {
		case prev.IsZero():
			if h.Time.Before(now) && !sameDay(h.Time, now, loc) {
				topSep = lk.dayLine(h.Time)
				lines = appendLines(lines, topSep)
			}
		case !sameDay(prev, h.Time, loc):
			lines = appendLines(lines, lk.dayLine(h.Time))
		}
		lines = appendLines(lines, m.historyText(h))
		prev = h.Time
	}
	return lines, topSep
}

// dropLine is lines without the first that reads sep, and the rows that
// takes away above the reading position when the view of key is on screen.
func (m *tuiModel) dropLine(key string, lines []line, sep string) (rest []line, droppedRows int) {
	i := slices.IndexFunc(lines, func(l line) bool { return l.s == sep })
	if i < 0 {
		return lines, 0
	}
	if key == m.shown && !m.msgs.follow {
		above := 0
		for j := range i {
			above += m.msgs.rows(&lines[j])
		}
		if above < m.msgs.offset() {
			droppedRows = m.msgs.rows(&lines[i])
		}
	}
	return append(lines[:i:i], lines[i+1:]...), droppedRows
}
