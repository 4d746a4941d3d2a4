package sshchat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"charm.land/ssh"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

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
		if _, err := w.Write(ev.Render(room.FormatLine, wire.FormatLine)); err != nil {
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
