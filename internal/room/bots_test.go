package room

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// tokenFromNotice is the token /token new shows.
func tokenFromNotice(t *testing.T, ev *Event) string {
	t.Helper()
	if ev.Kind != KindNotice {
		t.Fatalf("/token new answered %v %q %q", ev.Kind, ev.Code, ev.Text)
	}
	for _, w := range strings.Fields(ev.Text) {
		if strings.HasPrefix(w, "tt_") {
			return w
		}
	}
	t.Fatalf("no token in %q", ev.Text)
	return ""
}

func TestBotTokenSessionAndRevocation(t *testing.T) {
	h := newTestHub(t)
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, alice, "/register")
	answerTo(t, h, alice, "/nick alicebot")
	answerTo(t, h, alice, "/register")
	answerTo(t, h, alice, "/nick alice")
	wantAnswer(t, answerTo(t, h, alice, "/token new ci bob"), "not_registered", "")
	token := tokenFromNotice(t, answerTo(t, h, alice, "/token new ci alicebot"))
	wantAnswer(t, answerTo(t, h, alice, "/token new ci"), "token_exists", "")

	tok, ok := h.BotToken(token)
	if !ok || tok.Nick != "alicebot" || tok.Fingerprint != aliceKey {
		t.Fatalf("BotToken = %+v, %v", tok, ok)
	}
	// The bot is a person of its own under the token's nick, beside its
	// owner's, and no operator whatever its key.
	bot, err := h.Connect(Identity{Nick: tok.Nick, Via: ViaWeb, Fingerprint: tok.Fingerprint, BotToken: tok.TokenHash})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bot.Leave)
	if bot.Nick() != "alicebot" || alice.Nick() != "alice" {
		t.Fatalf("nicks: bot %s, owner %s", bot.Nick(), alice.Nick())
	}
	// Commands that act on the key are not the token's.
	wantAnswer(t, answerTo(t, h, bot, "/token new other"), "needs_key", "")
	wantAnswer(t, answerTo(t, h, bot, "/unregister alice"), "needs_key", "")

	if ev := answerTo(t, h, alice, "/token list"); ev.Kind != KindNotice || !strings.Contains(ev.Text, "ci as alicebot") || strings.Contains(ev.Text, token) {
		t.Fatalf("/token list = %q", ev.Text)
	}
	wantAnswer(t, answerTo(t, h, alice, "/token list all"), "not_operator", "")

	answerTo(t, h, alice, "/token revoke ci")
	select {
	case <-bot.Done():
	default:
		t.Fatal("the revoked token's session is still open")
	}
	if r := bot.CloseReason(); r.Code != CodeRevoked {
		t.Fatalf("closed as %v", r)
	}
	if _, ok := h.BotToken(token); ok {
		t.Fatal("a revoked token still signs in")
	}
}

func TestPostIsASayWithoutASession(t *testing.T) {
	h := newTestHub(t)
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, alice, "/register")
	token := tokenFromNotice(t, answerTo(t, h, alice, "/token new ci"))
	tok, _ := h.BotToken(token)
	watcher := connect(t, h, "watcher", ViaWeb)
	drain(watcher)

	first, err := h.Post(tok, "192.0.2.7", "#lobby", "build \x1b[31mgreen", "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if first.From != "alice" || first.Text != "build green" || first.CID != "c-1" || first.ID == 0 {
		t.Fatalf("post = %+v", first)
	}
	again, err := h.Post(tok, "192.0.2.7", "lobby", "build \x1b[31mgreen", "c-1")
	if err != nil || again.ID != first.ID {
		t.Fatalf("the same cid again = %+v, %v; want message %d", again, err, first.ID)
	}
	if ev := nextKind(t, watcher, KindMessage); ev.ID != first.ID || ev.CID != "" {
		t.Fatalf("watcher got %+v", ev)
	}
	// No join or part around it, and nothing more.
	if n := len(watcher.Events()); n != 0 {
		t.Fatalf("watcher has %d more events", n)
	}
	noCID, err := h.Post(tok, "192.0.2.7", "lobby", "second", "")
	if err != nil || noCID.CID != "" || noCID.ID <= first.ID {
		t.Fatalf("a post without cid = %+v, %v", noCID, err)
	}
	if _, err := h.Post(tok, "192.0.2.7", "nosuch", "x", ""); errorCode(err) != "no_such_room" {
		t.Fatalf("a post to no room: %v", err)
	}
	if _, err := h.Post(tok, "192.0.2.7", "lobby", strings.Repeat("x", DefaultMaxMessage+1), ""); errorCode(err) != "too_long" {
		t.Fatalf("a long post: %v", err)
	}
	page, err := h.MessagesAfter(tok, "192.0.2.7", "lobby", first.ID-1, 10)
	if err != nil || len(page.History) != 2 || page.History[1].Text != "second" || page.More {
		t.Fatalf("MessagesAfter = %+v, %v", page, err)
	}
}

