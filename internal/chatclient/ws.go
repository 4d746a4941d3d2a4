package chatclient

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/wire"
)

// WS is a websocket connection to a Tertulia server.
type WS struct {
	// Conn is the connection itself, for what the protocol does not do
	// (a malformed frame, a close code). Writes to it bypass WS's lock.
	Conn *websocket.Conn
	// WriteTimeout bounds each write; 0 means none.
	WriteTimeout time.Duration

	wmu sync.Mutex
	buf bytes.Buffer // the last frame read, reused (see NextRaw)
}

// DialWS opens a websocket to url (ws://host:port/ws) with dialer, nil for
// the default one. The response is returned also on failure, for its
// status.
func DialWS(ctx context.Context, dialer *websocket.Dialer, url string, header http.Header) (*WS, *http.Response, error) {
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	conn, resp, err := dialer.DialContext(ctx, url, header)
	if err != nil {
		return nil, resp, err
	}
	return NewWS(conn), resp, nil
}

// NewWS speaks the protocol over an open websocket.
func NewWS(conn *websocket.Conn) *WS { return &WS{Conn: conn} }

// Send writes one client frame.
func (c *WS) Send(f wire.ClientFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// SendRaw writes data as one text frame.
func (c *WS) SendRaw(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.WriteTimeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	}
	return c.Conn.WriteMessage(websocket.TextMessage, data)
}

// Hello asks to sign in as nick; the answer is a welcome or an error frame.
func (c *WS) Hello(nick string) error { return c.Send(wire.ClientFrame{Type: "hello", Nick: nick}) }

// HelloToken signs in with a bot token (/token new): as its key, under
// its nick.
func (c *WS) HelloToken(token string) error {
	return c.Send(wire.ClientFrame{Type: "hello", Token: token})
}

// Say sends text (a message or a /command) to room, "" for the current one.
func (c *WS) Say(room, text string) error {
	return c.Send(wire.ClientFrame{Type: "say", Room: room, Text: text})
}

// Read moves the read marker of the connection's key for room ("" for
// the current one) to message id; the key's other sessions get a read
// frame. A guest's is ignored.
func (c *WS) Read(room string, id uint64) error {
	return c.Send(wire.ClientFrame{Type: "read", Room: room, ID: json.RawMessage(strconv.FormatUint(id, 10))})
}

// Names asks for the page of room's members after cursor ("" for the
// first page; a members frame's Next for the following one), at most limit
// (0: the server's default); the answer is a members frame with Total.
func (c *WS) Names(room, cursor string, limit int) error {
	return c.Send(wire.ClientFrame{Type: "names", Room: room, Cursor: cursor, Limit: limit})
}

// bigFrame is the size above which a read buffer is not kept: one member
// list of a big room would otherwise stay allocated for the connection's
// life, in every client of a load test.
const bigFrame = 64 << 10

// NextRaw reads the next frame. The bytes are valid until the next call.
func (c *WS) NextRaw() ([]byte, error) {
	_, r, err := c.Conn.NextReader()
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	b := c.buf.Bytes()
	if c.buf.Cap() > bigFrame {
		c.buf = bytes.Buffer{}
	}
	return b, nil
}

// Next reads and decodes the next frame. A frame that is not JSON is
// returned with its bytes in Raw and the decoding error.
func (c *WS) Next() (wire.Frame, error) {
	b, err := c.NextRaw()
	if err != nil {
		return wire.Frame{}, err
	}
	return wire.DecodeFrame(bytes.Clone(b))
}

// Close closes the connection without a close frame.
func (c *WS) Close() error { return c.Conn.Close() }
