package chatclient_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// startServer runs a whole server on loopback ports until the test ends.
func startServer(t *testing.T) app.Addrs {
	t.Helper()
	dir := t.TempDir()
	cfg := app.DefaultConfig()
	cfg.Listen.SSH, cfg.Listen.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Files.HostKeyDir, cfg.Files.DataDir = dir+"/hostkeys", dir+"/data"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, func(a app.Addrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	return app.Addrs{}
}

// A bot on each protocol: each hears the other.
func TestBothProtocols(t *testing.T) {
	addrs := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	line, err := chatclient.DialLine(ctx, addrs.SSH.String(), "linebot")
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	// A line that never comes fails the test when ctx ends, not at go
	// test's own timeout: closing the client ends Next.
	defer context.AfterFunc(ctx, func() { line.Close() })()
	nextLine := func(want func(wire.LineEvent) bool) wire.LineEvent {
		t.Helper()
		for {
			ev, ok, err := line.Next()
			if ok && want(ev) {
				return ev
			}
			if err != nil {
				t.Fatalf("line mode: %v", err)
			}
		}
	}
	if ev := nextLine(func(ev wire.LineEvent) bool { return ev.Kind == room.KindWelcome }); ev.From != "linebot" {
		t.Fatalf("welcomed as %q", ev.From)
	}

	ws, _, err := chatclient.DialWS(ctx, nil, "ws://"+addrs.HTTP.String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.Conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	nextFrame := func(want func(wire.Frame) bool) wire.Frame {
		t.Helper()
		for {
			f, err := ws.Next()
			if err != nil {
				t.Fatalf("websocket: %v", err)
			}
			if want(f) {
				return f
			}
		}
	}
	if err := ws.Hello("webbot"); err != nil {
		t.Fatal(err)
	}
	if f := nextFrame(func(f wire.Frame) bool { return f.Type == "welcome" }); f.Nick != "webbot" || f.RoomNames()[0] != "lobby" {
		t.Fatalf("welcome %s", f.Raw)
	}
	nextLine(func(ev wire.LineEvent) bool { return ev.Kind == room.KindJoin && ev.From == "webbot" })

	if err := ws.Say("", "hello from the web"); err != nil {
		t.Fatal(err)
	}
	ev := nextLine(func(ev wire.LineEvent) bool { return ev.Kind == room.KindMessage })
	if ev.Room != "lobby" || ev.From != "webbot" || ev.Text != "hello from the web" {
		t.Fatalf("line client read %+v", ev)
	}

	if err := line.Send("/me waves back"); err != nil {
		t.Fatal(err)
	}
	f := nextFrame(func(f wire.Frame) bool { return f.Type == "message" && f.From == "linebot" })
	if f.Room != "lobby" || f.Text != "waves back" || !f.Action || f.ID == 0 {
		t.Fatalf("websocket client read %s", f.Raw)
	}
}
