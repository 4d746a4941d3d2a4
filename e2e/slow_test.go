package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/app"
)

// A client that stops reading is dropped, and everyone else keeps receiving
// every message meanwhile. No sleeps: the test sends until the server
// reports the drop, within a bounded number of messages, and every wait is
// bounded.
func TestStalledClientIsDropped(t *testing.T) {
	// Once its queue is full, the stalled client is skipped messages; it
	// is dropped when it has written nothing for --slow-timeout.
	srv := startServer(t, func(c *app.Config) { c.Room.QueueSize = 32; c.Room.SlowTimeout = 300 * time.Millisecond })

	// An SSH client that never reads its output: once the SSH channel
	// window (2 MiB) is used up, the server's writes to it block.
	c := dialSSH(t, srv.SSHAddr, "sloth", guestAuth())
	sloth, err := c.NewSession()
	must(t, err)
	_, err = sloth.StdoutPipe() // never read
	must(t, err)
	_, err = sloth.StdinPipe() // kept open: line mode ends at EOF
	must(t, err)
	must(t, sloth.Shell())

	observer := joinWS(t, srv.HTTPAddr, "observer")
	observer.expect("sloth is in", func(f frame) bool {
		return (f.Type == "members" && len(f.Members) == 2) || (f.Type == "join" && f.Nick == "sloth")
	})
	sender := newLineClient(t, srv.SSHAddr, "sender")
	sender.expect("--> sender joined")

	payload := strings.Repeat("x", 1900)
	const maxMessages = 5000 // far more than the channel window and queue hold
	dropped := false
	sent := 0
	for sent < maxMessages && !dropped {
		text := fmt.Sprintf("%d %s", sent, payload)
		sender.send(text)
		sent++
		// Each message reaches the observer before the next is sent, so the
		// observer is never behind; a stall would show as a timeout here.
		deadline := time.NewTimer(waitTimeout)
	wait:
		for {
			select {
			case f := <-observer.frames:
				if f.Type == "part" && f.Nick == "sloth" {
					if f.Reason != "too slow: outbound queue full" {
						t.Fatalf("sloth left for %q", f.Reason)
					}
					dropped = true
					continue
				}
				if f.Type == "message" && f.From == "sender" {
					if f.Text != text {
						t.Fatalf("observer got %.20q, want %.20q", f.Text, text)
					}
					break wait
				}
			case <-deadline.C:
				t.Fatalf("observer did not get message %d in time", sent-1)
			}
		}
		deadline.Stop()
		// The sender reads its own echo too, so only the stalled client
		// falls behind.
		sender.expect(fmt.Sprintf("<sender> %d ", sent-1))
	}
	if !dropped {
		t.Fatalf("the stalled client was not dropped after %d messages", sent)
	}
	t.Logf("stalled client dropped after %d messages", sent)

	// The room still works afterwards.
	sender.send("still here")
	observer.expect("after drop", isMessage("sender", "still here"))
}
