package sshchat

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// testModel is a terminal session "bob" in the lobby of a hub of its own,
// having read what it got on connecting.
func testModel(t *testing.T, w, h int) (*tuiModel, *room.Hub, *room.Session) {
	t.Helper()
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12))
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, w, h)
	readQueued(m, cs)
	return m, hub, cs
}

// readQueued hands the model what is queued for its session, as one batch.
func readQueued(m *tuiModel, cs *room.Session) {
	var batch eventsMsg
	for {
		select {
		case ev := <-cs.Events():
			batch = append(batch, ev)
			continue
		default:
		}
		break
	}
	if len(batch) > 0 {
		m.Update(batch)
	}
}

var testTime = time.Date(2026, 11, 25, 12, 34, 0, 0, time.UTC)

func testMessage(id uint64, from, text string) *room.Event {
	return &room.Event{Kind: room.KindMessage, ID: id, Room: "lobby", From: from, Text: text, Time: testTime}
}

// bvTerm is Bubble Tea's renderer as runTUI used it (an ultraviolet
// terminal renderer on the alternate screen, cell buffer, scroll
// optimisation) drawing into a terminal emulator: what users saw before
// screen replaced it.
type bvTerm struct {
	out   bytes.Buffer
	scr   *uv.TerminalRenderer
	cells uv.ScreenBuffer
	emu   *vt.Emulator
}

func newBVTerm(w, h int, profile colorprofile.Profile) *bvTerm {
	t := &bvTerm{emu: vt.NewEmulator(w, h), cells: uv.NewScreenBuffer(w, h)}
	t.scr = uv.NewTerminalRenderer(&t.out, []string{"TERM=xterm-256color"})
	t.scr.SetColorProfile(profile)
	t.scr.SetTabStops(-1)
	t.scr.SetScrollOptim(true)
	t.scr.Resize(w, h)
	t.scr.SaveCursor()
	t.out.WriteString(ansi.SetModeAltScreenSaveCursor)
	t.scr.SetFullscreen(true)
	t.scr.SetRelativeCursor(false)
	t.scr.Erase()
	return t
}

func (t *bvTerm) draw(frame string) {
	content := uv.NewStyledString(frame)
	t.cells.Clear()
	content.Draw(t.cells, t.cells.Bounds())
	t.scr.Render(t.cells.RenderBuffer)
	_ = t.scr.Flush()
	_, _ = t.emu.Write(t.out.Bytes())
	t.out.Reset()
}

func (t *bvTerm) resize(w, h int) {
	t.emu.Resize(w, h)
	t.scr.Erase()
	t.scr.Resize(w, h)
	t.cells.Touched = nil
	t.cells.Resize(w, h)
}

// emuWriter feeds a terminal emulator and counts what it is sent.
type emuWriter struct {
	emu   *vt.Emulator
	bytes int
}

func (w *emuWriter) Write(p []byte) (int, error) {
	w.bytes += len(p)
	return w.emu.Write(p)
}

