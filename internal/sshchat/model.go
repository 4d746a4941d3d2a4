package sshchat

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// eventsMsg is every event that was queued for the session when the loop
// looked, in order: the model files them all and the loop draws one
// frame for them, however many there are.
type eventsMsg []*room.Event

type closedMsg struct{ reason room.CloseReason }

// roomView is what the terminal keeps of one joined room.
type roomView struct {
	lines     []line
	oldest    uint64 // smallest message id shown, 0 if none
	newest    uint64 // largest message id shown
	members   int
	topic     string
	unread    bool
	mentioned bool // unread, and one of them names the user
	// readUpTo is the key's read marker of the view (its messages up to
	// that id were read, here or on another device).
	readUpTo uint64
	fetching bool // an older page was asked for
	// joinAt is where the lines of the user's own join begin, while the
	// join's history is awaited (joining): it goes before them.
	joinAt  int
	joining bool
	// newestAt and oldestAt are the times of the newest and oldest
	// messages shown, for the day separators; oldestSep is the separator
	// above the oldest, "" if none.
	newestAt, oldestAt time.Time
	oldestSep          string
}

type tuiModel struct {
	hub    *room.Hub
	cs     *room.Session
	width  int
	height int
	views  map[string]*roomView
	loose  []line // lines before any room was joined
	msgs   scroller
	input  textinput.Model
	// inputView is the input as drawn (see layoutInput), kept until the
	// input changes: events do not change it.
	inputView  inputLayout
	inputStale bool
	// placeholderStyle is the input's placeholder style (see setInputStyles).
	placeholderStyle *lipgloss.Style
	// newBelow counts the messages that came to the shown room while the
	// user reads further up; newBelowView is its line as last drawn, for
	// newBelowShown at newBelowWidth.
	newBelow      int
	newBelowView  string
	newBelowShown int
	newBelowWidth int
	newBelowTheme *theme
	*statusCache
	closing string
	shown   string // the room the message area shows
	frame   []string
	// scr is the client's terminal (nil in tests); bells are rung with the
	// next frame.
	scr     *screen
	bells   int
	mouseOn bool // /mouse on: the wheel's reports are asked for
	// colour: the terminal shows colours (not NO_COLOR, not TERM=dumb);
	// lk is the look of the session's settings, remade when they change.
	colour bool
	lk     *look
	// comforts and statusCache are apart, so that the model (allocated
	// once per session) fits the heap's 8,192-byte size class: at 8,193
	// bytes or more it takes 9,472.
	*comforts
}

// statusCache is what the status line was last built from (statusKey, see
// appendStatusKey) and the line (statusView), fitted to the width and
// styled; statusBuf and statusRooms are reused to build the key.
type statusCache struct {
	statusKey   string
	statusBuf   []byte
	statusRooms []string
	statusWidth int
	statusTheme *theme
	statusView  string
}

// inputKeys is the input's key map, made once and never changed: its
// bindings' lists of keys (about 480 bytes a session) are only read, and
// every session's copy of the map shares them.
var inputKeys = textinput.DefaultKeyMap()

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.KeyMap = inputKeys
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	// Not the server's limit: a longer text is kept whole and refused with
	// its count when sent (see overLimits), never cut without a word.
	in.CharLimit = maxPaste
	// The terminal's own cursor marks the caret (see layoutInput): no
	// drawn cursor, so no blinking, so no output while idle.
	in.SetVirtualCursor(false)
	// Ctrl-V would read the clipboard of the machine the server runs on
	// (running xclip or the like there): the user's own terminal pastes
	// (bracketed paste: tea.PasteMsg in Update).
	in.KeyMap.Paste.SetEnabled(false)
	in.Focus()
	m := &tuiModel{hub: hub, cs: cs, input: in, views: map[string]*roomView{}, colour: true,
		statusCache: &statusCache{}, comforts: &comforts{}}
	m.initComforts()
	m.msgs.follow = true
	m.resize(width, height)
	return m
}

