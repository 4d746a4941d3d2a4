package e2e

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	gossh "golang.org/x/crypto/ssh"
)

var botTokenPattern = regexp.MustCompile(`tt_[A-Za-z0-9_-]+`)

// newBotToken registers "owner" and "deployer" for a fresh key over SSH
// and makes the bot token "ci" for "deployer" (a websocket bot needs a
// nick its owner is not using); it returns the owner's line client and the
// token.
func newBotToken(t *testing.T, srv *server) (*lineClient, string) {
	t.Helper()
	owner := newLineClient(t, srv.SSHAddr, "owner", gossh.PublicKeys(newSigner(t)))
	owner.expect("-!- welcome owner")
	owner.send("/register")
	owner.expect("registered")
	owner.send("/nick deployer")
	owner.expect("now known as deployer")
	owner.send("/register")
	owner.expect("deployer is now registered")
	owner.send("/nick owner")
	owner.expect("now known as owner")
	owner.send("/token new ci deployer")
	token := botTokenPattern.FindString(owner.expect("Bot token ci"))
	if token == "" {
		t.Fatal("no token shown")
	}
	return owner, token
}

// apiRequest makes one HTTP API request and returns its status and body.
func apiRequest(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(b)
}

func TestBotTokenPostsByHTTPAndWebsocket(t *testing.T) {
	srv := startServer(t)
	_, token := newBotToken(t, srv)
	watcher := joinWS(t, srv.HTTPAddr, "watcher")
	messages := "http://" + srv.HTTPAddr + "/api/rooms/lobby/messages"

	status, body := apiRequest(t, "POST", messages, token, `{"text":"build 12 passed","cid":"build-12"}`)
	if status != http.StatusOK || !strings.Contains(body, `"from":"deployer"`) || !strings.Contains(body, `"cid":"build-12"`) {
		t.Fatalf("post answered %d %s", status, body)
	}
	watcher.expect("the posted message", isMessage("deployer", "build 12 passed"))
	// The same cid again: answered alike, stored once.
	if status, again := apiRequest(t, "POST", messages, token, `{"text":"build 12 passed","cid":"build-12"}`); status != http.StatusOK || again != body {
		t.Fatalf("the same post again answered %d %s, want %s", status, again, body)
	}
	status, page := apiRequest(t, "GET", messages+"?after=0&limit=50", token, "")
	if status != http.StatusOK || !strings.HasPrefix(page, `{"type":"history"`) || strings.Count(page, "build 12 passed") != 1 {
		t.Fatalf("read answered %d %s; want the message once", status, page)
	}

	bot := newWSClient(t, srv.HTTPAddr)
	must(t, bot.ws.HelloToken(token))
	if f := bot.expect("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "deployer" {
		t.Fatalf("the bot is welcomed as %q", f.Nick)
	}
	bot.say("deployed to staging")
	watcher.expect("the bot's message", isMessage("deployer", "deployed to staging"))
}

func TestRevokedBotTokenRefusedAtOnce(t *testing.T) {
	srv := startServer(t)
	owner, token := newBotToken(t, srv)
	messages := "http://" + srv.HTTPAddr + "/api/rooms/lobby/messages"
	bot := newWSClient(t, srv.HTTPAddr)
	must(t, bot.ws.HelloToken(token))
	bot.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	wrongStatus, wrongBody := apiRequest(t, "POST", messages, "tt_not-a-token", `{"text":"x"}`)
	if wrongStatus != http.StatusUnauthorized || !strings.Contains(wrongBody, `"code":"bad_token"`) {
		t.Fatalf("a wrong token answered %d %s", wrongStatus, wrongBody)
	}

	owner.send("/token revoke ci")
	owner.expect("revoked")
	if f := bot.expect("the revocation", func(f frame) bool { return f.Type == "error" }); f.Code != "token_revoked" {
		t.Fatalf("the open bot connection was told %s %q", f.Code, f.Text)
	}
	select {
	case <-bot.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the bot connection was not closed")
	}
	var ce *websocket.CloseError
	if err := bot.closeErr(); !errors.As(err, &ce) || ce.Text != "bot token revoked" {
		t.Fatalf("the bot connection ended with %v", err)
	}
	if status, body := apiRequest(t, "POST", messages, token, `{"text":"x"}`); status != wrongStatus || body != wrongBody {
		t.Fatalf("a revoked token answered %d %s, want %d %s", status, body, wrongStatus, wrongBody)
	}
	again := newWSClient(t, srv.HTTPAddr)
	must(t, again.ws.HelloToken(token))
	if f := again.expect("the refusal", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_token" {
		t.Fatalf("a hello with a revoked token was answered %s %q", f.Code, f.Text)
	}
}

