package sshchat

import (
	"bytes"
	"fmt"
	"io"
	"runtime/debug"
	"slices"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"

	"github.com/tertulia/tertulia/internal/room"
)

// maxBatch bounds how many queued events one batch carries, so a session
// whose queue never empties still acknowledges what it has shown.
const maxBatch = 256

// tuiLoop runs a terminal session's model: one goroutine takes the room's
// events as they are queued (in batches), what the user types, window
// changes and the results of the model's commands, and for each turn runs
// Update and then View, which draws the frame. It stands in for Bubble
// Tea's Program, whose event loop is fed through a goroutine of its own
// per session (three goroutines woken for every event: the pump that read
// the queue, the event loop, and the loop that runs commands, woken even
// for none), with a renderer ticker besides; here an event wakes one.
type tuiLoop struct {
	model tea.Model
	// msgs carries what the user types and what commands return; quit is
	// closed when the loop is over, so that no sender waits on it then.
	msgs chan tea.Msg
	quit chan struct{}
}

func newTUILoop(model tea.Model) *tuiLoop {
	return &tuiLoop{model: model, msgs: make(chan tea.Msg), quit: make(chan struct{})}
}

// send passes msg to the loop, unless it is over. Safe from any goroutine.
func (l *tuiLoop) send(msg tea.Msg) {
	select {
	case l.msgs <- msg:
	case <-l.quit:
	}
}

// sendInput passes an input event as Bubble Tea's reader would have: the
// keyReader passes on keys, pastes and wheel turns only.
func (l *tuiLoop) sendInput(ev uv.Event) {
	switch ev := ev.(type) {
	case uv.KeyPressEvent:
		l.send(tea.KeyPressMsg(ev))
	case uv.PasteEvent:
		l.send(tea.PasteMsg(ev))
	case uv.MouseWheelEvent:
		l.send(tea.MouseWheelMsg(ev))
	}
}

// command runs cmd in a goroutine of its own, as Bubble Tea does (a tick
// waits), and passes on what it returns.
func (l *tuiLoop) command(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			l.send(msg)
		}
	}()
}

// update runs Update and View for msg and reports whether the model asked
// to quit, or nothing more should be drawn.
func (l *tuiLoop) update(msg tea.Msg) (quit bool) {
	switch msg := msg.(type) {
	case tea.QuitMsg:
		return true
	case tea.BatchMsg:
		for _, cmd := range msg {
			l.command(cmd)
		}
		return false
	}
	var cmd tea.Cmd
	l.model, cmd = l.model.Update(msg)
	l.command(cmd)
	l.model.View()
	return false
}

// run draws the first frame and serves the session until the model quits
// (after the session's end: its queue drawn, then the reason) or the
// connection ends (ctxDone: nothing more is drawn). The room's events are
// passed on in batches, each acknowledged once drawn. Window changes come
// from win, which keeps only the latest size: while the loop is busy
// (drawing on a peer that does not read, say) they pile up as one, and
// nothing on the connection's side ever waits for the loop.
//
// The loop waits on three channels: the queue, msgs, and win's, which the
// session's end pokes too (the connection's end closes the session: see
// connect). Every event pays for each channel of the select it wakes from
// (each is locked, queued on and dequeued from), and five cost about a
// tenth of a delivery's CPU.
func (l *tuiLoop) run(cs *room.Session, win *windowFeed, ctxDone <-chan struct{}) {
	defer close(l.quit)
	events, done := cs.Events(), cs.Done()
	if win == nil {
		win = newWindowFeed()
	}
	cs.OnClose(func(room.CloseReason) { win.poke() })
	l.model.View()
	for {
		select {
		case ev := <-events:
			// The model keeps the batch: a fresh one each time.
			batch := cs.NextBatch(nil, ev, maxBatch)
			l.update(eventsMsg(batch))
			cs.Ack(batch)
		case msg := <-l.msgs:
			if l.update(msg) {
				return
			}
		case <-win.Changed():
			select {
			case <-done:
				l.end(cs, ctxDone)
				return
			default:
			}
			if w, resized := win.take(); resized {
				l.update(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			}
		}
	}
}

// end draws what is left of a closed session's queue, then the reason; the
// model quits on the latter (what it still waits for, a tick, is not
// awaited). If the connection is over, nothing is drawn.
func (l *tuiLoop) end(cs *room.Session, ctxDone <-chan struct{}) {
	select {
	case <-ctxDone:
		return
	default:
	}
	cs.Drain(maxBatch, func(batch []*room.Event) error {
		l.update(eventsMsg(slices.Clone(batch)))
		return nil
	})
	l.update(closedMsg{cs.CloseReason()})
}

// screenOutput is where a terminal session's frames go: the session's
// channel itself. Written through sess, every frame would be copied twice
// (charm's emulated PTY turns "\n" into "\r\n", with two bytes.ReplaceAll
// that copy even when there is none) after two context look-ups; frames
// have no "\n" but the farewell's, which ptyOutput converts the same way.
func (s *Server) screenOutput(sess ssh.Session) io.Writer {
	st := connStateOf(sess.Context())
	if st == nil {
		return sess
	}
	raw := st.shellOutput()
	if raw == nil {
		return sess
	}
	if sess.EmulatedPty() {
		return ptyOutput{raw}
	}
	return raw
}

// ptyOutput is charm's ptyWriter, which copies only what has a "\n".
type ptyOutput struct{ w io.Writer }

func (o ptyOutput) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') < 0 {
		return o.w.Write(p)
	}
	return ssh.NewPtyWriter(o.w).Write(p)
}