// The screen shows what Bubble Tea's renderer showed, cell for cell and
// style for style, through messages, wrapped lines, multi-line notices,
// mentions, scrolling back and forth, new messages while scrolled back and
// resizes: only what is written to get there differs.
func TestScreenMatchesBubbleTeaRenderer(t *testing.T) {
	for _, profile := range []colorprofile.Profile{colorprofile.TrueColor, colorprofile.ANSI256} {
		t.Run(profile.String(), func(t *testing.T) {
			w, h := 60, 12
			m, _, _ := testModel(t, w, h)
			out := &emuWriter{emu: vt.NewEmulator(w, h)}
			scr := newScreen(out, profile, w, h)
			old := newBVTerm(w, h, profile)
			step := 0
			check := func(what string) {
				t.Helper()
				step++
				rows := m.rows()
				scr.draw(rows, m.msgs.height, m.caret(), 0)
				old.draw(strings.Join(rows, "\n"))
				if diff := visibleDiff(out.emu, old.emu); diff != "" {
					got, want := out.emu.Render(), old.emu.Render()
					t.Fatalf("step %d (%s): screens differ\nscreen:\n%s\nBubble Tea:\n%s\n%s", step, what, out.emu.String(), old.emu.String(), diff+"\n"+firstDiff(got, want))
				}
			}
			key := func(k tea.KeyPressMsg) {
				m.Update(k)
				check(k.String())
			}
			resize := func(nw, nh int) {
				m.Update(tea.WindowSizeMsg{Width: nw, Height: nh})
				out.emu.Resize(nw, nh)
				scr.resize(nw, nh)
				old.resize(nw, nh)
				check(fmt.Sprintf("resize %dx%d", nw, nh))
			}
			check("connected")
			id := uint64(0)
			say := func(from, text string) {
				id++
				m.Update(eventsMsg{testMessage(id, from, text)})
				check(text)
			}
			for i := range 25 {
				text := fmt.Sprintf("message %d", i)
				if i%4 == 3 {
					text += strings.Repeat(", and then some more words", i%7+1)
				}
				say("alice", text)
			}
			say("carol", "hey bob, are you there?")
			m.Update(eventsMsg{&room.Event{Kind: room.KindNotice, Text: "first\nsecond line\nthird", Time: testTime}})
			check("notice")
			key(tea.KeyPressMsg{Code: tea.KeyPgUp})
			key(tea.KeyPressMsg{Code: tea.KeyPgUp})
			say("alice", "while bob reads further up")
			key(tea.KeyPressMsg{Code: tea.KeyDown, Mod: tea.ModShift})
			key(tea.KeyPressMsg{Code: tea.KeyUp, Mod: tea.ModShift})
			for range 6 {
				key(tea.KeyPressMsg{Code: tea.KeyPgDown})
			}
			if !m.msgs.follow {
				t.Fatal("not following the bottom after paging down to it")
			}
			say("alice", "back at the bottom")
			for _, r := range "typing" {
				key(tea.KeyPressMsg{Code: r, Text: string(r)})
			}
			resize(40, 10)
			say("alice", "a narrower window wraps this line of text")
			resize(30, 2)
			say("alice", "a window too small for the interface")
			resize(80, 20)
			say("alice", "wider")
			batch := eventsMsg{}
			for i := range 5 {
				id++
				batch = append(batch, testMessage(id, "dave", fmt.Sprintf("batch %d", i)))
			}
			m.Update(batch)
			check("batch")
		})
	}
}

// After the first frame, a new message while following costs a scroll of
// the message area and the new row, not a redraw.
func TestScreenScrollsTheMessageArea(t *testing.T) {
	w, h := 80, 24
	m, _, _ := testModel(t, w, h)
	out := &emuWriter{emu: vt.NewEmulator(w, h)}
	m.scr = newScreen(out, colorprofile.TrueColor, w, h)
	for i := range 40 {
		m.Update(eventsMsg{testMessage(uint64(i+1), "alice", fmt.Sprintf("message %d", i))})
	}
	m.View()
	before := out.bytes
	m.Update(eventsMsg{testMessage(41, "alice", "message 40")})
	m.View()
	if n := out.bytes - before; n > 200 {
		t.Errorf("a new message took %d bytes to show; want a scroll and one row", n)
	}
	screen := out.emu.String()
	rows := strings.Split(screen, "\n")
	if len(rows) < h-2 || !strings.Contains(rows[h-3], "message 40") || !strings.Contains(rows[h-4], "message 39") {
		t.Fatalf("last messages not at the bottom of the message area:\n%s", screen)
	}
	if !strings.Contains(rows[h-2], "bob │ #lobby │ 1 members") {
		t.Fatalf("status line not on row %d:\n%s", h-1, screen)
	}
}

