package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store/storetest"
)

// logRecorder keeps what a hub logs, one JSON record a line.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// errors returns the ERROR records' messages and "err" attributes.
func (l *logRecorder) errors(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] == "ERROR" {
			out = append(out, rec["msg"].(string)+": "+rec["err"].(string))
		}
	}
	return out
}

func (l *logRecorder) option() Option {
	return WithLogger(slog.New(slog.NewJSONHandler(l, nil)))
}

// A hub given no store keeps everything in memory: the commands that
// need the store answer as with one. One subtest each.
func TestStorelessHubAnswersStoredCommands(t *testing.T) {
	for _, tc := range []struct {
		line, want string
	}{
		{"/sessions", "0 web session(s) for your key:"},
		{"/logout-all", "Ended 0 web session(s)."},
		{"/mute bob", "Muted bob "},
		{"/op bob", "bob is now an operator"},
		{"/register", "op is now registered to your key"}, // was no_store
	} {
		t.Run(tc.line, func(t *testing.T) {
			h := newTestHub(t, WithAdmins(opKey))
			op := connectAs(t, h, "op", opKey, "192.0.2.1:1000")
			connectAs(t, h, "bob", "SHA256:bob", "192.0.2.2:1000")
			h.Input(op, "", tc.line)
			for {
				ev := next(t, op)
				if ev.Kind == KindError {
					t.Fatalf("%s: %s (%s)", tc.line, ev.Text, ev.Code)
				}
				if ev.Kind == KindNotice && strings.Contains(ev.Text, tc.want) {
					break
				}
			}
		})
	}
}

func TestStorelessHubPagesHistoryFromMemory(t *testing.T) {
	h := newTestHub(t, WithHistory(2))
	a := connect(t, h, "alice", ViaWeb)
	nextKind(t, a, KindHistory)
	for _, text := range []string{"1", "2", "3"} {
		h.Input(a, "", text)
		nextKind(t, a, KindMessage)
	}
	h.HistoryRequest(a, "lobby", 0, 10)
	ev := nextKind(t, a, KindHistory)
	var got []string
	for _, m := range ev.History {
		got = append(got, m.Text)
	}
	if strings.Join(got, ",") != "1,2,3" {
		t.Fatalf("history = %v", got)
	}
	h.HistoryRequest(a, "lobby", ev.History[1].ID, 10)
	if ev := nextKind(t, a, KindHistory); len(ev.History) != 1 || ev.History[0].Text != "1" {
		t.Fatalf("older page = %+v", ev.History)
	}
}

// A sign-out the store could not record is reported (otherwise the token
// would stay valid for 30 days while the browser believed it signed out),
// logged, and closes nothing; once the store works, it
// signs the browser out.
func TestLogoutReportsAStoreFailure(t *testing.T) {
	var logs logRecorder
	st := storetest.NewSignOutFailing()
	h := newStoredHub(t, WithStore(st), logs.option())
	const token = "browser-token"
	s, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: "SHA256:alice", WebToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Leave)

	err = h.Logout(token)
	var ue *UserError
	if !errors.As(err, &ue) || ue.Code != "store_failed" {
		t.Fatalf("Logout = %v, want store_failed", err)
	}
	if got := logs.errors(t); len(got) != 1 || got[0] != "store web sign-out: disk I/O error" {
		t.Fatalf("logged %q", got)
	}
	select {
	case <-s.Done():
		t.Fatal("the browser's connection was closed although its sign-in still works")
	default:
	}

	st.Failing.Store(false)
	if err := h.Logout(token); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the browser's connection stayed open after signing out")
	}
	if s.CloseReason() != ReasonSignedOut {
		t.Fatalf("closed for %q", s.CloseReason())
	}
}

func TestPersistLogsOnceAndRefuses(t *testing.T) {
	var logs logRecorder
	h := newTestHub(t, logs.option())
	err := h.persist("thing", "the thing was not done", func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a store operation without a deadline")
		}
		return errors.New("disk full")
	}, "room", "lobby")
	var ue *UserError
	if !errors.As(err, &ue) || ue.Code != "store_failed" || ue.Text != "the thing was not done" {
		t.Fatalf("persist = %#v", err)
	}
	if got := logs.errors(t); len(got) != 1 || got[0] != "store thing: disk full" {
		t.Fatalf("logged %q", got)
	}
	// An answer f turns into an outcome is no failure.
	if err := h.persist("thing", "refused", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := logs.errors(t); len(got) != 1 {
		t.Fatalf("logged %q", got)
	}
}

// Store work still under way when Shutdown returns is cut short, so that
// the server can close the store.
func TestPersistCutShortAtShutdown(t *testing.T) {
	h := newTestHub(t)
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- h.persist("slow", "refused", func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var ue *UserError
		if !errors.As(err, &ue) || ue.Code != "store_failed" {
			t.Fatalf("persist = %v", err)
		}
	case <-time.After(storeTimeout / 2):
		t.Fatal("a store operation outlived Shutdown")
	}
}
