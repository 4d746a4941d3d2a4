package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/gorilla/websocket"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// kind is a client's front-end.
type kind int

const (
	kindWS   kind = iota // websocket, JSON frames
	kindLine             // SSH without a PTY: line mode
	kindPTY              // SSH with a PTY: the full-screen interface
	numKinds
)

func (k kind) String() string {
	switch k {
	case kindWS:
		return "ws"
	case kindLine:
		return "line"
	}
	return "pty"
}

// sigKind is what a client's reader tells its connector during setup.
type sigKind int

const (
	sigWelcome sigKind = iota + 1
	sigError
	sigMembers // the member list of a room (sent right after one's own join)
	sigJoined  // one's own join to a room
)

type sig struct {
	kind sigKind
	room string
	nick string
	code string
	text string
}

// client is one simulated user.
type client struct {
	idx     int
	kind    kind
	node    int    // websocket: which --http-addr it first connects to
	nick    string // wanted nick
	room    int    // index of the client's room
	sender  int    // sender number, or -1
	emulate bool   // PTY: read the screen (else discard the output)
	// PTY, with emulate: read it with a full terminal emulator, not the
	// row model (rows.go).
	fullVT bool

	// Owned by the client's reader goroutine (the connector reads them only
	// after a signal): the nick the server gave and the lobby's name.
	gotNick string
	lobby   string

	ready    atomic.Bool
	readyOrd int64 // run.readyCount when this client became ready
	// count is the lobby's member count as this client has seen it (from
	// the member list, joins and parts, or a terminal's status line): when
	// it is behind the newest client's, this client has events still to
	// read, which is what connection pacing watches.
	count      atomic.Int64
	statusRoom atomic.Pointer[string]
	statusSeen bool         // PTY reader only
	errorsSeen atomic.Int64 // error events received once ready
	firstError atomic.Pointer[string]

	connectDur time.Duration
	connectErr error

	track tracker
	probe *probeLog // storm probe: round-trip time per message

	wsMu   sync.Mutex // ws, once a reconnection may replace it
	ws     *chatclient.WS
	line   *chatclient.Line
	ssh    *gossh.Client
	stdin  io.Writer  // PTY: the terminal's input
	wmu    sync.Mutex // PTY: one writer of stdin at a time
	width  int
	height int

	signals    chan sig
	readerDone chan struct{}
	closing    atomic.Bool
	dead       atomic.Bool
	deadWhy    atomic.Pointer[string]
	dropped    *atomic.Int64 // the run's count of unexpected disconnections

	// --kill-node: the client lost its connection and reconnected to
	// another node (backAt, unix nanoseconds, once it had).
	moved        atomic.Bool
	backAt       atomic.Int64
	reconnectErr atomic.Pointer[string]
}

// webSocket is the client's current websocket connection.
func (c *client) webSocket() *chatclient.WS {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	return c.ws
}

func (c *client) notify(s sig) {
	select {
	case c.signals <- s:
	default: // nobody is waiting: setup is over
	}
}

// die records the end of the connection; unless the tool is closing it, it
// is an unexpected disconnection (e.g. dropped as too slow).
func (c *client) die(err error) {
	if c.dead.CompareAndSwap(false, true) {
		why := "closed"
		if err != nil {
			why = err.Error()
		}
		c.deadWhy.Store(&why)
		if !c.closing.Load() && c.ready.Load() && c.dropped != nil {
			c.dropped.Add(1)
		}
	}
}

// noteError counts an error the server sent once the client was ready
// (for example rate_limited: the server refused a message).
func (c *client) noteError(text string) {
	c.errorsSeen.Add(1)
	c.firstError.CompareAndSwap(nil, &text)
}

func (c *client) close() {
	c.closing.Store(true)
	if ws := c.webSocket(); ws != nil {
		_ = ws.Close()
	}
	if c.ssh != nil {
		_ = c.ssh.Close()
	}
}

