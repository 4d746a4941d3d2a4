package webchat

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// apiFixture is a hub whose key SHA256:owner registered "owner" and made
// the bot token "ci", and the web front-end's handler.
type apiFixture struct {
	hub     *room.Hub
	owner   *room.Session
	handler http.Handler
	token   string
}

// answer sends line as s and returns the first notice or error after it.
func answer(t *testing.T, hub *room.Hub, s *room.Session, line string) *room.Event {
	t.Helper()
	for len(s.Events()) > 0 {
		<-s.Events()
	}
	hub.Input(s, "", line)
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-s.Events():
			if ev.Kind == room.KindNotice || ev.Kind == room.KindError {
				return ev
			}
		case <-timeout:
			t.Fatalf("no answer to %q", line)
		}
	}
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	if err := hub.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	owner, err := hub.Connect(room.Identity{Nick: "owner", Via: room.ViaSSH, Fingerprint: "SHA256:owner", Remote: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Leave)
	answer(t, hub, owner, "/register")
	f := &apiFixture{hub: hub, owner: owner, handler: New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler()}
	for _, w := range strings.Fields(answer(t, hub, owner, "/token new ci").Text) {
		if strings.HasPrefix(w, "tt_") {
			f.token = w
		}
	}
	if f.token == "" {
		t.Fatal("no token made")
	}
	return f
}

func (f *apiFixture) do(method, path, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func TestAPIPostAndRead(t *testing.T) {
	f := newAPIFixture(t)
	w := f.do("POST", "/api/rooms/lobby/messages", f.token, `{"text":"deploy <b>done</b>","cid":"run-1"}`)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("post answered %d %s", w.Code, w.Body)
	}
	var msg struct {
		Type, From, Text, CID, Room string
		ID                          uint64
	}
	if err := json.Unmarshal(w.Body.Bytes(), &msg); err != nil || msg.Type != "message" || msg.From != "owner" || msg.Text != "deploy <b>done</b>" || msg.CID != "run-1" || msg.Room != "lobby" {
		t.Fatalf("post answered %s (%v)", w.Body, err)
	}
	again := f.do("POST", "/api/rooms/lobby/messages", f.token, `{"text":"deploy <b>done</b>","cid":"run-1"}`)
	if again.Code != http.StatusOK || again.Body.String() != w.Body.String() {
		t.Fatalf("the same cid again answered %d %s, want %s", again.Code, again.Body, w.Body)
	}
	read := f.do("GET", "/api/rooms/lobby/messages?after=0&limit=10", f.token, "")
	var page struct {
		Type     string
		Messages []struct{ ID uint64 }
	}
	if err := json.Unmarshal(read.Body.Bytes(), &page); err != nil || read.Code != http.StatusOK || page.Type != "history" {
		t.Fatalf("read answered %d %s", read.Code, read.Body)
	}
	if !strings.Contains(read.Body.String(), `"id":`+jsonNumber(msg.ID)) || strings.Count(read.Body.String(), "deploy") != 1 {
		t.Fatalf("read answered %s; want message %d once", read.Body, msg.ID)
	}

	for _, tc := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/api/rooms/nosuch/messages", `{"text":"x"}`, http.StatusNotFound, "no_such_room"},
		{"/api/rooms/lobby/messages", `not json`, http.StatusBadRequest, "bad_frame"},
		{"/api/rooms/lobby/messages", `{"text":"` + strings.Repeat("x", DefaultReadLimit) + `"}`, http.StatusRequestEntityTooLarge, "too_large"},
		{"/api/rooms/lobby/messages", `{"text":"` + strings.Repeat("x", room.DefaultMaxMessage+1) + `"}`, http.StatusBadRequest, "too_long"},
		{"/api/rooms/lobby/messages", `{"text":"\u001b[2J"}`, http.StatusBadRequest, "empty"},
	} {
		w := f.do("POST", tc.path, f.token, tc.body)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`) {
			t.Errorf("%s %.40s answered %d %s, want %d %s", tc.path, tc.body, w.Code, w.Body, tc.status, tc.code)
		}
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// A wrong token and a revoked one get the same answer: it tells nothing
// of whether the token existed.
func TestAPIRefusesWrongAndRevokedTokensAlike(t *testing.T) {
	f := newAPIFixture(t)
	wrong := f.do("POST", "/api/rooms/lobby/messages", "tt_wrong", `{"text":"x"}`)
	none := f.do("POST", "/api/rooms/lobby/messages", "", `{"text":"x"}`)
	answer(t, f.hub, f.owner, "/token revoke ci")
	revoked := f.do("POST", "/api/rooms/lobby/messages", f.token, `{"text":"x"}`)
	readRevoked := f.do("GET", "/api/rooms/lobby/messages", f.token, "")
	for _, w := range []*httptest.ResponseRecorder{wrong, none, revoked, readRevoked} {
		if w.Code != http.StatusUnauthorized || w.Body.String() != wrong.Body.String() || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("answered %d %s, want 401 %s", w.Code, w.Body, wrong.Body)
		}
	}
	if !strings.Contains(wrong.Body.String(), `"code":"bad_token"`) {
		t.Fatalf("refusal %s", wrong.Body)
	}
}