// resize takes the terminal's size, clamped: whatever a client claims, a
// frame costs at most MaxTermSize² cells to build and draw.
func (m *tuiModel) resize(w, h int) {
	w, h = clampTermSize(int64(w), int64(h))
	m.width, m.height = w, h
	// The input's width is left unset (no limit): layoutInput draws the
	// input, never the textinput's View, whose horizontal scrolling
	// measured the whole value on every key (most of a keystroke's cost).
	m.inputStale = true
	m.layout()
	if m.scr != nil {
		m.scr.resize(w, h)
	}
}

func (m *tuiModel) Init() tea.Cmd { return nil }

func (m *tuiModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	model, cmd := m.update(msg)
	m.markShownRead()
	return model, cmd
}

func (m *tuiModel) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		m.msgs.follow = true
		return m, nil
	case eventsMsg:
		bells, held := 0, false
		for _, ev := range msg {
			if m.answered(ev) {
				held = true
				continue
			}
			if m.addEvent(ev) {
				bells++
			}
		}
		m.sync()
		m.bells += bells
		return m, m.afterRefusals(held)
	case closedMsg:
		m.closing = msg.reason.Text
		m.flushGreeting()
		return m, tea.Quit
	case sendTickMsg:
		return m, m.sendWaiting()
	case tea.PasteMsg:
		// The one-line input would flatten the paste's line breaks into
		// spaces: they are kept as marks, and Enter sends one message.
		msg.Content = markLineBreaks(msg.Content)
		return m, m.updateInput(msg)
	case tea.KeyPressMsg:
		if msg.String() != "tab" {
			m.completion = completion{}
		}
		switch msg.String() {
		case "ctrl+c":
			m.interrupt()
			return m, nil
		case "ctrl+d":
			if m.inputEmpty() {
				m.cs.Close(room.ReasonQuit)
				return m, nil
			}
		case "enter":
			return m, m.submit()
		case "up", "down":
			m.recallStep(msg.String() == "up")
			return m, nil
		case "tab":
			m.complete()
			return m, nil
		case "ctrl+l":
			if m.scr != nil {
				m.scr.repaint()
			}
			return m, nil
		case "ctrl+n", "ctrl+p":
			m.cycleRoom(msg.String() == "ctrl+n")
			return m, nil
		case "pgup", "shift+up":
			n := m.msgs.page()
			if msg.String() == "shift+up" {
				n = 1
			}
			m.scrollUp(n)
			return m, nil
		case "pgdown", "shift+down":
			n := m.msgs.page()
			if msg.String() == "shift+down" {
				n = 1
			}
			m.msgs.scrollDown(n)
			return m, nil
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.scrollUp(wheelRows)
		case tea.MouseWheelDown:
			m.msgs.scrollDown(wheelRows)
		}
		return m, nil
	}
	return m, m.updateInput(msg)
}

// The textinput's methods take it by value (7.8 KB): a function calling
// them needs that much stack for each call, whether or not it is made. They
// are called from functions of their own, not inlined, so that what runs
// for every event (update, View) keeps a small frame, and an idle
// session's goroutine a small stack.

// updateInput passes msg to the input.
//
//go:noinline
func (m *tuiModel) updateInput(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.inputStale = true
	return cmd
}

// inputEmpty reports whether nothing is typed.
//
//go:noinline
func (m *tuiModel) inputEmpty() bool {
	return m.input.Value() == ""
}

// layoutInputNow lays the input out.
//
//go:noinline
func (m *tuiModel) layoutInputNow() {
	m.inputView = layoutInput(m.input.Value(), m.input.Position(), m.width, m.input.Placeholder, *m.placeholderStyle, m.inputView.rows)
}

// lineBreakMark stands for a line break in the input line, which holds
// one line: a multi-line paste shows its breaks as this mark, and the
// message sent has a line break for each.
const lineBreakMark = "↵"

// markLineBreaks turns a paste's line breaks (LF, CRLF or CR) into marks,
// dropping those at its end: pasting a line with its newline does not make
// a blank second line.
func markLineBreaks(paste string) string {
	lines := room.SplitLines(paste)
	for len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, lineBreakMark)
}

