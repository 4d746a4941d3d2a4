package webchat

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tertulia/tertulia/internal/room"
)

// sessionCookie names the cookie of a signed-in browser.
const sessionCookie = "tertulia_session"

// isHTTPS tells whether the browser reached us over TLS: directly, or
// through a trusted proxy that says so.
func (s *Server) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if peer, ok := parseHost(r.RemoteAddr); ok && s.trusted(peer) {
		return r.Header.Get("X-Forwarded-Proto") == "https"
	}
	return false
}

// sameOrigin refuses cross-site form posts (the cookie is SameSite=Strict
// too; this is the second fence).
func (s *Server) sameOrigin(r *http.Request) bool {
	return s.checkOrigin(r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveLogin trades a one-time code from /weblogin for a session cookie.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	var body struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Code == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `send {"code":"..."}`})
		return
	}
	token, fp, err := s.hub.RedeemLoginCode(body.Code, s.clientAddr(r))
	switch {
	case errors.Is(err, room.ErrRateLimited):
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, room.ErrBadCode):
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	case err != nil: // the store failed; the hub logged why
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "sign-in failed, please try again"})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/",
		MaxAge: int(room.WebSessionTTL.Seconds()), HttpOnly: true,
		Secure: s.isHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "nicks": s.hub.NicksOf(fp)})
}

// serveLogout ends this browser's session. If the server could not end
// it, the browser keeps its cookie: clearing it would make the browser
// believe it signed out while the token still signs in, for 30 days.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.hub.Logout(c.Value); err != nil { // the hub logged why
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "sign-out failed, please try again"})
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// serveSession tells the page whether this browser is signed in.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	fp, _ := s.signedIn(r)
	if fp == "" {
		writeJSON(w, http.StatusOK, map[string]any{"signed_in": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"signed_in": true, "nicks": s.hub.NicksOf(fp)})
}

// signedIn is the key this request's cookie signs in as, and the cookie's
// token; both "" when it is not signed in.
func (s *Server) signedIn(r *http.Request) (key, token string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", ""
	}
	fp, ok := s.hub.WebSessionKey(c.Value)
	if !ok {
		return "", ""
	}
	return fp, c.Value
}