// Following, scrolling back (where new messages do not move the view but
// are counted on the area's last row), and following again once back at the
// bottom.
func TestTUIScrollBackAndFollow(t *testing.T) {
	m, _, _ := testModel(t, 80, 12) // 10 rows of messages
	for i := range 50 {
		m.Update(eventsMsg{testMessage(uint64(i+1), "alice", fmt.Sprintf("m%02d", i))})
	}
	area := func() string { return strings.Join(m.rows()[:m.msgs.height], "\n") }
	if a := area(); !strings.Contains(a, "m49") || strings.Contains(a, "m39") {
		t.Fatalf("not showing the last 10:\n%s", a)
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	if m.msgs.follow {
		t.Fatal("still following after PgUp")
	}
	a := area()
	if !strings.Contains(a, "m39") || strings.Contains(a, "m49") {
		t.Fatalf("PgUp did not go up a screen:\n%s", a)
	}
	above := func(a string) string { return a[:strings.LastIndex(a, "\n")] }
	if !strings.Contains(a, "more below") {
		t.Fatalf("no sign of more below while scrolled back:\n%s", a)
	}
	m.Update(eventsMsg{testMessage(51, "alice", "m50")})
	if above(area()) != above(a) {
		t.Fatalf("a new message moved the view while scrolled back:\n%s", area())
	}
	if !strings.Contains(area(), "1 new message ↓") {
		t.Fatalf("the new message is not counted:\n%s", area())
	}
	m.Update(eventsMsg{testMessage(52, "alice", "m51"), testMessage(53, "alice", "m52")})
	if !strings.Contains(area(), "3 new messages ↓") {
		t.Fatalf("the new messages are not counted:\n%s", area())
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgDown})
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgDown})
	if !m.msgs.follow || !strings.Contains(area(), "m52") || strings.Contains(area(), "new message") {
		t.Fatalf("not following after PgDn to the bottom:\n%s", area())
	}
	m.Update(eventsMsg{testMessage(54, "alice", "m53")})
	if !strings.Contains(area(), "m53") {
		t.Fatalf("new message not shown while following:\n%s", area())
	}
}

// A batch is filed in order and rings once per mention.
func TestTUIBatchOrderAndBells(t *testing.T) {
	m, _, _ := testModel(t, 80, 24)
	out := &emuWriter{emu: vt.NewEmulator(80, 24)}
	bells := 0
	out.emu.SetCallbacks(vt.Callbacks{Bell: func() { bells++ }})
	m.scr = newScreen(out, colorprofile.ANSI256, 80, 24)
	m.Update(eventsMsg{
		testMessage(1, "alice", "one"),
		testMessage(2, "alice", "two, bob"),
		testMessage(3, "alice", "three"),
		testMessage(4, "carol", "Bob: four"),
	})
	m.View()
	if bells != 2 {
		t.Errorf("%d bells for two mentions", bells)
	}
	screen := out.emu.String()
	last := -1
	for _, w := range []string{"<alice> one", "<alice> two, bob", "<alice> three", "<carol> Bob: four"} {
		i := strings.Index(screen, w)
		if i <= last {
			t.Fatalf("%q missing or out of order:\n%s", w, screen)
		}
		last = i
	}
}

// The terminal's member line names 50 members; line mode names them all.
func TestMembersLineCappedInTUIOnly(t *testing.T) {
	ev := &room.Event{Kind: room.KindMembers, Room: "lobby", Count: 120, Time: testTime}
	for i := range 120 {
		ev.Members = append(ev.Members, room.Member{Nick: fmt.Sprintf("n%03d", i), Via: room.ViaWeb})
	}
	tui := ansi.Strip(renderTUI(ev))
	if !strings.Contains(tui, "#lobby members (120): n000 (web)") || !strings.Contains(tui, "n049 (web), … and 70 more") || strings.Contains(tui, "n050") {
		t.Errorf("terminal member line: %s", tui)
	}
	line := string(wire.FormatLine(ev))
	if !strings.Contains(line, "n119 (web)\n") || strings.Contains(line, "more") {
		t.Errorf("line mode member line: %s", line)
	}
}

// recordingModel records the messages the loop passes it, and quits when
// told the session is over, as the terminal's model does.
type recordingModel struct {
	mu   sync.Mutex
	msgs []tea.Msg
	// passed, if set, is sent every message too.
	passed chan tea.Msg
}

func (p *recordingModel) Init() tea.Cmd { return nil }

func (p *recordingModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	p.mu.Lock()
	p.msgs = append(p.msgs, msg)
	p.mu.Unlock()
	if p.passed != nil {
		p.passed <- msg
	}
	if _, ok := msg.(closedMsg); ok {
		return p, tea.Quit
	}
	return p, nil
}

func (p *recordingModel) View() tea.View { return tea.View{} }

