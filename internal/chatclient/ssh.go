package chatclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/wire"
)

// GuestAuth answers keyboard-interactive with no answers, as a guest (an
// SSH user without a key) does.
func GuestAuth() []gossh.AuthMethod {
	return []gossh.AuthMethod{gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil })}
}

// DialSSH connects to addr with dialer and completes the SSH handshake as
// cfg says, within ctx. It returns the connection too, for deadlines.
func DialSSH(ctx context.Context, dialer *net.Dialer, addr string, cfg *gossh.ClientConfig) (*gossh.Client, net.Conn, error) {
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else if cfg.Timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	// Cancelling ctx (with or without a deadline) ends the handshake too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	cc, chans, reqs, err := gossh.NewClientConn(conn, addr, cfg)
	if !stop() && err == nil {
		err = ctx.Err()
		cc.Close()
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return gossh.NewClient(cc, chans, reqs), conn, nil
}

// Line is an SSH session in line mode (no PTY): one line per event.
type Line struct {
	Client  *gossh.Client
	Session *gossh.Session
	// Stdin is the session's input, for what Send does not do (an
	// unterminated line, end of input).
	Stdin io.WriteCloser

	out *bufio.Reader
	wmu sync.Mutex
	buf []byte // a long line being put together (see NextRaw)
}

// maxLine bounds the lines Line keeps whole; of a longer one only its start
// is returned.
const maxLine = 1 << 20

// OpenLine starts a line-mode session on client.
func OpenLine(client *gossh.Client) (*Line, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	if err := sess.Shell(); err != nil {
		sess.Close()
		return nil, err
	}
	return &Line{Client: client, Session: sess, Stdin: stdin, out: bufio.NewReaderSize(stdout, 64<<10)}, nil
}

// DialLine connects to addr as user (a guest without auth) and starts a
// line-mode session.
func DialLine(ctx context.Context, addr, user string, auth ...gossh.AuthMethod) (*Line, error) {
	if len(auth) == 0 {
		auth = GuestAuth()
	}
	client, _, err := DialSSH(ctx, &net.Dialer{}, addr, &gossh.ClientConfig{User: user, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		return nil, err
	}
	l, err := OpenLine(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	return l, nil
}

// Send writes text (a message or a /command) as one input line.
func (l *Line) Send(text string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := io.WriteString(l.Stdin, text+"\n")
	return err
}

// NextRaw returns the next output line without its '\n'. The bytes are
// valid until the next call. A last line without '\n' is returned with the
// error that ended the output.
func (l *Line) NextRaw() ([]byte, error) {
	line, err := l.out.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
	l.buf = append(l.buf[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = l.out.ReadSlice('\n')
		if len(l.buf) < maxLine {
			l.buf = append(l.buf, line[:min(len(line), maxLine-len(l.buf))]...)
		}
	}
	b := bytes.TrimSuffix(l.buf, []byte("\n"))
	if cap(l.buf) > bigFrame {
		l.buf = nil
	}
	return b, err
}

// NextLine is NextRaw as a string of its own.
func (l *Line) NextLine() (string, error) {
	b, err := l.NextRaw()
	return string(b), err
}

// Next reads the next line and parses it; ok is false for a line of a kind
// the parser does not know (skip it).
func (l *Line) Next() (ev wire.LineEvent, ok bool, err error) {
	b, err := l.NextRaw()
	if len(b) == 0 {
		return wire.LineEvent{}, false, err
	}
	ev, ok = wire.ParseLine(string(b))
	return ev, ok, err
}

// Close ends the connection, and so the session.
func (l *Line) Close() error { return l.Client.Close() }