func (m *tuiModel) view(name string) *roomView {
	v := m.views[name]
	if v == nil {
		v = &roomView{}
		m.views[name] = v
	}
	return v
}

// addEvent files ev under its room (or the shown room, for personal events)
// and reports whether it mentions the user. The caller syncs the view.
func (m *tuiModel) addEvent(ev *room.Event) (bell bool) {
	target := ev.Room
	switch ev.Kind {
	case room.KindJoin, room.KindMembers:
		v := m.view(ev.Room)
		v.members = ev.Count
		if ev.Kind == room.KindJoin && ev.From == m.cs.Nick() {
			v.joinAt, v.joining = len(v.lines), true
		}
	case room.KindPart:
		if ev.From == m.cs.Nick() && ev.Room != "" {
			delete(m.views, ev.Room)
			target = ""
		} else {
			m.view(ev.Room).members = ev.Count
		}
	case room.KindTopic:
		m.view(ev.Room).topic = ev.Text
	case room.KindPresence:
		m.view(ev.Room).members = ev.Count
	case room.KindAway:
		if ev.From == m.cs.Nick() {
			return false // the notice answering /away or /back said it once
		}
	case room.KindHistory:
		m.addHistory(ev)
		return false
	case room.KindRead:
		m.readElsewhere(ev)
		return false
	case room.KindPrivate:
		target = ""
	case room.KindMessage:
		v := m.view(ev.Room)
		if ev.ID <= v.newest {
			return false // already shown
		}
		v.newest = ev.ID
		if v.oldest == 0 {
			v.oldest = ev.ID
		}
	case room.KindNick, room.KindWelcome, room.KindNotice, room.KindError, room.KindRooms:
		if ev.Kind != room.KindNick {
			target = ""
		}
	}
	if target == "" {
		target = m.shownKey()
	}
	lk, nick := m.look(), m.cs.Nick()
	if lk.prefs.Hides(ev, nick) {
		return false
	}
	mention := m.mentionsMe(ev, nick)
	text := lk.text(ev, mention)
	bell = lk.bell(ev, mention, nick)
	if ev.Kind == room.KindPrivate && !m.filePrivate(ev, text) {
		return bell
	}
	if !m.greeted && (ev.Kind == room.KindWelcome || ev.Kind == room.KindNotice) {
		m.greeting = append(m.greeting, text)
		return false
	}
	if target == "" {
		m.loose = appendLines(m.loose, text)
	} else {
		v := m.view(target)
		if ev.Kind == room.KindMessage {
			m.appendMessage(v, ev.Time, text)
		} else {
			v.lines = appendLines(v.lines, text)
		}
		if target != m.shownKey() && ev.Kind == room.KindMessage {
			v.unread = true
			v.mentioned = v.mentioned || mention
		}
		if ev.Kind == room.KindMessage || ev.Kind == room.KindPrivate {
			m.countNewBelow(target)
		}
	}
	return bell
}

// countNewBelow counts a message filed under key for the "new messages"
// line, if key is on screen while the user reads further up.
func (m *tuiModel) countNewBelow(key string) {
	if key == m.shown && !m.msgs.follow {
		m.newBelow++
	}
}