// countWritten counts the hub's delivery acknowledgements and closes
// reached once want of them have arrived.
type countWritten struct {
	mu      sync.Mutex
	n, want int
	reached chan struct{}
}

// await sets the count to wait for; reached is closed when it is met.
func (c *countWritten) await(want int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want, c.reached = want, make(chan struct{})
	if c.n >= want {
		close(c.reached)
	}
	return c.reached
}

func (*countWritten) SessionOpened(room.Via)                   {}
func (*countWritten) SessionClosed(room.Via, room.CloseReason) {}
func (*countWritten) InputReceived(room.Via)                   {}
func (*countWritten) InputRefused(room.Via, string)            {}
func (*countWritten) Delivered(int)                            {}
func (*countWritten) RoomsChanged(int)                         {}
func (*countWritten) PresenceSkipped(room.Via)                 {}
func (*countWritten) MessageSkipped(room.Via)                  {}
func (c *countWritten) Written(room.Via, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.reached != nil && c.n == c.want {
		close(c.reached)
	}
}

// The loop hands the model whatever is queued in batches, in order, and
// acknowledges every event; at the end it passes on the rest of the queue
// and the reason, and returns.
func TestLoopBatchesInOrder(t *testing.T) {
	obs := &countWritten{}
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12),
		room.WithObserver(obs), room.WithRate(1000, 1000))
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Leave()
	const n = 300
	for i := range n {
		hub.Input(alice, "", fmt.Sprintf("m%d", i))
	}
	queued := len(bob.Events())
	acknowledged := obs.await(queued)
	p := &recordingModel{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		newTUILoop(p).run(bob, newWindowFeed(), nil)
	}()
	select {
	case <-acknowledged:
	case <-time.After(5 * time.Second):
		obs.mu.Lock()
		t.Fatalf("%d of %d events acknowledged", obs.n, queued)
	}
	bob.Close(room.ReasonQuit)
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	next, events := 0, 0
	for _, msg := range p.msgs {
		batch, ok := msg.(eventsMsg)
		if !ok {
			continue
		}
		if len(batch) > maxBatch {
			t.Errorf("batch of %d", len(batch))
		}
		for _, ev := range batch {
			events++
			if ev.Kind != room.KindMessage {
				continue
			}
			if want := fmt.Sprintf("m%d", next); ev.Text != want {
				t.Fatalf("got %q, want %q", ev.Text, want)
			}
			next++
		}
	}
	if next != n {
		t.Errorf("%d of %d messages passed on", next, n)
	}
	if events < queued {
		t.Errorf("%d events passed on, %d were queued", events, queued)
	}
	if last, ok := p.msgs[len(p.msgs)-1].(closedMsg); !ok || last.reason != room.ReasonQuit {
		t.Errorf("last message %#v, want closedMsg{quit}", p.msgs[len(p.msgs)-1])
	}
	if len(p.msgs) > n/2 {
		t.Errorf("%d messages sent for %d queued events: not batched", len(p.msgs), queued)
	}
}

// The loop passes on window changes, each once; when the session ends it
// passes on the reason and returns; when the connection ended first (which
// closes the session), it returns without passing anything on.
func TestLoopWindowChangesAndEnds(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	next := func(p *recordingModel) tea.Msg {
		t.Helper()
		select {
		case msg := <-p.passed:
			return msg
		case <-time.After(5 * time.Second):
			t.Fatal("nothing passed on")
			return nil
		}
	}
	skipEvents := func(p *recordingModel) tea.Msg {
		t.Helper()
		for {
			if msg := next(p); !isEvents(msg) {
				return msg
			}
		}
	}

	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingModel{passed: make(chan tea.Msg, 64)}
	win := newWindowFeed()
	done := make(chan struct{})
	go func() {
		defer close(done)
		newTUILoop(p).run(bob, win, make(chan struct{}))
	}()
	win.set(ssh.Window{Width: 100, Height: 30})
	if msg := skipEvents(p); msg != (tea.WindowSizeMsg{Width: 100, Height: 30}) {
		t.Fatalf("passed %#v, want the window change", msg)
	}
	bob.Close(room.ReasonStopping)
	if msg, ok := skipEvents(p).(closedMsg); !ok || msg.reason != room.ReasonStopping {
		t.Fatalf("passed %#v, want the session's end", msg)
	}
	<-done

	carol, err := hub.Connect(room.Identity{Nick: "carol", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	p = &recordingModel{passed: make(chan tea.Msg, 64)}
	ctxDone := make(chan struct{})
	done = make(chan struct{})
	go func() {
		defer close(done)
		newTUILoop(p).run(carol, newWindowFeed(), ctxDone)
	}()
	close(ctxDone)
	carol.Close(room.ReasonClosed)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not return when its connection ended")
	}
	for _, msg := range p.msgs {
		if _, ok := msg.(closedMsg); ok {
			t.Fatal("the end was drawn on a connection that is over")
		}
	}
}

func isEvents(msg tea.Msg) bool {
	_, ok := msg.(eventsMsg)
	return ok
}

// firstDiff shows where two renderings part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("from byte %d:\n  screen:     %q\n  Bubble Tea: %q", i, a[from:min(len(a), i+60)], b[from:min(len(b), i+60)])
}

