package sshchat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"charm.land/ssh"

	"github.com/tertulia/tertulia/internal/room"
)

// renderLine renders ev for line mode: one plain line per event (several for
// a multi-line notice), naming the room and the sender, with no escape
// sequences. The format is a public contract (docs/protocol.md).
func renderLine(ev *room.Event) []byte {
	var b bytes.Buffer
	switch ev.Kind {
	case room.KindMessage:
		if ev.Action {
			fmt.Fprintf(&b, "#%s * %s %s\n", ev.Room, ev.From, ev.Text)
		} else {
			fmt.Fprintf(&b, "#%s <%s> %s\n", ev.Room, ev.From, ev.Text)
		}
	case room.KindJoin:
		fmt.Fprintf(&b, "#%s --> %s joined (%s)\n", ev.Room, ev.From, ev.Via)
	case room.KindPart:
		fmt.Fprintf(&b, "#%s <-- %s left (%s)\n", ev.Room, ev.From, ev.Text)
	case room.KindNick:
		fmt.Fprintf(&b, "#%s --- %s is now known as %s\n", ev.Room, ev.From, ev.To)
	case room.KindMembers:
		fmt.Fprintf(&b, "#%s members (%d): %s\n", ev.Room, len(ev.Members), memberList(ev.Members))
	case room.KindWelcome:
		fmt.Fprintf(&b, "-!- welcome %s\n", ev.From)
	case room.KindError:
		fmt.Fprintf(&b, "-!- error: %s\n", ev.Text)
	case room.KindPrivate:
		fmt.Fprintf(&b, "[pm] %s -> %s: %s\n", ev.From, ev.To, ev.Text)
	case room.KindTopic:
		if ev.From != "" {
			fmt.Fprintf(&b, "#%s --- topic: %s (set by %s)\n", ev.Room, ev.Text, ev.From)
		} else {
			fmt.Fprintf(&b, "#%s --- topic: %s\n", ev.Room, ev.Text)
		}
	case room.KindRooms:
		fmt.Fprintf(&b, "-!- rooms (%d):\n", len(ev.RoomList))
		for _, r := range ev.RoomList {
			fmt.Fprintf(&b, "-!-   #%s (%d) %s\n", r.Name, r.Count, r.Topic)
		}
	case room.KindMissed:
		fmt.Fprintf(&b, "-!- %s\n", missedText(ev))
	case room.KindHistory:
		// History lines carry their time, so that they cannot be taken for
		// live messages.
		for _, m := range ev.History {
			ts := m.Time.UTC().Format("2006-01-02T15:04:05.000Z")
			if m.Action {
				fmt.Fprintf(&b, "#%s @%s * %s %s\n", m.Room, ts, m.From, m.Text)
			} else {
				fmt.Fprintf(&b, "#%s @%s <%s> %s\n", m.Room, ts, m.From, m.Text)
			}
		}
	default:
		for _, l := range strings.Split(ev.Text, "\n") {
			fmt.Fprintf(&b, "-!- %s\n", l)
		}
	}
	return b.Bytes()
}

// missedText tells a session that fell behind what it was not sent.
func missedText(ev *room.Event) string {
	if ev.Room == "" {
		return fmt.Sprintf("missed %d private messages", ev.Count)
	}
	return fmt.Sprintf("missed %d messages in #%s", ev.Count, ev.Room)
}

func memberList(members []room.Member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		tags := string(m.Via)
		if m.Registered {
			tags += ", registered"
		}
		if m.Away != "" {
			tags += ", away"
		}
		parts[i] = m.Nick + " (" + tags + ")"
	}
	return strings.Join(parts, ", ")
}

// runLines serves a session without a PTY: scripts, pipes, bots.
func (s *Server) runLines(sess ssh.Session, cs *room.Session) {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.lineWriter(sess, cs)
	}()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.lineReader(sess, cs)
	}()
	select {
	case <-readerDone:
		// Input is over (EOF or error): end the session once what is queued
		// for it (such as the echo of its last line) is written.
		cs.Close(room.ReasonClosed)
	case <-cs.Done():
		// Quit, dropped or server stopping: returning closes the channel,
		// which also ends the reader.
	}
	s.awaitWriter(cs, writerDone)
}

func (s *Server) lineReader(r io.Reader, cs *room.Session) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := readLimitedLine(br, s.maxLine)
		if errors.Is(err, errLineTooLong) {
			cs.Error("too_long", fmt.Sprintf("line not sent: longer than %d bytes", s.maxLine))
			continue
		}
		if len(line) > 0 {
			s.hub.Input(cs, "", strings.TrimSuffix(line, "\r"))
		}
		if err != nil {
			return
		}
		select {
		case <-cs.Done():
			return
		default:
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLimitedLine reads up to '\n' (dropped). A line longer than max is
// discarded whole and reported as errLineTooLong.
func readLimitedLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			if err != nil {
				return "", err
			}
			return "", errLineTooLong
		}
		return strings.TrimSuffix(string(buf), "\n"), err
	}
}

func (s *Server) lineWriter(w io.Writer, cs *room.Session) {
	write := func(ev *room.Event) bool {
		if _, err := w.Write(ev.Render(room.FormatLine, renderLine)); err != nil {
			return false
		}
		cs.Written(ev)
		return true
	}
	for {
		select {
		case ev := <-cs.Events():
			if !write(ev) {
				cs.Close(room.ReasonClosed)
				return
			}
		case <-cs.Done():
			drain(cs, write)
			return
		}
	}
}

// drain writes what is left in the session's queue, unless it was dropped
// for being too slow to read it.
func drain(cs *room.Session, write func(*room.Event) bool) {
	if cs.CloseReason() == room.ReasonSlowClient {
		return
	}
	for {
		select {
		case ev := <-cs.Events():
			if !write(ev) {
				return
			}
		default:
			return
		}
	}
}
