package sshchat

import (
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"os"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/room"
)

// The server serves the host keys it is given and writes none of its own:
// wish generates an id_ed25519 in the working directory of a server built
// without keys.
func TestNewWritesNoKeyOfItsOwn(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)))
	s, err := New(hub, WithHostKeys(key), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.srv.HostSigners; len(got) != 1 || string(got[0].PublicKey().Marshal()) != string(key.PublicKey().Marshal()) {
		t.Errorf("host keys: got %d, want only the one given", len(got))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("New wrote %s in the working directory", e.Name())
	}
}