// addHistory merges a page of history: on join it continues after what is
// shown; an older page goes on top.
func (m *tuiModel) addHistory(ev *room.Event) {
	v := m.view(ev.Room)
	if ev.Before != 0 {
		v.fetching = false
		var page []*room.Event
		for _, h := range ev.History {
			if v.oldest == 0 || h.ID < v.oldest {
				page = append(page, h)
			}
		}
		if len(ev.History) > 0 && (v.oldest == 0 || ev.History[0].ID < v.oldest) {
			v.oldest = ev.History[0].ID
		}
		if len(page) == 0 {
			return
		}
		lines, topSep := m.historyLines(page, time.Time{}, ev.Time)
		rest, droppedRows := v.lines, 0
		if !v.oldestAt.IsZero() {
			switch same := sameDay(page[len(page)-1].Time, v.oldestAt, m.look().prefs.Location); {
			case !same && v.oldestSep == "":
				lines = appendLines(lines, m.look().dayLine(v.oldestAt))
			case same && v.oldestSep != "":
				// The page goes on with the day that separator names: the
				// page's own names it now.
				rest, droppedRows = m.dropLine(ev.Room, v.lines, v.oldestSep)
			}
		}
		v.oldestAt, v.oldestSep = page[0].Time, topSep
		if v.newestAt.IsZero() {
			v.newestAt = page[len(page)-1].Time
		}
		added := len(lines)
		v.lines = append(lines, rest...)
		if len(v.lines) > scrollback {
			v.lines = v.lines[:scrollback]
		}
		if ev.Room == m.shown {
			m.msgs.prepended(v.lines, added, droppedRows)
		}
		return
	}
	var page []*room.Event
	for _, h := range ev.History {
		if h.ID > v.newest {
			page = append(page, h)
			v.newest = h.ID
			if v.oldest == 0 {
				v.oldest = h.ID
			}
		}
	}
	// The history goes before the join's own lines (its join, member list
	// and topic), then a divider: what was said before, then what is new.
	if len(page) > 0 {
		lines, topSep := m.historyLines(page, v.newestAt, ev.Time)
		if v.oldestAt.IsZero() {
			v.oldestAt, v.oldestSep = page[0].Time, topSep
		}
		v.newestAt = page[len(page)-1].Time
		lines = appendLines(lines, m.look().theme.dim.Render(historyDivider))
		at := len(v.lines)
		if v.joining {
			at = min(v.joinAt, at)
		}
		merged := make([]line, 0, len(v.lines)+len(lines))
		merged = append(append(append(merged, v.lines[:at]...), lines...), v.lines[at:]...)
		v.lines = merged[max(0, len(merged)-scrollback):]
	}
	v.joining = false
	m.flushGreeting()
}

// flushGreeting files the held welcome and its notices in the view on
// screen, once: after the first room's history, or at the end if none came.
func (m *tuiModel) flushGreeting() {
	if m.greeted {
		return
	}
	m.greeted = true
	key := m.shownKey()
	for _, text := range m.greeting {
		if key == "" {
			m.loose = appendLines(m.loose, text)
		} else {
			v := m.view(key)
			v.lines = appendLines(v.lines, text)
		}
	}
	m.greeting = nil
}

// look is how the session's settings show lines, remade when they change.
func (m *tuiModel) look() *look {
	if prefs := m.cs.Preferences(); m.lk == nil || m.lk.prefs != prefs {
		old := m.lk
		m.lk = newLook(prefs, m.colour)
		if old == nil || old.theme != m.lk.theme {
			m.setInputStyles(m.lk.theme)
		}
	}
	return m.lk
}

// setInputStyles styles the input for th. textinput.Styles is some 3 KB
// and copied by value on its way in and out: the placeholder's style is
// kept apart, so that laying the input out (every keystroke) copies none
// of it, and the session's goroutine does not grow its stack for them.
func (m *tuiModel) setInputStyles(th *theme) {
	st := th.input()
	m.input.SetStyles(st)
	m.placeholderStyle = th.placeholder
	m.inputStale = true
}

// mentionsMe: ev is someone else's message naming the user.
func (m *tuiModel) mentionsMe(ev *room.Event, nick string) bool {
	return ev.Kind == room.KindMessage && ev.From != nick && room.Mentions(ev.Text, nick)
}

// historyText is a stored message as the session shows it, marked if it
// mentions the user.
func (m *tuiModel) historyText(ev *room.Event) string {
	return m.look().text(ev, m.mentionsMe(ev, m.cs.Nick()))
}

// wheelRows is how far one notch of the mouse wheel scrolls.
const wheelRows = 3

