package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/store/pgtest"
)

// One throw-away PostgreSQL server serves every test of the run that needs
// one (a database each); TestMain stops it.
var (
	pgOnce   sync.Once
	pgServer *pgtest.Server
	pgErr    error
)

// postgresDatabase returns the URL of a fresh, empty database.
func postgresDatabase(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgServer, pgErr = pgtest.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	url, err := pgServer.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func stopPostgres() {
	if pgServer != nil {
		pgServer.Stop()
	}
}

// A server on PostgreSQL (--store) keeps rooms and history across a
// restart, like the embedded store, and reports the store ready.
func TestPostgresStoreKeepsHistoryAcrossRestart(t *testing.T) {
	url := postgresDatabase(t)
	usePG := func(c *app.Config) { c.Store = url }
	srv := startServer(t, usePG)
	alice := joinWS(t, srv.HTTPAddr, "alice")
	alice.say("/join #kept")
	alice.sendJSON(map[string]string{"type": "say", "room": "kept", "text": "remember me"})
	echo := alice.expect("echo", isMessage("alice", "remember me"))
	alice.sendJSON(map[string]string{"type": "say", "room": "kept", "text": "/topic plans"})
	alice.expect("topic", func(f frame) bool { return f.Type == "topic" && strings.Contains(string(f.Raw), "plans") })
	srv.Stop()

	srv = startServer(t, usePG) // another data folder: everything comes from PostgreSQL
	bob := joinWS(t, srv.HTTPAddr, "bob")
	bob.say("/join #kept")
	var h frame
	topic := false
	for h.Type == "" || !topic {
		f := bob.expect("history and topic", func(f frame) bool { return f.Room == "kept" && (f.Type == "history" || f.Type == "topic") })
		if f.Type == "history" {
			h = f
		} else {
			topic = strings.Contains(string(f.Raw), `"plans"`)
		}
	}
	var page struct {
		Messages []frame `json:"messages"`
	}
	mustJSON(t, h.Raw, &page)
	if len(page.Messages) != 1 || page.Messages[0].Text != "remember me" || page.Messages[0].ID != echo.ID {
		t.Fatalf("history after restart: %s (echo id %d)", h.Raw, echo.ID)
	}
	resp, err := (&http.Client{Timeout: waitTimeout}).Get("http://" + srv.HTTPAddr + "/readyz")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ok store\n") {
		t.Fatalf("/readyz: %d %q", resp.StatusCode, body)
	}
}

// tertulia migrate copies a single-node server's SQLite database into
// PostgreSQL; a server on PostgreSQL then serves the same history with the
// same IDs, and new messages are numbered after them.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	alice := joinWS(t, p.HTTPAddr, "alice")
	var sent []frame
	for _, text := range []string{"one", "two", "three"} {
		alice.say(text)
		sent = append(sent, alice.expect("echo", isMessage("alice", text)))
	}
	must(t, p.stop(syscall.SIGTERM))

	url := postgresDatabase(t)
	out, err := exec.Command(binary(t), "migrate", "--from", dir+"/data/tertulia.db", "--to", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied and verified") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "messages") {
		t.Fatalf("migrate printed no counts:\n%s", out)
	}
	// A second migrate into the same database is refused, changing nothing.
	out, err = exec.Command(binary(t), "migrate", "--from", dir+"/data/tertulia.db", "--to", url).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "empty database") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}

	p = startProcess(t, t.TempDir(), "--store", url)
	bob := joinWS(t, p.HTTPAddr, "bob")
	got := historyAll(t, bob, "lobby")
	var texts []string
	for _, f := range got {
		if f.Type == "message" {
			texts = append(texts, f.Text)
		}
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Fatalf("history on PostgreSQL: %q", texts)
	}
	for i, f := range sent {
		if got[i].ID != f.ID {
			t.Fatalf("message %q: id %d on SQLite, %d after migrate", f.Text, f.ID, got[i].ID)
		}
	}
	bob.say("four")
	four := bob.expect("echo", isMessage("bob", "four"))
	if four.ID <= sent[2].ID {
		t.Fatalf("a new message got id %d, not after %d", four.ID, sent[2].ID)
	}
}