// wait returns the first signal of one of the wanted kinds for room ("" for
// any room).
func (c *client) wait(ctx context.Context, room string, want ...sigKind) (sig, error) {
	for {
		select {
		case s := <-c.signals:
			if s.kind == sigError {
				return s, fmt.Errorf("%s: %s", s.code, s.text)
			}
			for _, w := range want {
				if s.kind == w && (room == "" || s.room == room) {
					return s, nil
				}
			}
		case <-c.readerDone:
			why := "connection closed"
			if p := c.deadWhy.Load(); p != nil {
				why = *p
			}
			return sig{}, errors.New(why)
		case <-ctx.Done():
			return sig{}, ctx.Err()
		}
	}
}

// send writes one message (or command) as the client's user would.
func (c *client) send(room, text string) error {
	switch c.kind {
	case kindWS:
		return c.webSocket().Say(room, text)
	case kindLine:
		return c.line.Send(text)
	default:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		_, err := io.WriteString(c.stdin, text+"\r")
		return err
	}
}

// --- websocket ------------------------------------------------------------

var (
	wsMessagePrefix = []byte(`{"type":"message"`)
	wsJoinPrefix    = []byte(`{"type":"join","room":`)
	wsPartPrefix    = []byte(`{"type":"part","room":`)
	// A big room's presence summary ends with the member count too.
	wsPresencePrefix = []byte(`{"type":"presence","room":`)
	wsCountKey       = []byte(`"count":`)
	wsErrorPrefix    = []byte(`{"type":"error"`)
	wsTextKey        = []byte(`"text":"`)
)

func (r *run) connectWS(ctx context.Context, c *client) error {
	ws, resp, err := chatclient.DialWS(ctx, r.pollers.dialer(r.wsDialer), r.wsURLs[c.node], nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("websocket upgrade: %s", resp.Status)
		}
		return err
	}
	// Only this goroutine writes until the client is ready.
	ws.WriteTimeout = r.cfg.ConnectTimeout
	c.wsMu.Lock()
	c.ws = ws
	c.wsMu.Unlock()
	if !r.pollers.add(c, ws, c.readerDone) {
		go r.wsReader(c, ws, c.readerDone)
	}
	nick, lobby := c.nick, ""
	for attempt := 2; ; attempt++ {
		if err := ws.Hello(nick); err != nil {
			return err
		}
		s, err := c.wait(ctx, "", sigWelcome)
		if err == nil {
			lobby = s.room
			break
		}
		if s.code != "nick_taken" || attempt > 6 {
			return err
		}
		nick = fmt.Sprintf("%s_%d", c.nick, attempt)
	}
	if _, err := c.wait(ctx, lobby, sigMembers); err != nil {
		return err
	}
	ws.WriteTimeout = 10 * time.Second
	return r.joinRoom(ctx, c)
}

// wsReader reads ws for c until it ends, then closes done (if any); in a
// --kill-node run a ready client whose connection ends reconnects.
func (r *run) wsReader(c *client, ws *chatclient.WS, done chan struct{}) {
	if done != nil {
		defer close(done)
	}
	for {
		b, err := ws.NextRaw()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				err = fmt.Errorf("closed by server: %d %s", ce.Code, ce.Text)
			}
			r.wsEnded(c, err)
			return
		}
		r.onWSFrame(c, b, time.Now())
	}
}

// wsEnded records the end of c's websocket; in a --kill-node run a ready
// client reconnects.
func (r *run) wsEnded(c *client, err error) {
	c.die(err)
	if r.mayReconnect(c) {
		go r.reconnectWS(c)
	}
}

