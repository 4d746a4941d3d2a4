package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
)

func testBotTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	add := func(hash, fp, name, nick string) error {
		return s.AddBotToken(ctx, store.BotToken{TokenHash: hash, Fingerprint: fp, Name: name, Nick: nick, CreatedAt: at(0)}, 0)
	}
	must(t, add("h1", "SHA256:b", "deploy", "bob"))
	must(t, add("h2", "SHA256:a", "news", "alice"))
	must(t, add("h3", "SHA256:a", "ci", "alicebot"))
	if err := add("h4", "SHA256:a", "ci", "alice"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second token of one name for one key: %v, want ErrExists", err)
	}
	// Another key may use the same name.
	must(t, add("h5", "SHA256:b", "ci", "bob"))
	got, err := s.BotTokenByHash(ctx, "h3")
	must(t, err)
	if got.Fingerprint != "SHA256:a" || got.Name != "ci" || got.Nick != "alicebot" || !got.CreatedAt.Equal(at(0)) {
		t.Fatalf("token = %+v", got)
	}
	if _, err := s.BotTokenByHash(ctx, "h4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused token: %v, want ErrNotFound", err)
	}
	names := func(fp string) string {
		t.Helper()
		list, err := s.BotTokens(ctx, fp)
		must(t, err)
		var out []string
		for _, tok := range list {
			out = append(out, tok.Fingerprint+"/"+tok.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names("SHA256:a"); got != "SHA256:a/ci,SHA256:a/news" {
		t.Fatalf("a key's tokens = %s", got)
	}
	if got := names(""); got != "SHA256:a/ci,SHA256:a/news,SHA256:b/ci,SHA256:b/deploy" {
		t.Fatalf("every token = %s", got)
	}
	gone, err := s.DeleteBotToken(ctx, "SHA256:a", "ci")
	must(t, err)
	if gone.TokenHash != "h3" {
		t.Fatalf("deleted %+v, want h3", gone)
	}
	if _, err := s.BotTokenByHash(ctx, "h3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted token: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteBotToken(ctx, "SHA256:a", "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting again: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteBotToken(ctx, "SHA256:a", "deploy"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another key's token: %v, want ErrNotFound", err)
	}
	if got := names(""); got != "SHA256:a/news,SHA256:b/ci,SHA256:b/deploy" {
		t.Fatalf("tokens after a deletion = %s", got)
	}
}

// A key's tokens are counted in the step that adds one: of many added at
// once beyond the limit, exactly enough to reach it are stored, the others
// refused with ErrTooMany; another key is not limited by them.
func testBotTokenLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const limit, tries = 5, 16
	must(t, s.AddBotToken(ctx, store.BotToken{TokenHash: "other", Fingerprint: "SHA256:other", Name: "x", Nick: "o", CreatedAt: at(0)}, limit))
	must(t, s.AddBotToken(ctx, store.BotToken{TokenHash: "first", Fingerprint: "SHA256:a", Name: "first", Nick: "a", CreatedAt: at(0)}, limit))
	var wg sync.WaitGroup
	errs := make(chan error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.AddBotToken(ctx, store.BotToken{TokenHash: fmt.Sprintf("h%d", i), Fingerprint: "SHA256:a", Name: fmt.Sprintf("n%d", i), Nick: "a", CreatedAt: at(0)}, limit)
		}()
	}
	wg.Wait()
	close(errs)
	stored, refused := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			stored++
		case errors.Is(err, store.ErrTooMany):
			refused++
		default:
			t.Errorf("adding a token: %v", err)
		}
	}
	list, err := s.BotTokens(ctx, "SHA256:a")
	must(t, err)
	if stored != limit-1 || refused != tries-limit+1 || len(list) != limit {
		t.Fatalf("%d added at once to a key with one, limit %d: %d stored, %d refused, %d kept", tries, limit, stored, refused, len(list))
	}
	if err := s.AddBotToken(ctx, store.BotToken{TokenHash: "again", Fingerprint: "SHA256:a", Name: "first", Nick: "a", CreatedAt: at(0)}, limit); !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrTooMany) {
		t.Fatalf("a token over the limit with a name in use: %v", err)
	}
}