// runTUI serves a session with a PTY.
func (s *Server) runTUI(sess ssh.Session, cs *room.Session) {
	pty, _, _ := sess.Pty()
	// The size comes from the channel's filter, which clamped it and keeps
	// the latest window change (charm's own channel of them is not read:
	// the filter passes none on).
	var win *windowFeed
	if st := connStateOf(sess.Context()); st != nil {
		win = st.shellWindow()
	}
	if win == nil {
		win = newWindowFeed()
		win.set(pty.Window)
	}
	select {
	case <-win.Changed(): // the size taken next
	default:
	}
	size, _ := win.take()
	// The colour profile wish's options give an emulated PTY.
	profile := colorprofile.Env(append(sess.Environ(), "TERM="+pty.Term))
	// Without colours the mono theme is the default (see theme).
	model := newTUIModelApart(s.hub, cs, size.Width, size.Height, profile > colorprofile.ASCII)
	model.scr = newScreen(s.screenOutput(sess), profile, model.width, model.height)
	model.scr.converted, model.scr.frames = &s.profileRows, &s.frameBufs
	// The loop runs the model; screen draws and readKeys reads in place of
	// Bubble Tea's renderer and input reader (see why there).
	loop := newTUILoop(model)
	go readKeys(sess, loop.sendInput)
	s.runLoop(loop, cs, win, sess.Context().Done())
	// Closed before the last write, so that a peer that does not read it
	// is cut after the grace (see cutStuckWriter).
	cs.Close(room.ReasonClosed)
	// The loop is over: the screen and the model are this goroutine's
	// still. What was on screen and why it ended stay in the terminal (not
	// for a client too slow to read them).
	model.scr.stop()
	if reason := cs.CloseReason(); !reason.DropsQueue() {
		model.scr.writeFarewell(model.farewell(reason))
	}
}

// newTUIModelApart is newTUIModel on a goroutine of its own, with its
// colours and its look (which styles the textinput) settled there too.
// Building and styling the textinput (7.8 KB, and 3 KB of styles, copied by
// value on the way) takes a 32–128 KB stack, which the session's goroutine
// would otherwise keep for its whole life (until collections shrink it, by
// half each): more than the session's own heap.
func newTUIModelApart(hub *room.Hub, cs *room.Session, width, height int, colour bool) *tuiModel {
	built := make(chan *tuiModel, 1)
	go func() {
		m := newTUIModel(hub, cs, width, height)
		m.colour = colour
		m.look()
		built <- m
	}()
	return <-built
}

// runLoop runs loop, ending the session, not the server, if the model
// panics (as Bubble Tea's Program did).
func (s *Server) runLoop(loop *tuiLoop, cs *room.Session, win *windowFeed, ctxDone <-chan struct{}) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("tui", "nick", cs.Nick(), "err", fmt.Sprintf("panic: %v", r), "stack", string(debug.Stack()))
		}
	}()
	loop.run(cs, win, ctxDone)
}