// scrollUp scrolls the message area n rows up, asking for an older page of
// history as the top comes near.
func (m *tuiModel) scrollUp(n int) {
	if m.msgs.scrollUp(n) {
		m.fetchOlder()
	}
}

// mouseCommand runs /mouse [on|off] (alone: the other of the two), the
// terminal's own command (the wheel is a terminal matter), and reports
// whether text was one. Asking for the wheel's reports makes most
// terminals keep text selection for Shift-drag only, hence off by default.
func (m *tuiModel) mouseCommand(text string) bool {
	fields := strings.Fields(text)
	if len(fields) == 0 || fields[0] != "/mouse" {
		return false
	}
	on := !m.mouseOn
	if len(fields) > 1 {
		if len(fields) > 2 || fields[1] != "on" && fields[1] != "off" {
			m.localLine(m.look().theme.error.Render("error: usage: /mouse [on|off]"))
			return true
		}
		on = fields[1] == "on"
	}
	if m.scr != nil {
		m.scr.setMouse(on)
	}
	m.mouseOn = on
	note := "The mouse wheel scrolls the messages now; hold Shift to select text. /mouse off gives the mouse back to the terminal."
	if !on {
		note = "The mouse is the terminal's again (text selection as usual). PgUp/PgDn and Shift-Up/Shift-Down scroll; /mouse on scrolls with the wheel."
	}
	m.localLine(m.look().theme.notice.Render(note))
	return true
}

func (m *tuiModel) fetchOlder() {
	if m.pmPeer != "" {
		return // private conversations are not stored
	}
	name := m.cs.CurrentRoom()
	v := m.views[name]
	if v == nil || v.fetching || v.oldest <= 1 {
		return
	}
	v.fetching = true
	m.hub.HistoryRequest(m.cs, name, v.oldest, 50)
}

// cycleRoom shows the next (or previous) room or private conversation.
func (m *tuiModel) cycleRoom(forward bool) {
	keys := m.viewKeys()
	if len(keys) < 2 {
		return
	}
	cur := m.shownKey()
	i := 0
	for j, k := range keys {
		if k == cur {
			i = j
		}
	}
	if forward {
		i = (i + 1) % len(keys)
	} else {
		i = (i + len(keys) - 1) % len(keys)
	}
	if peer, ok := strings.CutPrefix(keys[i], "@"); ok {
		m.pmPeer = peer
	} else {
		m.pmPeer = ""
		_ = m.cs.SetCurrentRoom(keys[i])
	}
	m.sync()
}

// sync points the message area at the session's current room: at its
// bottom when it was following or the room changed.
func (m *tuiModel) sync() {
	cur := m.shownKey()
	if cur == "" && m.shown != "" && m.sessionOver() {
		// Left every room on the way out: the last view stays on screen
		// (and in the farewell).
		return
	}
	if cur == "" {
		m.msgs.setLines(m.loose, m.msgs.follow || m.shown != "")
		m.shown = ""
		return
	}
	v := m.view(cur)
	if len(m.loose) > 0 {
		v.lines = append(m.loose, v.lines...)
		if len(v.lines) > scrollback {
			v.lines = v.lines[len(v.lines)-scrollback:]
		}
		m.loose = nil
	}
	v.unread, v.mentioned = false, false
	m.msgs.setLines(v.lines, m.shown != cur || m.msgs.follow)
	m.shown = cur
}

// statusLine is the reverse-video line under the messages: the nick, the
// room (or the private conversation) and its member count, the lines
// waiting to be sent, the other rooms and conversations with their marks
// (* unread, ! a mention), then the topic, so that what matters most is
// never cut off. When it does not fit, the topic goes first, then the
// member count, then the unmarked rooms, then the waiting count. It is not
// padded to the width (see width.go); the styling is redone only when its
// text, the width or the theme changes.
func (m *tuiModel) statusLine() string {
	th := m.look().theme
	// Most frames (every message) leave the line as it was: what it is
	// made of is compared first, without building it.
	m.statusBuf = m.appendStatusKey(m.statusBuf[:0])
	if string(m.statusBuf) == m.statusKey && m.width == m.statusWidth && th == m.statusTheme && m.statusView != "" {
		return m.statusView
	}
	m.statusKey, m.statusWidth, m.statusTheme = string(m.statusBuf), m.width, th
	m.statusView = m.buildStatusLine(th)
	return m.statusView
}

