package sshchat

import (
	"log/slog"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tertulia/tertulia/internal/room"
)

// quietModel does nothing with what it is passed but say when a message
// came, and quit at the end.
type quietModel struct{ got chan struct{} }

func (quietModel) Init() tea.Cmd { return nil }

func (q quietModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case closedMsg:
		return q, tea.Quit
	case eventsMsg:
		for _, ev := range msg {
			if ev.Kind == room.KindMessage {
				q.got <- struct{}{}
			}
		}
	}
	return q, nil
}

func (quietModel) View() tea.View { return tea.View{} }

// BenchmarkLoopWake is one message of a terminal session's own coming back
// to its idle loop, the next sent only once the model has it, with a model that does nothing:
// the publishing and the loop's wake-up from its select that every
// delivery pays besides its Update, View and write (wall time; the sender
// and the loop are two goroutines).
func BenchmarkLoopWake(b *testing.B) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1e9, 1e9))
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		b.Fatal(err)
	}
	m := quietModel{got: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		newTUILoop(m).run(bob, newWindowFeed(), nil)
	}()
	b.ResetTimer()
	for range b.N {
		hub.Input(bob, "", "m")
		select {
		case <-m.got:
		case <-time.After(2 * time.Second):
			b.Fatalf("the message did not come back (session closed: %v)", bob.CloseReason())
		}
	}
	b.StopTimer()
	bob.Close(room.ReasonQuit)
	<-done
}
