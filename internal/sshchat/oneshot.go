package sshchat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/ssh"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// Exit statuses of one-shot commands.
const (
	exitOK      = 0
	exitRefused = 1 // the server refused: not allowed, muted, rate limited, no such room...
	exitUsage   = 2 // the command line is wrong
)

// oneShotFailure is a refusal, as the user is told it on standard error.
type oneShotFailure struct {
	code string // the core's error code ("rate_limited"), or "" for the front-end's own
	text string
}

func (f *oneShotFailure) Error() string { return f.text }

// runOneShot serves an SSH exec request: one command of the one-shot set
// (see ParseOneShotArgs), run as cs, a one-shot session. It returns the
// exit status; a failure is one line on standard error.
func (s *Server) runOneShot(sess ssh.Session, cs *room.Session) int {
	args, err := ParseOneShotArgs(sess.RawCommand())
	if err != nil {
		s.oneShotError(sess, err.Error())
		return exitUsage
	}
	var w io.Writer = sess
	_, _, isPty := sess.Pty()
	if isPty && args.Command == "say" && !args.HasText {
		// A raw terminal sends Ctrl-D as a byte, not as the end of input.
		s.oneShotError(sess, "usage: say reads standard input only without a terminal (no ssh -t); or give the TEXT")
		return exitUsage
	}
	if isPty {
		// `ssh -t`: the client's terminal is raw, so lines end in CRLF, and
		// Ctrl-C or Ctrl-D typed there arrive as bytes: they end the
		// command (tail -f), which reads no other input then.
		w = crlfWriter{sess}
		go endOnInterrupt(sess, cs)
	}
	out := bufio.NewWriter(w)
	run := &oneShot{srv: s, sess: sess, cs: cs, args: args, out: out}
	err = run.run()
	if ferr := out.Flush(); err == nil && ferr != nil {
		return exitRefused
	}
	if err != nil {
		s.oneShotError(sess, err.Error())
		return exitRefused
	}
	return exitOK
}

// oneShotError writes text as one line on standard error, without control
// characters.
func (s *Server) oneShotError(sess ssh.Session, text string) {
	text = withoutControls(text)
	end := "\n"
	if _, _, isPty := sess.Pty(); isPty {
		end = "\r\n"
	}
	fmt.Fprintf(sess.Stderr(), "tertulia: %s%s", text, end)
}

// crlfWriter ends lines in CRLF, for a terminal in raw mode.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// endOnInterrupt closes cs when the terminal sends Ctrl-C or Ctrl-D, or
// its input ends.
func endOnInterrupt(r io.Reader, cs *room.Session) {
	defer cs.Close(room.ReasonClosed)
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		if bytes.ContainsAny(buf[:n], "\x03\x04") || err != nil {
			return
		}
	}
}

// oneShot is one one-shot command being run.
type oneShot struct {
	srv  *Server
	sess ssh.Session
	cs   *room.Session
	args OneShotArgs
	out  *bufio.Writer
}

func (o *oneShot) run() error {
	switch o.args.Command {
	case "help":
		_, err := o.out.WriteString(oneShotUsage)
		return err
	case "say":
		return o.say()
	case "msg":
		return o.command("/msg " + o.args.Nick + " " + o.args.Text)
	case "who":
		return o.command("/names " + o.args.Rooms[0])
	case "rooms":
		return o.command("/rooms")
	case "whois":
		return o.command("/whois " + o.args.Nick)
	case "history":
		return o.history()
	case "tail":
		return o.tail()
	}
	return fmt.Errorf("unknown command %q", o.args.Command)
}

// taken is what the hub queued for the session so far: it answers a
// command synchronously, so once the call returns its answer is queued.
// The first error is returned as a failure.
func (o *oneShot) taken() ([]*room.Event, error) {
	var evs []*room.Event
	for {
		select {
		case ev := <-o.cs.Events():
			evs = append(evs, ev)
			continue
		default:
		}
		break
	}
	o.cs.Ack(evs)
	for _, ev := range evs {
		if ev.Kind == room.KindError {
			return evs, &oneShotFailure{code: ev.Code, text: ev.Text}
		}
	}
	select {
	case <-o.cs.Done():
		return evs, &oneShotFailure{text: "session ended: " + o.cs.CloseReason().Text}
	default:
	}
	return evs, nil
}