func TestBotWebsocketGetsNoReplayAndIsMarked(t *testing.T) {
	srv := startServer(t)
	human := joinWS(t, srv.HTTPAddr, "human")
	human.say("said before the bot came")
	human.expect("own message", isMessage("human", "said before the bot came"))

	bot := newWSClient(t, srv.HTTPAddr)
	bot.sendJSON(map[string]any{"type": "hello", "nick": "ci", "bot": true})
	bot.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	members := bot.expect("members", func(f frame) bool { return f.Type == "members" })
	if !strings.Contains(string(members.Raw), `{"nick":"ci","via":"web","registered":false,"bot":true}`) {
		t.Fatalf("the bot's member list: %s", members.Raw)
	}
	join := human.expect("the bot's join", func(f frame) bool { return f.Type == "join" && f.Nick == "ci" })
	if !strings.Contains(string(join.Raw), `"bot":true`) {
		t.Fatalf("the others saw the join %s", join.Raw)
	}
	// Up to the answer to its ping, no history came.
	bot.sendJSON(map[string]any{"type": "ping", "id": 1})
	bot.expect("pong", func(f frame) bool {
		if f.Type == "history" || strings.Contains(string(f.Raw), "said before the bot came") {
			t.Fatalf("the bot was sent %s", f.Raw)
		}
		return f.Type == "pong"
	})
	human.sendJSON(map[string]any{"type": "say", "room": "lobby", "text": "/whois ci"})
	if f := human.expect("whois", func(f frame) bool { return f.Type == "notice" && strings.HasPrefix(f.Text, "ci ") }); !strings.Contains(f.Text, "a bot") {
		t.Fatalf("/whois ci = %q", f.Text)
	}
}

// The example CI notification (examples/ci-notify.sh) posts with curl, and
// a retried job's post is stored once.
func TestExampleCINotification(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: ./scripts/test installs it")
	}
	srv := startServer(t)
	_, token := newBotToken(t, srv)
	watcher := joinWS(t, srv.HTTPAddr, "watcher")
	for range 2 {
		cmd := exec.Command("sh", "../examples/ci-notify.sh", "lobby", "build \"812\" passed\nall green", "build-812")
		cmd.Env = append(os.Environ(), "TERTULIA_URL=http://"+srv.HTTPAddr, "TERTULIA_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"cid":"build-812"`) {
			t.Fatalf("ci-notify.sh: %v\n%s", err, out)
		}
	}
	watcher.expect("the notification", isMessage("deployer", "build \"812\" passed\nall green"))
	status, page := apiRequest(t, "GET", "http://"+srv.HTTPAddr+"/api/rooms/lobby/messages", token, "")
	if status != http.StatusOK || strings.Count(page, "all green") != 1 {
		t.Fatalf("read answered %d %s; want the notification once", status, page)
	}
}

// A line-mode client that sets TERTULIA_BOT=1 is a bot as a websocket
// hello's "bot": true: no history replayed, marked for others.
func TestLineModeBotByEnvironment(t *testing.T) {
	srv := startServer(t)
	human := joinWS(t, srv.HTTPAddr, "human")
	human.say("said before the bot came")
	human.expect("own message", isMessage("human", "said before the bot came"))

	c := dialSSH(t, srv.SSHAddr, "linebot", guestAuth())
	sess, err := c.NewSession()
	must(t, err)
	must(t, sess.Setenv("TERTULIA_BOT", "1"))
	stdin, err := sess.StdinPipe()
	must(t, err)
	stdout, err := sess.StdoutPipe()
	must(t, err)
	must(t, sess.Shell())
	join := human.expect("the bot's join", func(f frame) bool { return f.Type == "join" && f.Nick == "linebot" })
	if !strings.Contains(string(join.Raw), `"bot":true`) {
		t.Fatalf("the others saw the join %s", join.Raw)
	}
	_, err = stdin.Write([]byte("/whois linebot\n"))
	must(t, err)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(waitTimeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the session ended before /whois answered")
			}
			if strings.Contains(l, "said before the bot came") {
				t.Fatalf("the line-mode bot was sent history: %q", l)
			}
			if strings.Contains(l, "a bot") {
				return
			}
		case <-timeout:
			t.Fatal("no /whois answer saying the session is a bot")
		}
	}
}