// buildStatusLine builds the status line (see statusLine). Not inlined:
// its styles are copied by value, a frame of some KB that the check for
// an unchanged line does not need.
//
//go:noinline
func (m *tuiModel) buildStatusLine(th *theme) string {
	shown := m.shownKey()
	var place, members, waiting, views, marked, topic string
	nick := " " + m.cs.Nick()
	if m.pmPeer != "" {
		place = " │ @" + m.pmPeer
		members = " │ private conversation"
	} else if cur := m.cs.CurrentRoom(); cur != "" {
		v := m.view(cur)
		place = " │ #" + cur
		members = fmt.Sprintf(" │ %d members", v.members)
		if v.topic != "" {
			topic = " │ " + v.topic
		}
	}
	if n := len(m.waiting); n > 0 {
		waiting = fmt.Sprintf(" │ %d lines waiting", n)
	}
	var mentioned []string // the views marked "!", styled apart
	if keys := m.viewKeys(); len(keys) > 1 {
		var all, some strings.Builder
		for _, k := range keys {
			name := k
			if k[0] != '@' {
				name = "#" + k
			}
			if v := m.views[k]; v != nil && k != shown && v.unread {
				if v.mentioned {
					name += "!"
					mentioned = append(mentioned, name)
				} else {
					name += "*"
				}
				some.WriteString(" " + name)
			}
			all.WriteString(" " + name)
		}
		views = " │" + all.String()
		if some.Len() > 0 {
			marked = " │" + some.String()
		}
	}
	status := nick + place + members + waiting + views + topic + " "
	if m.closing != "" {
		status, mentioned = " disconnected: "+m.closing+" ", nil
	}
	if m.closing == "" && !fitsWidth(status, m.width) {
		// What comes before the topic first; the topic in what is left,
		// if enough is; then less and less before it.
		const enough = 12
		lead := nick + place + members + waiting + views
		if left := m.width - ansi.StringWidth(lead) - widthRisk(lead); left >= enough+len(" │ ") {
			status = lead + ansi.Truncate(topic, left-widthRisk(topic)-1, "…") + " "
		} else {
			for _, try := range []string{
				lead + " ",
				nick + place + waiting + views + " ",
				nick + place + waiting + marked + " ",
				nick + place + marked + " ",
				nick + marked + place + " ",
			} {
				status = try
				if fitsWidth(try, m.width) {
					break
				}
			}
		}
	}
	if !fitsWidth(status, m.width) {
		status = ansi.Truncate(status, max(m.width-widthRisk(status)-1, 0), "…")
	}
	return styleMarks(status, mentioned, th.status, th.statusMention)
}

// appendStatusKey appends to b everything statusLine shows, apart from
// the width and the theme, without allocating: the line is built again
// only when this changes.
func (m *tuiModel) appendStatusKey(b []byte) []byte {
	const sep = 0 // in no nick, room name, topic or close reason
	b = append(b, m.closing...)
	b = append(append(b, sep), m.cs.Nick()...)
	b = append(append(b, sep), m.pmPeer...)
	cur := m.cs.CurrentRoom()
	b = append(append(b, sep), cur...)
	if v := m.views[cur]; v != nil {
		b = append(b, sep)
		b = strconv.AppendInt(b, int64(v.members), 10)
		b = append(append(b, sep), v.topic...)
	}
	b = append(b, sep)
	b = strconv.AppendInt(b, int64(len(m.waiting)), 10)
	// The views and their marks, as viewKeys lists them.
	m.statusRooms = m.cs.AppendRooms(m.statusRooms[:0])
	for _, k := range m.statusRooms {
		b = m.appendViewMark(append(append(b, sep, '#'), k...), m.views[k])
	}
	for _, p := range m.pmPeers {
		b = m.appendViewMark(append(append(b, sep, '@'), p...), m.views["@"+p])
	}
	return b
}