// command runs a slash command and prints its answers.
func (o *oneShot) command(line string) error {
	o.srv.hub.Input(o.cs, "", line)
	evs, err := o.taken()
	if err != nil {
		return err
	}
	for _, ev := range evs {
		switch ev.Kind {
		case room.KindMembers, room.KindRooms, room.KindNotice:
			if err := o.print(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// print writes ev in the output format asked for.
func (o *oneShot) print(ev *room.Event) error {
	if o.args.JSON {
		if ev.Kind == room.KindHistory {
			// One message frame per line, as they are sent live.
			for _, m := range ev.History {
				if err := o.printJSON(m); err != nil {
					return err
				}
			}
			return nil
		}
		return o.printJSON(ev)
	}
	_, err := o.out.Write(ev.Render(room.FormatLine, wire.FormatLine))
	return err
}

func (o *oneShot) printJSON(ev *room.Event) error {
	if _, err := o.out.Write(ev.Render(room.FormatJSON, wire.EncodeEvent)); err != nil {
		return err
	}
	return o.out.WriteByte('\n')
}

// maxStdinBytes bounds what say reads as one message (or one line with
// --lines): the message size limit, at the most bytes a character takes.
func (o *oneShot) maxStdinBytes() int { return o.srv.hub.MaxMessage() * utf8.UTFMax }

// say posts the text of the command line, or standard input as one
// message, or with --lines one message per line, paced within the rate
// limits.
func (o *oneShot) say() error {
	target := o.args.Rooms[0]
	if o.args.HasText {
		return o.post(target, o.args.Text)
	}
	maxBytes := o.maxStdinBytes()
	if !o.args.Lines {
		data, err := io.ReadAll(io.LimitReader(o.sess, int64(maxBytes)+1))
		if err != nil {
			return err
		}
		if len(data) > maxBytes {
			return &oneShotFailure{text: fmt.Sprintf("message not sent: standard input is longer than %d bytes (the limit is %d characters)", maxBytes, o.srv.hub.MaxMessage())}
		}
		return o.post(target, strings.TrimRight(string(data), "\r\n"))
	}
	br := bufio.NewReaderSize(o.sess, 4096)
	sent := 0
	for {
		line, err := readLimitedLine(br, maxBytes)
		if errors.Is(err, errLineTooLong) {
			return &oneShotFailure{text: fmt.Sprintf("line %d not sent (nor those after it): longer than %d bytes", sent+1, maxBytes)}
		}
		line = strings.TrimSuffix(line, "\r")
		if kept, _ := room.MessageText(line); kept != "" {
			if perr := o.postPaced(target, kept); perr != nil {
				return perr
			}
			sent++
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// post sends text to the room as one message; nil once it is stored.
func (o *oneShot) post(roomName, text string) error {
	kept, _ := room.MessageText(text)
	if kept == "" {
		return &oneShotFailure{code: "empty", text: "message not sent: nothing to send"}
	}
	if strings.HasPrefix(kept, "/") {
		kept = "/" + kept // text, never a command: the core takes one '/' off
	}
	o.srv.hub.Input(o.cs, roomName, kept)
	_, err := o.taken()
	return err
}

// postPaced is post, waiting for the input budget first and again if
// another one-shot of the same identity spent it meanwhile.
func (o *oneShot) postPaced(roomName, text string) error {
	for {
		if err := o.awaitBudget(); err != nil {
			return err
		}
		err := o.post(roomName, text)
		var f *oneShotFailure
		if errors.As(err, &f) && f.code == "rate_limited" {
			continue
		}
		return err
	}
}

// awaitBudget waits until the session's input budget allows a line, or
// the connection ends.
func (o *oneShot) awaitBudget() error {
	for {
		wait := o.cs.InputWait()
		if wait == 0 {
			return nil
		}
		if wait < 0 {
			return &oneShotFailure{code: "rate_limited", text: "rate limited: no input is allowed"}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.cs.Done():
			t.Stop()
			return &oneShotFailure{text: "session ended: " + o.cs.CloseReason().Text}
		}
	}
}

// history prints one page of a room's stored messages.
func (o *oneShot) history() error {
	r := o.args.Rooms[0]
	if o.args.After != 0 {
		o.srv.hub.HistoryAfterRequest(o.cs, r, o.args.After, o.args.Count)
	} else {
		o.srv.hub.HistoryRequest(o.cs, r, o.args.Before, o.args.Count)
	}
	return o.printHistory()
}

// printHistory prints the history pages queued; other events queued
// meanwhile (live ones, when following) are returned, in order.
func (o *oneShot) printHistory() error {
	evs, err := o.taken()
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Kind == room.KindHistory {
			if err := o.print(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// tail prints the last messages of each room and, with -f, follows them
// until the connection ends.
func (o *oneShot) tail() error {
	var live []*room.Event
	rooms := make(map[string]bool, len(o.args.Rooms))
	for i, r := range o.args.Rooms {
		if i > 0 {
			if err := o.awaitBudget(); err != nil {
				return err
			}
		}
		var before uint64
		if o.args.Follow {
			last, err := o.srv.hub.Watch(o.cs, r)
			if err != nil {
				return err
			}
			// What came after last is delivered live: not in the page too.
			before = last + 1
		}
		o.srv.hub.HistoryRequest(o.cs, r, before, o.args.Count)
		evs, err := o.taken()
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Kind == room.KindHistory {
				rooms[ev.Room] = true
				if err := o.print(ev); err != nil {
					return err
				}
			} else {
				live = append(live, ev)
			}
		}
	}
	if !o.args.Follow {
		return nil
	}
	for _, ev := range live {
		if err := o.printLive(rooms, ev); err != nil {
			return err
		}
	}
	if err := o.out.Flush(); err != nil {
		return err
	}
	var buf [maxLineBatch]*room.Event
	for {
		select {
		case ev := <-o.cs.Events():
			batch := o.cs.NextBatch(buf[:0], ev, len(buf))
			for _, ev := range batch {
				if err := o.printLive(rooms, ev); err != nil {
					return err
				}
			}
			if err := o.out.Flush(); err != nil {
				return err
			}
			o.cs.Ack(batch)
		case <-o.cs.Done():
			if o.sess.Context().Err() != nil || o.cs.CloseReason().Code == room.ReasonClosed.Code {
				return nil // the client went away: following is over
			}
			return &oneShotFailure{text: "session ended: " + o.cs.CloseReason().Text}
		}
	}
}

// printLive prints the messages of the followed rooms, and what a
// follower too slow to keep up missed of them (see room.Session.deliver).
func (o *oneShot) printLive(rooms map[string]bool, ev *room.Event) error {
	if (ev.Kind != room.KindMessage && ev.Kind != room.KindMissed) || !rooms[ev.Room] {
		return nil
	}
	return o.print(ev)
}

// withoutControls turns every C0 and C1 control character and DEL into a
// space: what is left cannot move a terminal's cursor or start a sequence.
func withoutControls(text string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, text)
}
