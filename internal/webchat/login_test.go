package webchat

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/store/storetest"
)

// A sign-out the server could not record is answered 500 and the cookie
// is kept, so that the page says so and the browser can try again; it
// used to be 200 with the cookie cleared while the token stayed valid.
func TestLogoutFailureKeepsTheCookie(t *testing.T) {
	st := storetest.NewSignOutFailing()
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithStore(st))
	if err := hub.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := New(hub, WithLogger(slog.New(slog.DiscardHandler))).Handler()
	logout := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/logout", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "some-token"})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	st.Failing.Store(true)
	w := logout()
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "sign-out failed, please try again") {
		t.Fatalf("failed sign-out answered %d %s", w.Code, w.Body)
	}
	if c := w.Header().Get("Set-Cookie"); c != "" {
		t.Fatalf("failed sign-out set the cookie: %s", c)
	}

	st.Failing.Store(false)
	w = logout()
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Set-Cookie"), sessionCookie+"=;") {
		t.Fatalf("sign-out answered %d, Set-Cookie %q", w.Code, w.Header().Get("Set-Cookie"))
	}
}
