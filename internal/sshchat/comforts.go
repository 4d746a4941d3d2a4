package sshchat

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/room"
)

// keyHelp is the terminal's key bindings, which /help lists.
const keyHelp = `  Enter             send (a pasted block of lines is one message)
  Up / Down         recall the lines you sent
  Tab               complete a nick ("nick: " at the start, @nick), a /command or a #room
  Ctrl-N / Ctrl-P   next / previous room or private conversation (@nick)
  PgUp / PgDn       scroll (older history loads at the top); Shift-Up / Shift-Down: one line
  Ctrl-L            redraw the screen
  /mouse [on|off]   on: the mouse wheel scrolls (hold Shift to select text); off: the mouse is the terminal's
  Ctrl-A/E, Alt-B/F move; Ctrl-W/U/K delete a word / to the start / to the end
  Ctrl-C            clear the line; on an empty line, quit
  Ctrl-D            delete the next character; on an empty line, quit`

// maxWaiting bounds the lines waiting to be sent (see send).
const maxWaiting = 500

// maxPacedRate is the fastest rate worth pacing at; above it lines just go.
const maxPacedRate = 1e6

// paceMargin slows the terminal's own pacing a little below the server's
// rate, so that no paced line is ever refused.
const paceMargin = 0.9

// comforts is the terminal's state for typing: recalling sent lines,
// completion, private conversations and lines waiting to be sent. It is
// part of tuiModel, used only from its event loop.
type comforts struct {
	recall     recall
	completion completion
	// pmPeer is the private conversation shown ("" when a room is), and
	// pmPeers every conversation, in the order they began; each is the
	// view "@"+peer.
	pmPeer  string
	pmPeers []string
	// waiting are lines typed faster than the server takes them (an
	// unbracketed paste types one line per Enter), sent as pace allows;
	// ticking: a tick to send more is on its way.
	waiting []waitingLine
	pace    *rate.Limiter
	ticking bool
	// inFlight: lines sent with a cid whose copy or refusal has not come
	// (see resend.go); seq numbers the lines sent; retryAt: no waiting
	// line goes before it (one refused with cluster_unavailable waits).
	inFlight map[string]*inFlight
	seq      uint64
	retryAt  time.Time
	// now is the clock of inFlight's and retryAt's times (time.Now, or
	// a test's).
	now func() time.Time
	// greeting is the welcome and the notices that came with it, held back
	// until the first room's history is shown (greeted), so that they are
	// the last thing seen on connecting.
	greeting []string
	greeted  bool
}

// waitingLine is a line to send; cid and seq are set once it was sent
// with a cid (it is put back to wait when refused for a moment).
type waitingLine struct {
	room, text string
	cid        string
	seq        uint64
}

// sendTickMsg asks the model to send the lines that may go now.
type sendTickMsg struct{}

// recall is the lines sent, oldest first, and the position while the user
// steps through them (len(lines): the draft).
type recall struct {
	lines    []string
	pos      int
	draft    string
	browsing bool
}

func (r *recall) add(text string) {
	r.browsing = false
	if n := len(r.lines); n > 0 && r.lines[n-1] == text {
		return
	}
	r.lines = append(r.lines, text)
	if len(r.lines) > room.InputHistoryKept {
		r.lines = r.lines[len(r.lines)-room.InputHistoryKept:]
	}
}

// completion is a Tab completion in progress: the word typed from start,
// replaced by each match in turn up to end.
type completion struct {
	active     bool
	start, end int // in runes
	matches    []string
	suffix     string
	i          int
}

func (m *tuiModel) initComforts() {
	m.recall.lines = m.hub.InputHistory(m.cs)
	burst, perSecond := m.hub.InputRate()
	limit := rate.Limit(perSecond * paceMargin)
	if perSecond <= 0 || perSecond > maxPacedRate {
		limit = rate.Inf // not limited, or as good as
	}
	m.pace = rate.NewLimiter(limit, burst)
	m.inFlight = make(map[string]*inFlight)
	m.now = time.Now
	m.cs.SetKeyHelp(keyHelp)
}

// shownKey is the view on screen: a room's name, "@"+peer for a private
// conversation, "" for none.
func (m *tuiModel) shownKey() string {
	if m.pmPeer != "" {
		return "@" + m.pmPeer
	}
	return m.cs.CurrentRoom()
}

