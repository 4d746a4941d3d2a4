package sshchat

import (
	"slices"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"

	"github.com/tertulia/tertulia/internal/room"
)

// teaFPS is how often Bubble Tea wakes each session's renderer loop. With
// the renderer replaced by screen that loop has nothing to draw, and frames
// are drawn as soon as the model changes, whatever this rate; once a second
// is the least it takes (60 by default, which cost idle sessions CPU).
const teaFPS = 1

// maxBatch bounds how many queued events one message carries, so a session
// whose queue never empties still acknowledges what it has shown.
const maxBatch = 256

// teaProgram is what the pump needs of the program.
type teaProgram interface {
	Send(tea.Msg)
	Quit()
}

// pump is the only path from the room to a terminal session: the sender's
// goroutine only ever queues. It passes the queued events to the program in
// batches, acknowledging each, and also window changes and the end of the
// connection, so one goroutine does all three. Window changes come from win,
// which keeps only the latest size: while the program is busy (drawing on a
// peer that does not read, say) they pile up as one, and nothing on the
// connection's side ever waits for the pump. It closes pumpDone once the
// session is over and its queue written.
func pump(cs *room.Session, program teaProgram, win *windowFeed, ctxDone <-chan struct{}, pumpDone chan<- struct{}) {
	events, done := cs.Events(), cs.Done()
	var resized <-chan struct{}
	if win != nil {
		resized = win.Changed()
	}
	for {
		select {
		case ev := <-events:
			// The program keeps the batch: a fresh one each time.
			batch := cs.NextBatch(nil, ev, maxBatch)
			program.Send(eventsMsg(batch))
			cs.Ack(batch)
		case <-done:
			cs.Drain(maxBatch, func(batch []*room.Event) error {
				program.Send(eventsMsg(slices.Clone(batch)))
				return nil
			})
			program.Send(closedMsg{cs.CloseReason()})
			close(pumpDone)
			return
		case <-resized:
			w := win.get()
			program.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		case <-ctxDone:
			cs.Close(room.ReasonClosed)
			program.Quit()
			// done is closed now: the next turn writes what is queued.
			ctxDone, resized = nil, nil
		}
	}
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
	case <-win.Changed(): // the size read next
	default:
	}
	size := win.get()
	model := newTUIModel(s.hub, cs, size.Width, size.Height)
	// The colour profile wish's options give an emulated PTY.
	profile := colorprofile.Env(append(sess.Environ(), "TERM="+pty.Term))
	model.scr = newScreen(sess, profile, model.width, model.height)
	// Without colours the mono theme is the default (see theme).
	model.colour = profile > colorprofile.ASCII
	// Bubble Tea runs the model (Update, View, commands such as the
	// cursor's blinking); screen draws and readKeys reads in place of its
	// renderer and input reader (see why there).
	opts := append(bubbletea.MakeOptions(sess), tea.WithInput(nil),
		tea.WithoutSignalHandler(), tea.WithoutRenderer(), tea.WithFPS(teaFPS),
		// The size the model starts at (pty.Window predates any window
		// change sent before the shell).
		tea.WithWindowSize(model.width, model.height))
	program := tea.NewProgram(model, opts...)
	go readKeys(sess, func(ev uv.Event) { program.Send(ev) })

	pumpDone := make(chan struct{})
	go pump(cs, program, win, sess.Context().Done(), pumpDone)
	if _, err := program.Run(); err != nil {
		s.log.Error("tui", "nick", cs.Nick(), "err", err)
	}
	program.Kill()
	// Closed before the last write, so that a peer that does not read it
	// is cut after the grace (see cutStuckWriter).
	cs.Close(room.ReasonClosed)
	// The event loop is over: the screen and the model are this
	// goroutine's now. What was on screen and why it ended stay in the
	// terminal (not for a client too slow to read them).
	model.scr.stop()
	if reason := cs.CloseReason(); !reason.DropsQueue() {
		model.scr.writeFarewell(model.farewell(reason))
	}
	s.awaitWriter(cs, pumpDone)
}
