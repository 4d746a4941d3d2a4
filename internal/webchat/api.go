package webchat

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// The refusal of a bot token that is wrong, revoked or was never made:
// one answer for all, so that it tells nothing of which.
const (
	CodeBadToken = "bad_token"
	BadTokenText = "the bot token is not valid"
)

// maxPostBody bounds a POST's body as the read limit bounds a websocket
// frame (a say's JSON, escaped, and a cid): a text near --max-message
// that escapes long (\uXXXX) may be refused as too_large, as the same say
// over a websocket would be.
func (s *Server) maxPostBody() int64 { return s.readLimit }

// apiPost is the body of POST /api/rooms/{room}/messages.
type apiPost struct {
	Text string `json:"text"`
	CID  string `json:"cid"`
}

// serveAPIPost stores a message from the token's nick: a say without a
// websocket (see room.Hub.Post).
func (s *Server) serveAPIPost(w http.ResponseWriter, r *http.Request) {
	tok, remote, ok := s.apiAuth(w, r)
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.maxPostBody())
	var p apiPost
	dec := json.NewDecoder(body)
	if err := dec.Decode(&p); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", "the request body is longer than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
			return
		}
		apiError(w, http.StatusBadRequest, "bad_frame", `the body must be JSON: {"text":"...","cid":"..."}`)
		return
	}
	ev, err := s.hub.Post(tok, remote, r.PathValue("room"), p.Text, p.CID)
	if err != nil {
		apiUserError(w, err)
		return
	}
	apiJSON(w, http.StatusOK, wire.EncodeEvent(ev))
}

// serveAPIRead answers a page of a room's messages after ?after= (0: from
// the oldest kept), at most ?limit=, as a history frame.
func (s *Server) serveAPIRead(w http.ResponseWriter, r *http.Request) {
	tok, remote, ok := s.apiAuth(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var after uint64
	var limit int
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 63); err != nil {
			apiError(w, http.StatusBadRequest, "bad_frame", "after must be a message id (a number)")
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			apiError(w, http.StatusBadRequest, "bad_frame", "limit must be a positive number")
			return
		}
	}
	ev, err := s.hub.MessagesAfter(tok, remote, r.PathValue("room"), after, limit)
	if err != nil {
		apiUserError(w, err)
		return
	}
	apiJSON(w, http.StatusOK, wire.EncodeEvent(ev))
}

// apiAuth checks the request's bot token (Authorization: Bearer TOKEN)
// and its address, answering the refusal itself.
func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request) (room.BotToken, string, bool) {
	remote := s.clientAddr(r)
	if s.hub.IsBannedAddr(remote) {
		apiError(w, http.StatusForbidden, "banned", room.ErrBanned.Error())
		return room.BotToken{}, "", false
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		token = ""
	}
	tok, err := s.hub.BotTokenFrom(strings.TrimSpace(token), remote)
	var ue *room.UserError
	switch {
	case errors.As(err, &ue):
		apiUserError(w, err)
		return room.BotToken{}, "", false
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tertulia"`)
		apiError(w, http.StatusUnauthorized, CodeBadToken, BadTokenText)
		return room.BotToken{}, "", false
	}
	return tok, remote, true
}

// apiStatus is the HTTP status of a refusal's code.
func apiStatus(code string) int {
	switch code {
	case "banned", "not_allowed", "muted":
		return http.StatusForbidden
	case "no_such_room":
		return http.StatusNotFound
	case "rate_limited":
		return http.StatusTooManyRequests
	case "store_failed", "stopping":
		return http.StatusServiceUnavailable
	case "internal":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func apiUserError(w http.ResponseWriter, err error) {
	var ue *room.UserError
	if !errors.As(err, &ue) {
		apiError(w, http.StatusInternalServerError, "internal", "the request could not be done")
		return
	}
	apiError(w, apiStatus(ue.Code), ue.Code, ue.Text)
}

// apiError answers an error frame, as a websocket would send it.
func apiError(w http.ResponseWriter, status int, code, text string) {
	apiJSON(w, status, wire.EncodeError(code, text))
}

func apiJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