// submit is Enter: the line is sent (paced), unless it is over the
// server's limits, which is said and the line kept to be shortened.
func (m *tuiModel) submit() tea.Cmd {
	text := strings.ReplaceAll(m.input.Value(), lineBreakMark, "\n")
	// Whatever is sent, and its answer (or refusal), is seen: back to the
	// bottom.
	m.msgs.follow = true
	if strings.TrimSpace(text) == "" {
		m.input.Reset()
		m.inputStale = true
		return nil
	}
	if refusal := m.overLimits(text); refusal != "" {
		m.localLine(m.look().theme.error.Render("error: " + refusal))
		return nil
	}
	m.input.Reset()
	m.inputStale = true
	m.recall.add(text)
	if m.mouseCommand(text) {
		return nil // the terminal's own, never sent
	}
	if m.pmPeer != "" && !strings.HasPrefix(text, "/") {
		text = "/msg " + m.pmPeer + " " + text
	}
	m.hub.RememberInput(m.cs, text)
	return m.send(waitingLine{room: m.cs.CurrentRoom(), text: text})
}

// overLimits says why the server would refuse text as too long, "" if it
// would not.
func (m *tuiModel) overLimits(text string) string {
	if n, limit := utf8.RuneCountInString(text), m.hub.MaxMessage(); n > limit {
		return fmt.Sprintf("not sent: %d characters, %d over the limit of %d; the text is still in the input line", n, n-limit, limit)
	}
	if n, limit := len(room.SplitLines(text)), m.hub.MaxLines(); limit > 0 && n > limit {
		return fmt.Sprintf("not sent: %d lines, %d over the limit of %d; the text is still in the input line", n, n-limit, limit)
	}
	return ""
}

// send passes a line to the hub now if the server's rate allows it, else
// queues it (after any already waiting) to go as soon as it does: typing or
// pasting faster than the rate never has lines refused or the session
// dropped for flooding.
func (m *tuiModel) send(l waitingLine) tea.Cmd {
	if len(m.waiting) == 0 && m.retryWait() == 0 && m.pace.Allow() {
		m.pass(l)
		m.sync()
		return nil
	}
	if len(m.waiting) >= maxWaiting {
		m.localLine(m.look().theme.error.Render(fmt.Sprintf("error: not sent: %d lines are already waiting to be sent", len(m.waiting))))
		return nil
	}
	m.waiting = append(m.waiting, l)
	if len(m.waiting) == 1 {
		_, perSecond := m.hub.InputRate()
		m.localLine(m.look().theme.notice.Render(fmt.Sprintf("Lines are sent %g a second at most: the rest wait (the status line counts them; Ctrl-C drops them).", perSecond)))
	}
	return m.scheduleSend()
}

func (m *tuiModel) scheduleSend() tea.Cmd {
	if m.ticking || len(m.waiting) == 0 {
		return nil
	}
	m.ticking = true
	wait := max(m.retryWait(), time.Duration(float64(time.Second)/float64(m.pace.Limit())))
	return tea.Tick(wait, func(time.Time) tea.Msg { return sendTickMsg{} })
}

// sendWaiting sends the waiting lines the rate allows now.
func (m *tuiModel) sendWaiting() tea.Cmd {
	m.ticking = false
	for len(m.waiting) > 0 && m.retryWait() == 0 && m.pace.Allow() {
		l := m.waiting[0]
		m.waiting = m.waiting[1:]
		m.pass(l)
	}
	if len(m.waiting) == 0 {
		m.waiting = nil
	}
	m.sync()
	return m.scheduleSend()
}

// interrupt is Ctrl-C: it clears the line and drops the lines waiting to
// be sent; with nothing to clear, it quits.
func (m *tuiModel) interrupt() {
	if m.input.Value() == "" && len(m.waiting) == 0 {
		m.cs.Close(room.ReasonQuit)
		return
	}
	if n := len(m.waiting); n > 0 {
		m.dropInFlight(m.waiting)
		m.waiting = nil
		m.localLine(m.look().theme.notice.Render(fmt.Sprintf("Dropped %d lines that were waiting to be sent.", n)))
	}
	m.input.Reset()
	m.inputStale = true
	m.recall.browsing = false
}

