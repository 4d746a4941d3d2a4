// Command gobot is an example bot: it signs in to a Tertulia server's
// websocket with a bot token, joins a room and answers "!ping" with "pong"
// and "!time" with the server's clock as it sees it.
//
//	TERTULIA_TOKEN=tt_... go run ./examples/gobot -url ws://localhost:8080/ws -room dev
//
// Make the token with /token new NAME NICK over SSH; give the bot a nick
// of its own (registered to your key), not the one you chat under.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/chatclient"
	"github.com/tertulia/tertulia/internal/wire"
)

func main() {
	url := flag.String("url", "ws://localhost:8080/ws", "the server's websocket")
	room := flag.String("room", "lobby", "the room to answer in")
	flag.Parse()
	token := os.Getenv("TERTULIA_TOKEN")
	if token == "" {
		log.Fatal("set TERTULIA_TOKEN to a bot token (/token new NAME NICK)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *url, token, *room); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url, token, room string) error {
	ws, _, err := chatclient.DialWS(ctx, nil, url, nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	context.AfterFunc(ctx, func() { _ = ws.Close() })
	ws.WriteTimeout = 10 * time.Second
	// "bot": no message of the day and no history replay on joining.
	if err := ws.Send(wire.ClientFrame{Type: "hello", Token: token, Bot: true}); err != nil {
		return err
	}
	var nick string
	for {
		f, err := ws.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch f.Type {
		case "welcome":
			nick = f.Nick
			log.Printf("signed in as %s", nick)
			if room != "lobby" {
				if err := ws.Say("lobby", "/join #"+room); err != nil {
					return err
				}
			}
		case "error":
			if f.Code == "bad_token" || f.Code == "token_revoked" || f.Code == "nick_taken" {
				return fmt.Errorf("%s: %s", f.Code, f.Text)
			}
			log.Printf("error %s: %s", f.Code, f.Text)
		case "message":
			if f.Room != room || f.From == nick {
				continue
			}
			if reply := answer(f.Text); reply != "" {
				if err := ws.Say(room, reply); err != nil {
					return err
				}
			}
		}
	}
}

// answer is the bot's reply to a message, "" for none.
func answer(text string) string {
	switch strings.TrimSpace(text) {
	case "!ping":
		return "pong"
	case "!time":
		return time.Now().UTC().Format(time.RFC1123)
	}
	return ""
}