// onWSFrame handles one text frame b that reached c at at. It never blocks:
// the websocket pollers call it for many clients in turn.
func (r *run) onWSFrame(c *client, b []byte, at time.Time) {
	if c.ready.Load() {
		// Once ready, only what is measured is looked at, without
		// decoding the JSON: messages, lobby joins (for pacing), errors.
		switch {
		case r.recordWSMessage(c, b, at):
		case bytes.HasPrefix(b, wsJoinPrefix), bytes.HasPrefix(b, wsPartPrefix):
			c.presence(b, len(wsJoinPrefix))
		case bytes.HasPrefix(b, wsPresencePrefix):
			c.presence(b, len(wsPresencePrefix))
		case bytes.HasPrefix(b, wsErrorPrefix):
			c.noteError(string(b))
		}
		return
	}
	f, err := wire.DecodeFrame(b)
	if err != nil {
		return
	}
	switch f.Type {
	case "welcome":
		// The reader owns gotNick and lobby; the connector reads them
		// after the signal.
		c.gotNick, c.lobby = f.Nick, ""
		if rooms := f.RoomNames(); len(rooms) > 0 {
			c.lobby = rooms[0]
		}
		c.notify(sig{kind: sigWelcome, nick: f.Nick, room: c.lobby})
	case "error":
		c.notify(sig{kind: sigError, code: f.Code, text: f.Text})
	case "members":
		if f.Room == c.lobby {
			// A big room's first page carries the member count.
			c.count.Store(int64(max(f.Total, len(f.Members))))
		}
		c.notify(sig{kind: sigMembers, room: f.Room})
	case "presence":
		c.presence(b, len(wsPresencePrefix))
	case "join", "part":
		c.presence(b, len(wsJoinPrefix))
		if f.Type == "join" && f.Nick == c.gotNick {
			c.notify(sig{kind: sigJoined, room: f.Room})
		}
	}
}

// recordWSMessage records b if it is a message frame of this run.
func (r *run) recordWSMessage(c *client, b []byte, at time.Time) bool {
	if !bytes.HasPrefix(b, wsMessagePrefix) {
		return false
	}
	if i := bytes.Index(b, wsTextKey); i >= 0 {
		j := i + len(wsTextKey)
		if snd, seq, nanos, end, ok := parsePayload(b, j); ok && end < len(b) && b[end] == '"' {
			r.record(c, snd, seq, nanos, at, false)
		}
	}
	return true
}

// presence reads the member count of a lobby join, part or presence frame
// whose prefix up to the room name is prefixLen bytes.
func (c *client) presence(b []byte, prefixLen int) {
	rest := b[prefixLen:]
	n := len(c.lobby)
	if len(rest) < n+2 || rest[0] != '"' || string(rest[1:1+n]) != c.lobby || rest[1+n] != '"' {
		return
	}
	i := bytes.LastIndex(b, wsCountKey)
	if i < 0 {
		return
	}
	if v, err := strconv.ParseInt(string(bytes.TrimRight(b[i+len(wsCountKey):], "} ")), 10, 64); err == nil {
		c.count.Store(v)
	}
}

// joinRoom moves c to its room when the run has several (rooms are named
// bench1, bench2, ...), then marks it ready.
func (r *run) joinRoom(ctx context.Context, c *client) error {
	if r.cfg.Rooms > 1 {
		name := r.roomName(c.room)
		if err := c.send("", "/join #"+name); err != nil {
			return err
		}
		if _, err := c.wait(ctx, name, sigJoined); err != nil {
			return fmt.Errorf("/join #%s: %w (does the server have /join?)", name, err)
		}
	}
	r.markReady(c)
	return nil
}

// --- SSH ---------------------------------------------------------------------

func (r *run) dialSSH(ctx context.Context, user string) (*gossh.Client, net.Conn, error) {
	cl, conn, err := chatclient.DialSSH(ctx, &net.Dialer{Timeout: r.cfg.ConnectTimeout}, r.cfg.SSHAddr, &gossh.ClientConfig{
		User:            user,
		Auth:            chatclient.GuestAuth(),
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         r.cfg.ConnectTimeout,
	})
	if err != nil {
		return nil, nil, err
	}
	// The whole setup, not only the handshake, is bounded.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(r.cfg.ConnectTimeout)
	}
	_ = conn.SetDeadline(deadline)
	return cl, conn, nil
}