// visibleDiff compares what two terminals show, cell by cell: characters
// and their styles, except what cannot be seen on a blank cell (its
// foreground colour, bold, italic...). Bubble Tea's renderer leaves a
// coloured space blank; screen writes it.
func visibleDiff(a, b *vt.Emulator) string {
	if a.Width() != b.Width() || a.Height() != b.Height() {
		return fmt.Sprintf("sizes %dx%d and %dx%d", a.Width(), a.Height(), b.Width(), b.Height())
	}
	const invisibleOnBlank = uv.AttrBold | uv.AttrFaint | uv.AttrItalic | uv.AttrBlink | uv.AttrRapidBlink
	norm := func(c *uv.Cell) uv.Cell {
		if c == nil {
			return uv.Cell{Content: " ", Width: 1}
		}
		n := *c
		if n.Content == "" && n.Width == 1 {
			n.Content = " "
		}
		if n.Content == " " {
			n.Style.Fg = nil
			n.Style.Attrs &^= invisibleOnBlank
		}
		return n
	}
	for y := range a.Height() {
		for x := range a.Width() {
			ca, cb := norm(a.CellAt(x, y)), norm(b.CellAt(x, y))
			if ca.Content != cb.Content || ca.Width != cb.Width || !ca.Style.Equal(&cb.Style) || ca.Link != cb.Link {
				return fmt.Sprintf("cell %d,%d: %q %+v / %q %+v", x, y, ca.Content, ca.Style, cb.Content, cb.Style)
			}
		}
	}
	return ""
}

// Text past --max-message is never cut: the input keeps all of it, and
// Enter refuses it with the count over the limit, leaving it to be
// shortened; up to the limit (whatever it is) it is sent.
func TestInputOverMaxMessageKeptAndRefused(t *testing.T) {
	for _, limit := range []int{50, room.DefaultMaxMessage + 1000} {
		hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithMaxMessage(limit))
		cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
		if err != nil {
			t.Fatal(err)
		}
		m := newTUIModel(hub, cs, 200, 24)
		readQueued(m, cs)
		typed := strings.Repeat("x", limit+10)
		m.Update(tea.PasteMsg{Content: typed})
		if got := len(m.input.Value()); got != len(typed) {
			t.Errorf("--max-message %d: the input holds %d characters of %d typed", limit, got, len(typed))
		}
		m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		area := ansi.Strip(strings.Join(m.rows()[:m.msgs.height], "\n"))
		want := fmt.Sprintf("not sent: %d characters, 10 over the limit of %d", limit+10, limit)
		if !strings.Contains(area, want) || m.input.Value() != typed {
			t.Errorf("--max-message %d: after Enter the input holds %d characters and the log lacks %q:\n%s", limit, len(m.input.Value()), want, area)
		}
		m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
		for range 9 {
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
		}
		m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		sent := false
		for len(cs.Events()) > 0 {
			if ev := <-cs.Events(); ev.Kind == room.KindMessage && ev.Text == typed[:limit] {
				sent = true
			}
		}
		if !sent || m.input.Value() != "" {
			t.Errorf("--max-message %d: %d characters were not sent", limit, limit)
		}
		cs.Leave()
	}
}

