package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/wire"
)

// killReport is what --kill-node measured: how long the killed node's
// clients took to be back on the other nodes, and what was lost.
type killReport struct {
	Node         int     `json:"node"`
	PID          int     `json:"pid"`
	Addr         string  `json:"addr"`
	AfterSeconds float64 `json:"killed_after_seconds"` // from the start of sending
	Error        string  `json:"error,omitempty"`
	// The killed node's clients (ready when it was killed), how many were
	// back on another node by the end, and when the last came back.
	Clients        int            `json:"clients"`
	Reconnected    int            `json:"reconnected"`
	AllBackSeconds float64        `json:"all_back_seconds,omitempty"`
	Back           latencySummary `json:"back_after"`
	FirstError     string         `json:"first_reconnect_error,omitempty"`
	// Receivers never disconnected and what they missed; the moved
	// clients' misses while they were away are counted apart (they get
	// those messages in the history of their new connection, which this
	// tool does not count).
	StayedReceivers int   `json:"stayed_receivers"`
	LostStayed      int64 `json:"lost_by_stayed"`
	LostMoved       int64 `json:"lost_by_moved"`
}

// killIndex is the index of the node to kill in --http-addr, or -1.
func (r *run) killIndex() int { return r.cfg.KillNode - 1 }

// onKilledNode tells whether c is a websocket client of the node to kill.
func (r *run) onKilledNode(c *client) bool {
	return r.cfg.KillNode > 0 && c.kind == kindWS && c.node == r.killIndex()
}

// mayReconnect tells whether c, whose connection just ended, reconnects:
// in a --kill-node run, once the node is killed, unless the tool is
// closing it.
func (r *run) mayReconnect(c *client) bool {
	return r.cfg.KillNode > 0 && c.kind == kindWS && c.ready.Load() && !c.closing.Load() && r.killedAt.Load() != 0
}

// killAt kills the node with SIGKILL at the given time, unless ctx ends
// first.
func (r *run) killAt(ctx context.Context, at time.Time, kr *killReport) {
	sleepCtx(ctx, time.Until(at))
	if ctx.Err() != nil {
		kr.Error = "the run ended before the kill"
		return
	}
	// Noted first: the clients' readers see their connections end next.
	r.killedAt.Store(time.Now().UnixNano())
	if err := syscall.Kill(kr.PID, syscall.SIGKILL); err != nil {
		kr.Error = fmt.Sprintf("kill %d: %v", kr.PID, err)
		return
	}
	r.logf("killed node %d (pid %d, %s)", kr.Node, kr.PID, kr.Addr)
}

// reconnectTimeout bounds one client's reconnection, all attempts.
const reconnectTimeout = 2 * time.Minute

// reconnectWS connects c again to one of the other nodes, trying them in
// turn, and has it read on as before.
func (r *run) reconnectWS(c *client) {
	c.moved.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	// The others in turn, starting from one that spreads the moved
	// clients evenly.
	var others []int
	for i := range r.wsURLs {
		if i != r.killIndex() && i != c.node {
			others = append(others, i)
		}
	}
	if len(others) == 0 {
		others = []int{c.node}
	}
	var last error
	for attempt := 0; ctx.Err() == nil && !c.closing.Load(); attempt++ {
		node := others[(c.idx+attempt)%len(others)]
		ws, err := r.rejoinWS(ctx, c, r.wsURLs[node])
		if err == nil {
			c.wsMu.Lock()
			c.ws = ws
			c.wsMu.Unlock()
			c.dead.Store(false)
			c.backAt.Store(time.Now().UnixNano())
			go r.wsReader(c, ws, nil)
			return
		}
		last = err
		sleepCtx(ctx, 100*time.Millisecond)
	}
	if last == nil {
		last = errors.New("gave up")
	}
	why := last.Error()
	c.reconnectErr.Store(&why)
}

// rejoinWS opens a websocket to url and says hello as c (another nick if
// its own is still held by the dead node), until the lobby's member list
// came; the messages that come meanwhile are recorded.
func (r *run) rejoinWS(ctx context.Context, c *client, url string) (*chatclient.WS, error) {
	ws, resp, err := chatclient.DialWS(ctx, r.wsDialer, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade: %s", resp.Status)
		}
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	ws.WriteTimeout = r.cfg.ConnectTimeout
	fail := func(err error) (*chatclient.WS, error) {
		_ = ws.Close()
		return nil, err
	}
	nick := c.nick
	for attempt := 2; ; attempt++ {
		if err := ws.Hello(nick); err != nil {
			return fail(err)
		}
		f, err := r.readUntil(ws, c, "welcome", "error")
		if err != nil {
			return fail(err)
		}
		if f.Type == "welcome" {
			break // the lobby is the one it had
		}
		if f.Code != "nick_taken" || attempt > 6 {
			return fail(fmt.Errorf("%s: %s", f.Code, f.Text))
		}
		nick = fmt.Sprintf("%s_%d", c.nick, attempt)
	}
	if _, err := r.readUntil(ws, c, "members"); err != nil {
		return fail(err)
	}
	ws.WriteTimeout = 10 * time.Second
	return ws, nil
}

// readUntil reads ws until a frame of one of the types, recording the
// messages that come first.
func (r *run) readUntil(ws *chatclient.WS, c *client, types ...string) (wire.Frame, error) {
	for {
		b, err := ws.NextRaw()
		if err != nil {
			return wire.Frame{}, err
		}
		if r.recordWSMessage(c, b, time.Now()) {
			continue
		}
		f, err := wire.DecodeFrame(b)
		if err == nil && slices.Contains(types, f.Type) {
			return f, nil
		}
	}
}

// finishKill fills kr once the deliveries are counted: who came back
// when, and what the clients that stayed connected lost.
func (r *run) finishKill(kr *killReport) {
	killed := r.killedAt.Load()
	back := new(hist)
	var last time.Duration
	for _, c := range r.clients {
		if !r.onKilledNode(c) || c.connectErr != nil || !c.ready.Load() {
			continue
		}
		kr.Clients++
		if at := c.backAt.Load(); at != 0 && killed != 0 {
			kr.Reconnected++
			d := time.Duration(at - killed)
			back.add(d)
			last = max(last, d)
		} else if p := c.reconnectErr.Load(); p != nil && kr.FirstError == "" {
			kr.FirstError = *p
		}
	}
	kr.Back = back.summary()
	if kr.Clients > 0 && kr.Reconnected == kr.Clients {
		kr.AllBackSeconds = last.Seconds()
	}
}
