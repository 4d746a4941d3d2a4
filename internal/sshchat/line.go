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
			// One message per line, a lone CR ending one too: the core
			// would keep line breaks inside one message.
			for _, l := range room.SplitLines(strings.TrimSuffix(line, "\r")) {
				s.hub.Input(cs, "", l)
			}
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
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			// Also at the end of input: the caller's next read gets EOF.
			return "", errLineTooLong
		}
		return strings.TrimSuffix(string(buf), "\n"), err
	}
}

// A line-mode batch is what one wake-up of the writer takes from the queue;
// its lines go out in one Write of up to maxLineBatchBytes (one SSH packet
// and system call rather than one per line), and a longer rendering, such
// as a big member list or a page of history, in a Write of its own.
const (
	maxLineBatch      = 32
	maxLineBatchBytes = 32 << 10
)

// lineWriter is the session's only writer in line mode.
func (s *Server) lineWriter(w io.Writer, cs *room.Session) {
	var buf [maxLineBatch]*room.Event
	for {
		select {
		case ev := <-cs.Events():
			batch := cs.NextBatch(buf[:0], ev, len(buf))
			if s.writeLines(w, shownLines(cs, batch)) != nil {
				cs.Close(room.ReasonClosed)
				return
			}
			cs.Ack(batch)
		case <-cs.Done():
			cs.Drain(maxLineBatch, func(batch []*room.Event) error { return s.writeLines(w, shownLines(cs, batch)) })
			return
		}
	}
}

// shownLines is batch without what the user asked not to see (/quiet):
// batch itself, not a copy, when that is nothing.
func shownLines(cs *room.Session, batch []*room.Event) []*room.Event {
	prefs := cs.Preferences()
	if !prefs.Quiet {
		return batch
	}
	nick := cs.Nick()
	shown := make([]*room.Event, 0, len(batch))
	for _, ev := range batch {
		if !prefs.Hides(ev, nick) {
			shown = append(shown, ev)
		}
	}
	return shown
}

// writeLines writes the lines of batch, the same bytes as one Write per
// event, in as few Writes as maxLineBatchBytes allows. The bytes are
// gathered in a buffer from the server's pool, held only while writing: an
// idle session holds none.
func (s *Server) writeLines(w io.Writer, batch []*room.Event) error {
	if len(batch) == 1 {
		_, err := w.Write(batch[0].Render(room.FormatLine, wire.FormatLine))
		return err
	}
	buf, _ := s.lineBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	// It never holds more than maxLineBatchBytes, so what goes back to
	// the pool is bounded.
	defer func() {
		*buf = (*buf)[:0]
		s.lineBufs.Put(buf)
	}()
	for _, ev := range batch {
		line := ev.Render(room.FormatLine, wire.FormatLine)
		if len(*buf) > 0 && len(*buf)+len(line) > maxLineBatchBytes {
			if _, err := w.Write(*buf); err != nil {
				return err
			}
			*buf = (*buf)[:0]
		}
		if len(line) >= maxLineBatchBytes {
			if _, err := w.Write(line); err != nil {
				return err
			}
			continue
		}
		*buf = append(*buf, line...)
	}
	if len(*buf) == 0 {
		return nil
	}
	_, err := w.Write(*buf)
	return err
}