func (r *run) connectSSH(ctx context.Context, c *client) error {
	cl, conn, err := r.dialSSH(ctx, c.nick)
	if err != nil {
		return err
	}
	c.ssh = cl
	var stdout io.Reader
	if c.kind == kindLine {
		l, err := chatclient.OpenLine(cl)
		if err != nil {
			return err
		}
		c.line = l
	} else {
		sess, err := cl.NewSession()
		if err != nil {
			return err
		}
		if err := sess.RequestPty("xterm-256color", c.height, c.width, gossh.TerminalModes{}); err != nil {
			return err
		}
		stdin, err := sess.StdinPipe()
		if err != nil {
			return err
		}
		if stdout, err = sess.StdoutPipe(); err != nil {
			return err
		}
		c.stdin = stdin
		if err := sess.Shell(); err != nil {
			return err
		}
	}
	go func() {
		// The end of the connection, whoever ends it.
		_ = cl.Wait()
		c.die(errors.New("ssh connection closed"))
	}()
	switch {
	case c.kind == kindLine:
		go r.lineReader(c, c.line)
		if _, err := c.wait(ctx, "", sigWelcome); err != nil {
			return err
		}
		if _, err := c.wait(ctx, "", sigMembers); err != nil {
			return err
		}
	case c.emulate && c.fullVT:
		go r.ptyReader(c, stdout)
		if _, err := c.wait(ctx, "", sigMembers); err != nil {
			return err
		}
	case c.emulate:
		go r.ptyRowReader(c, stdout)
		if _, err := c.wait(ctx, "", sigMembers); err != nil {
			return err
		}
	default:
		go r.ptyDiscard(c, stdout)
		if _, err := c.wait(ctx, "", sigMembers); err != nil {
			return err
		}
	}
	if err := r.joinRoom(ctx, c); err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Time{})
	return nil
}

func (r *run) lineReader(c *client, l *chatclient.Line) {
	defer close(c.readerDone)
	for {
		line, err := l.NextRaw()
		at := time.Now()
		if len(line) > 0 {
			r.lineEvent(c, line, at)
		}
		if err != nil {
			c.die(fmt.Errorf("ssh output ended: %w", err))
			return
		}
	}
}

// lineEvent handles one line of line-mode output (docs/protocol.md).
func (r *run) lineEvent(c *client, line []byte, at time.Time) {
	ev, ok := wire.ParseLine(string(line))
	if !ok {
		return
	}
	switch ev.Kind {
	case room.KindMessage:
		if !ev.Action {
			if snd, seq, nanos, end, ok := parsePayload(ev.Text, 0); ok && end == len(ev.Text) {
				r.record(c, snd, seq, nanos, at, false)
			}
		}
	case room.KindPart:
		if ev.Room == c.lobby {
			c.count.Add(-1)
		}
	case room.KindJoin:
		if ev.Room == c.lobby {
			c.count.Add(1)
		}
		if ev.From == c.gotNick {
			c.notify(sig{kind: sigJoined, room: ev.Room})
		}
	case room.KindMembers:
		if c.lobby == "" {
			c.lobby = ev.Room // the first member list is the lobby's
		}
		if ev.Room == c.lobby {
			c.count.Store(int64(ev.Count))
		}
		c.notify(sig{kind: sigMembers, room: ev.Room})
	case room.KindPresence:
		if ev.Room == c.lobby {
			c.count.Store(int64(ev.Count))
		}
	case room.KindWelcome:
		c.gotNick = ev.From
		c.notify(sig{kind: sigWelcome, nick: c.gotNick})
	case room.KindError:
		if c.ready.Load() {
			c.noteError(string(line))
		}
		c.notify(sig{kind: sigError, code: "error", text: ev.Text})
	}
}

// ptyDiscard reads a terminal session's output without looking at it, but
// for the first sight of the status line ("N members").
func (r *run) ptyDiscard(c *client, stdout io.Reader) {
	defer close(c.readerDone)
	buf := make([]byte, 16<<10)
	var tail []byte
	for {
		n, err := stdout.Read(buf)
		if n > 0 && !c.ready.Load() {
			chunk := append(tail, buf[:n]...)
			if bytes.Contains(chunk, []byte(" members")) {
				c.notify(sig{kind: sigMembers})
			}
			tail = append(tail[:0], chunk[max(0, len(chunk)-16):]...)
		}
		if err != nil {
			c.die(fmt.Errorf("ssh output ended: %w", err))
			return
		}
	}
}

