package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/app"
)

// The terminal interface: history on join, scrolling back into older
// history, several rooms with unread marks, and mentions that ring.
func TestTerminalRoomsHistoryAndMentions(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 5 })
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	for i := 0; i < 30; i++ {
		poster.send(fmt.Sprintf("line %02d", i))
		poster.expect(fmt.Sprintf("<poster> line %02d", i))
	}

	tina := newPTYClient(t, srv.SSHAddr, "tina", 80, 20)
	screen := tina.waitScreen("<poster> line 29", "<poster> line 25", "tina │ #lobby │ 2 members")
	if strings.Contains(screen, "line 24") {
		t.Fatalf("more than the last 5 messages on join:\n%s", screen)
	}

	// PgUp at the top asks for older messages, which appear above
	// without moving the reading position; the next PgUp shows them.
	tina.key("\x1b[5~")
	tina.waitScreen("<poster> line 24")
	tina.key("\x1b[5~")
	tina.waitScreen("<poster> line 00")

	// Rooms: join #dev, get a message there, switch back with Ctrl-P and
	// see the unread mark when #dev gets another.
	tina.typeLine("/join #dev")
	tina.waitScreen("tina │ #dev │ 1 members")
	poster.send("/join #dev")
	poster.expect("#dev --> poster joined")
	poster.send("first in dev")
	tina.waitScreen("<poster> first in dev", "#dev │ 2 members")
	tina.key("\x10") // Ctrl-P
	tina.waitScreen("tina │ #lobby │ 2 members")
	poster.send("second in dev")
	poster.expect("<poster> second in dev")
	tina.waitScreen("#lobby #dev*")

	// A mention rings the bell and is shown.
	before := tina.bells.Load()
	poster.send("/join #lobby")
	poster.send("hey tina, look")
	tina.waitScreen("<poster> hey tina, look")
	if tina.bells.Load() == before {
		t.Fatal("a mention did not ring the bell")
	}
	tina.key("\x0e") // Ctrl-N: back to #dev, its unread mark goes
	screen = tina.waitScreen("tina │ #dev │ 2 members", "<poster> second in dev")
	if strings.Contains(screen, "#dev*") {
		t.Fatalf("unread mark stayed:\n%s", screen)
	}
}