// Someone else going away or coming back shows in each room's log; the
// user's own away is told once, by the notice answering /away.
func TestTUIShowsOthersAway(t *testing.T) {
	m, hub, cs := testModel(t, 80, 24)
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	hub.Input(alice, "", "/away making coffee")
	hub.Input(cs, "", "/away lunch")
	readQueued(m, cs)
	hub.Input(alice, "", "/back")
	readQueued(m, cs)
	area := ansi.Strip(strings.Join(m.rows()[:m.msgs.height], "\n"))
	for _, want := range []string{"--- alice is away: making coffee", "--- alice is back", "You are marked as away: lunch"} {
		if !strings.Contains(area, want) {
			t.Errorf("the log lacks %q:\n%s", want, area)
		}
	}
	if strings.Contains(area, "bob is away") {
		t.Errorf("the user's own away is shown twice:\n%s", area)
	}
}

// A multi-line message shows its lines after the first indented under the
// first, so none reads as a message of its own.
func TestTUIIndentsContinuationLines(t *testing.T) {
	m, _, _ := testModel(t, 80, 24)
	m.Update(eventsMsg{testMessage(1, "alice", "here is the plan:\n1. build\n\n12:00 <mallory> forged")})
	rows := m.rows()[:m.msgs.height]
	var shown []string
	for _, r := range rows {
		if r := strings.TrimRight(ansi.Strip(r), " "); r != "" {
			shown = append(shown, r)
		}
	}
	want := []string{
		testTime.Local().Format("15:04") + " <alice> here is the plan:",
		"              1. build",
		"              12:00 <mallory> forged",
	}
	if len(shown) < len(want) || !slices.Equal(shown[len(shown)-len(want):], want) {
		t.Errorf("the log shows\n%s\nwant it to end with\n%s", strings.Join(shown, "\n"), strings.Join(want, "\n"))
	}
}

// A bracketed paste of several lines becomes one message, its line breaks
// shown as marks in the input line; the newline ending a pasted line does
// not add a blank one.
func TestTUIPasteOfSeveralLinesIsOneMessage(t *testing.T) {
	m, hub, _ := testModel(t, 80, 24)
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	for len(alice.Events()) > 0 {
		<-alice.Events()
	}
	m.Update(tea.PasteMsg{Content: "one\r\ntwo\n  three\n"})
	if got := m.input.Value(); got != "one↵two↵  three" {
		t.Fatalf("the input holds %q", got)
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	var got []string
	for len(alice.Events()) > 0 {
		if ev := <-alice.Events(); ev.Kind == room.KindMessage {
			got = append(got, ev.Text)
		}
	}
	if len(got) != 1 || got[0] != "one\ntwo\n  three" {
		t.Errorf("alice got the messages %q, want one of three lines", got)
	}
}

// The status line follows every change of what it shows: the member
// count, the topic, the user's nick, another room and its unread mark;
// frames in between show it unchanged.
func TestStatusLineFollowsItsParts(t *testing.T) {
	m, hub, bob := testModel(t, 120, 24)
	status := func() string { return ansi.Strip(m.statusLine()) }
	want := func(step string, parts ...string) {
		t.Helper()
		s := status()
		for _, p := range parts {
			if !strings.Contains(s, p) {
				t.Fatalf("%s: status %q lacks %q", step, s, p)
			}
		}
	}
	want("alone", "bob │ #lobby │ 1 members")
	if again := status(); again != status() {
		t.Fatalf("status changed with nothing new: %q", again)
	}
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Leave()
	readQueued(m, bob)
	want("a second member", "#lobby │ 2 members")
	hub.Input(bob, "", "/topic tea at five")
	readQueued(m, bob)
	want("topic", "│ tea at five")
	hub.Input(bob, "", "/nick robert")
	readQueued(m, bob)
	want("nick", "robert │ #lobby")
	hub.Input(bob, "", "/join kitchen")
	readQueued(m, bob)
	want("second room", "#kitchen │ 1 members", "#lobby #kitchen")
	hub.Input(alice, "", "hello lobby")
	readQueued(m, bob)
	want("unread", "#lobby*")
}