// ptyReader drives a terminal emulator with the session's output and reads
// the screen after each chunk: payloads in the message area, and the status
// line (nick │ #room │ N members).
func (r *run) ptyReader(c *client, stdout io.Reader) {
	defer close(c.readerDone)
	emu := vt.NewEmulator(c.width, c.height)
	// Ends the copy below. (Emulator.Close would race with Read on its
	// unsynchronised closed flag; closing the pipe does not.)
	defer func() {
		if cl, ok := emu.InputPipe().(io.Closer); ok {
			_ = cl.Close()
		}
	}()
	// The emulator answers the interface's terminal queries, as a real
	// terminal would.
	go func() { _, _ = io.Copy(c.stdin, emu) }()
	buf := make([]byte, 32<<10)
	var seen []payloadPos
	rows := make([][]byte, c.height)
	for {
		n, err := stdout.Read(buf)
		if n > 0 {
			at := time.Now()
			_, _ = emu.Write(buf[:n])
			emulatorRows(emu, rows)
			seen = r.scanScreen(c, rows, at, seen[:0])
		}
		if err != nil {
			c.die(fmt.Errorf("ssh output ended: %w", err))
			return
		}
	}
}

type payloadPos struct {
	sender, seq int
	nanos       int64
}

// emulatorRows reads the emulator's screen into rows, reusing their
// buffers: the text of each cell, a blank for an empty one. (The emulator's
// String builds the whole screen afresh, cell by cell, at about twice the
// cost of the emulation itself.)
func emulatorRows(emu *vt.Emulator, rows [][]byte) {
	w := emu.Width()
	for y := range rows {
		row := rows[y][:0]
		for x := range w {
			cell := emu.CellAt(x, y)
			switch {
			case cell == nil || cell.Content == "" && cell.Width == 0:
				// the second column of a wide character
			case cell.Content == "":
				row = append(row, ' ')
			default:
				row = append(row, cell.Content...)
			}
		}
		rows[y] = row
	}
}

// scanScreen reads one screen snapshot.
func (r *run) scanScreen(c *client, rows [][]byte, at time.Time, seen []payloadPos) []payloadPos {
	// The last two rows are the status line and the input line (which
	// echoes what a sender types: not a delivery).
	if len(rows) >= c.height-1 && c.height >= 2 {
		c.noteStatus(string(rows[c.height-2]))
	}
	if !r.recording.Load() {
		return seen
	}
	for y := 0; y < len(rows) && y < c.height-2; y++ {
		n := len(seen)
		seen = appendRowPayloads(seen, rows[y])
		for k := n; k < len(seen); k++ {
			p := seen[k]
			if slices.Contains(seen[:k], p) {
				r.recordDup(c, p.sender, p.seq, p.nanos)
			} else {
				r.record(c, p.sender, p.seq, p.nanos, at, true)
			}
		}
	}
	return seen
}

// noteStatus reads the status line: the member count, and the room shown
// (the first is the lobby; another is a room joined).
func (c *client) noteStatus(row string) {
	room, count, ok := parseStatus(row)
	if !ok {
		return
	}
	if !c.statusSeen || room == c.lobby {
		c.count.Store(int64(count))
	}
	if p := c.statusRoom.Load(); p == nil || *p != room {
		c.statusRoom.Store(&room)
		if !c.statusSeen {
			c.statusSeen = true
			c.lobby = room // the first room shown is the lobby
			c.notify(sig{kind: sigMembers, room: room})
		} else {
			c.notify(sig{kind: sigJoined, room: room})
		}
	}
}

// parseStatus reads " nick │ #room │ N members ".
func parseStatus(s string) (room string, count int, ok bool) {
	i := strings.Index(s, "│ #")
	if i < 0 {
		return "", 0, false
	}
	rest := s[i+len("│ #"):]
	room, rest, ok = strings.Cut(rest, " │ ")
	if !ok {
		return "", 0, false
	}
	num, _, ok := strings.Cut(strings.TrimSpace(rest), " members")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return "", 0, false
	}
	return room, n, true
}
