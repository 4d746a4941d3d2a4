package wire_test

import (
	"testing"

	"github.com/tertulia/tertulia/internal/wire"
)

// A pong's id is the ping's as sent, a string or a number: either decodes.
func TestDecodePong(t *testing.T) {
	for _, c := range []struct {
		frame, pongID string
		id            uint64
	}{
		{`{"type":"pong","id":"p17"}`, "p17", 0},
		{`{"type":"pong","id":17}`, "17", 17},
		{`{"type":"pong"}`, "", 0},
	} {
		f, err := wire.DecodeFrame([]byte(c.frame))
		if err != nil || f.Type != "pong" || f.PongID != c.pongID || f.ID != c.id {
			t.Errorf("DecodeFrame(%s) = type %q, PongID %q, ID %d, %v; want PongID %q, ID %d", c.frame, f.Type, f.PongID, f.ID, err, c.pongID, c.id)
		}
	}
	f, err := wire.DecodeFrame([]byte(`{"type":"message","id":45,"room":"lobby","from":"alice","text":"hi","ts":"2024-05-01T18:04:05.123Z","action":false,"cid":"c1"}`))
	if err != nil || f.ID != 45 || f.CID != "c1" {
		t.Errorf("a message with a cid decodes as %+v, %v", f, err)
	}
}