func TestPostRateLimited(t *testing.T) {
	h := newTestHub(t, WithRate(2, 1e-6))
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, alice, "/register")
	tok, _ := h.BotToken(tokenFromNotice(t, answerTo(t, h, alice, "/token new ci")))
	if _, err := h.Post(tok, "192.0.2.7", "lobby", "one", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Post(tok, "192.0.2.7", "lobby", "two", ""); err != nil {
		t.Fatal(err)
	}
	// The token's budget outlives each request.
	if _, err := h.Post(tok, "192.0.2.7", "lobby", "three", ""); errorCode(err) != "rate_limited" {
		t.Fatalf("beyond the budget: %v", err)
	}
}

func TestBotSessionsGetNoReplayAndAreMarked(t *testing.T) {
	h := newTestHub(t, WithMOTD("rules: be kind"))
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	human := connect(t, h, "human", ViaWeb)
	h.Input(human, "", "before the bot")
	motd := false
	for _, ev := range drain(human) {
		motd = motd || ev.Kind == KindNotice && strings.Contains(ev.Text, "be kind")
	}
	if !motd {
		t.Fatal("a person was not shown the MOTD")
	}
	bot, err := h.Connect(Identity{Nick: "ci", Via: ViaWeb, Bot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bot.Leave)
	for _, ev := range drain(bot) {
		if ev.Kind == KindHistory || ev.Kind == KindNotice && strings.Contains(ev.Text, "be kind") {
			t.Fatalf("the bot was sent %v on joining: %q", ev.Kind, ev.Text)
		}
		if ev.Kind == KindMembers {
			for _, m := range ev.Members {
				if m.Bot != (m.Nick == "ci") {
					t.Fatalf("member %+v", m)
				}
			}
		}
	}
	if join := nextKind(t, human, KindJoin); join.From != "ci" || !join.Bot {
		t.Fatalf("the others saw %+v", join)
	}
	if ev := answerTo(t, h, human, "/whois ci"); !strings.Contains(ev.Text, "a bot") {
		t.Fatalf("/whois ci = %q", ev.Text)
	}
	// Asked, it gets history.
	h.HistoryRequest(bot, "lobby", 0, 10)
	if ev := nextKind(t, bot, KindHistory); len(ev.History) != 1 || ev.History[0].Text != "before the bot" {
		t.Fatalf("history asked for: %+v", ev)
	}
}

// aliceWithABot connects alice with her key on h, registers alice and
// alicebot to it, and makes a bot token for alicebot: the returned
// identity signs in with it.
func aliceWithABot(t *testing.T, h *Hub) (*Session, Identity) {
	t.Helper()
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, alice, "/register")
	answerTo(t, h, alice, "/nick alicebot")
	answerTo(t, h, alice, "/register")
	answerTo(t, h, alice, "/nick alice")
	tok, _ := h.BotToken(tokenFromNotice(t, answerTo(t, h, alice, "/token new ci alicebot")))
	return alice, Identity{Nick: tok.Nick, Via: ViaWeb, Fingerprint: tok.Fingerprint, BotToken: tok.TokenHash}
}

func TestUnregisteringABotTokensNickClosesItsSessions(t *testing.T) {
	h := newTestHub(t)
	alice, botID := aliceWithABot(t, h)
	bot, err := h.Connect(botID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bot.Leave)
	answerTo(t, h, alice, "/unregister alicebot")
	select {
	case <-bot.Done():
	default:
		t.Fatal("the bot still speaks under a nick its key gave up")
	}
	select {
	case <-alice.Done():
		t.Fatal("the owner was closed too")
	default:
	}
}

// A full poster table makes room by dropping an idle poster (its budget
// full again), never one whose spent budget dropping would reset.
func TestPosterTableEvictsAnIdlePoster(t *testing.T) {
	busy := &poster{s: &Session{limiter: rate.NewLimiter(1, 5)}}
	busy.s.limiter.AllowN(time.Now(), 5)
	idle := &poster{s: &Session{limiter: rate.NewLimiter(1, 5)}}
	tab := &posterTable{byToken: map[string]*poster{"busy": busy, "idle": idle}}
	tab.evictLocked(5)
	if _, ok := tab.byToken["busy"]; !ok || len(tab.byToken) != 1 {
		t.Fatalf("after eviction: %v, want only the busy poster kept", tab.byToken)
	}
}