// recallStep shows the previous (up) or next sent line in the input line,
// and the draft again past the newest.
func (m *tuiModel) recallStep(up bool) {
	r := &m.recall
	if len(r.lines) == 0 {
		return
	}
	if !r.browsing {
		r.browsing, r.pos, r.draft = true, len(r.lines), m.input.Value()
	}
	switch {
	case up && r.pos > 0:
		r.pos--
	case !up && r.pos < len(r.lines):
		r.pos++
	default:
		return
	}
	value := r.draft
	if r.pos < len(r.lines) {
		value = strings.ReplaceAll(r.lines[r.pos], "\n", lineBreakMark)
	}
	m.input.SetValue(value)
	m.input.CursorEnd()
	m.inputStale = true
}

// complete is Tab: the word before the caret is completed as a command
// (a first word starting with /), a room (#...) or a nick (@nick too;
// "nick: " at the start of the line); Tab again offers the next match.
func (m *tuiModel) complete() {
	value := []rune(m.input.Value())
	c := &m.completion
	if c.active {
		c.i = (c.i + 1) % len(c.matches)
	} else {
		pos := min(m.input.Position(), len(value))
		start := pos
		for start > 0 && !unicode.IsSpace(value[start-1]) {
			start--
		}
		word := string(value[start:pos])
		if word == "" {
			return
		}
		var candidates []string
		suffix := " "
		switch {
		case start == 0 && strings.HasPrefix(word, "/"):
			for _, name := range m.hub.CommandNames(m.cs) {
				candidates = append(candidates, "/"+name)
			}
			candidates = append(candidates, "/mouse") // the terminal's own
		case strings.HasPrefix(word, "#"):
			for _, name := range m.hub.RoomNames() {
				candidates = append(candidates, "#"+name)
			}
		case strings.HasPrefix(word, "@"):
			for _, nick := range m.completableNicks() {
				candidates = append(candidates, "@"+nick)
			}
		default:
			candidates = m.completableNicks()
			if start == 0 {
				suffix = ": "
			}
		}
		var matches []string
		for _, cand := range candidates {
			if len(cand) >= len(word) && strings.EqualFold(cand[:len(word)], word) {
				matches = append(matches, cand)
			}
		}
		if len(matches) == 0 {
			return
		}
		*c = completion{active: true, start: start, end: pos, matches: matches, suffix: suffix}
	}
	repl := []rune(c.matches[c.i] + c.suffix)
	next := append(append(append([]rune{}, value[:c.start]...), repl...), value[c.end:]...)
	c.end = c.start + len(repl)
	m.input.SetValue(string(next))
	m.input.SetCursor(c.end)
	m.inputStale = true
}

// completableNicks are the nicks Tab offers: the private conversation's
// peer, then the shown room's members, without the user's own.
func (m *tuiModel) completableNicks() []string {
	me := m.cs.Nick()
	var nicks []string
	if m.pmPeer != "" {
		nicks = append(nicks, m.pmPeer)
	}
	for _, n := range m.cs.MemberNicks(m.cs.CurrentRoom()) {
		if n != me && n != m.pmPeer {
			nicks = append(nicks, n)
		}
	}
	return nicks
}

// localLine adds a line of the terminal's own to the view on screen.
func (m *tuiModel) localLine(text string) {
	key := m.shownKey()
	if key == "" {
		m.loose = appendLines(m.loose, text)
	} else {
		v := m.view(key)
		v.lines = appendLines(v.lines, text)
	}
	m.sync()
}

// filePrivate files a private message in its conversation, and also in
// the room on screen so that it is seen at once; with another
// conversation on screen, its own is marked unread.
func (m *tuiModel) filePrivate(ev *room.Event, text string) (alsoShown bool) {
	peer := ev.From
	if peer == m.cs.Nick() {
		peer = ev.To
	}
	key := "@" + peer
	if _, ok := m.views[key]; !ok {
		m.pmPeers = append(m.pmPeers, peer)
	}
	v := m.view(key)
	v.newest = max(v.newest, ev.ID)
	m.appendMessage(v, ev.Time, text)
	if m.shownKey() == key {
		m.countNewBelow(key)
		return false
	}
	if m.pmPeer != "" {
		v.unread = true
		return false
	}
	return true
}

// viewKeys is every view Ctrl-N/Ctrl-P cycles through: the rooms in join
// order, then the private conversations.
func (m *tuiModel) viewKeys() []string {
	keys := m.cs.Rooms()
	for _, p := range m.pmPeers {
		keys = append(keys, "@"+p)
	}
	return keys
}

// historyDivider separates the history shown on joining a room from what
// happens after.
const historyDivider = "-------- history above, live below --------"