// appendViewMark appends the unread and mention marks of v to b.
func (m *tuiModel) appendViewMark(b []byte, v *roomView) []byte {
	if v == nil {
		return append(b, '-')
	}
	if v.unread {
		b = append(b, '*')
	}
	if v.mentioned {
		b = append(b, '!')
	}
	return b
}

// styleMarks renders status in style, and each of marks found in it (whole,
// not cut off) in markStyle.
func styleMarks(status string, marks []string, style, markStyle lipgloss.Style) string {
	var b strings.Builder
	for _, mark := range marks {
		i := strings.Index(status, " "+mark+" ")
		if i < 0 {
			continue
		}
		i++
		b.WriteString(style.Render(status[:i]))
		b.WriteString(markStyle.Render(mark))
		status = status[i+len(mark):]
	}
	b.WriteString(style.Render(status))
	return b.String()
}

// fitsWidth reports whether plain fits width columns however a terminal
// measures it.
func fitsWidth(plain string, width int) bool {
	return ansi.StringWidth(plain)+widthRisk(plain) <= width
}

// layout sizes the message area to what the status line and the input
// leave of the screen.
func (m *tuiModel) layout() {
	m.inputLines()
	m.msgs.setSize(m.width, max(m.height-1-len(m.inputView.rows), 1))
}

// inputLines lays the input out again if it changed.
func (m *tuiModel) inputLines() {
	if !m.inputStale {
		return
	}
	m.look() // which sets the theme's input styles
	m.inputStale = false
	m.layoutInputNow()
	if h := max(m.height-1-len(m.inputView.rows), 1); h != m.msgs.height {
		m.msgs.setSize(m.width, h)
	}
}

// newBelowLine is the message area's last row while the user reads further
// up: how many messages came since, and how to get to them.
func (m *tuiModel) newBelowLine() string {
	th := m.look().theme
	if m.newBelowView != "" && m.newBelowShown == m.newBelow && m.newBelowWidth == m.width && m.newBelowTheme == th {
		return m.newBelowView
	}
	m.newBelowShown, m.newBelowWidth, m.newBelowTheme = m.newBelow, m.width, th
	text := " ↓ more below: PgDn "
	if m.newBelow == 1 {
		text = " 1 new message ↓ PgDn "
	} else if m.newBelow > 1 {
		text = fmt.Sprintf(" %d new messages ↓ PgDn ", m.newBelow)
	}
	if len(text) > m.width-2 {
		text = ansi.Truncate(text, max(m.width-2, 0), "")
	}
	m.newBelowView = th.banner + text + ansi.ResetStyle
	return m.newBelowView
}

// rows is the frame: the message area, the status line, the input's rows.
func (m *tuiModel) rows() []string {
	m.inputLines()
	m.frame = m.msgs.appendRows(m.frame[:0])
	if m.msgs.follow {
		m.newBelow = 0
	} else if n := len(m.frame); n > 0 && m.msgs.height > 1 {
		m.frame[n-1] = m.newBelowLine()
	}
	m.frame = append(m.frame, m.statusLine())
	m.frame = append(m.frame, m.inputView.rows...)
	return m.frame
}

// caret is where the terminal's cursor goes: at the input's caret.
func (m *tuiModel) caret() caret {
	return caret{x: m.inputView.caretX, y: m.height - len(m.inputView.rows) + m.inputView.caretRow}
}

// View draws the frame on the terminal, if there is one, and returns it as
// text only when there is none (tests): Bubble Tea's renderer is not used.
func (m *tuiModel) View() tea.View {
	rows := m.rows()
	if m.scr == nil {
		v := tea.NewView(strings.Join(rows, "\n"))
		v.AltScreen = true
		return v
	}
	m.scr.draw(rows, m.msgs.height, m.caret(), m.bells)
	m.bells = 0
	return tea.View{}
}
