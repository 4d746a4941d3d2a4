package wire

import (
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// The missed frame (docs/protocol.md).
func TestEncodeMissed(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		ev   *room.Event
		want string
	}{
		{&room.Event{Kind: room.KindMissed, Room: "lobby", Count: 42, Time: now}, `{"type":"missed","room":"lobby","count":42}`},
		{&room.Event{Kind: room.KindMissed, Count: 3, Time: now}, `{"type":"missed","private":true,"count":3}`},
	} {
		if got := string(EncodeEvent(c.ev)); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}
