package storetest

import (
	"context"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
)

// A key's settings document reads back as last stored, "" for a key that
// stored none, and is never another key's.
func testKeySettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	read := func(fingerprint string) string {
		t.Helper()
		doc, err := s.KeySettings(ctx, fingerprint)
		must(t, err)
		return doc
	}
	if doc := read("SHA256:alice"); doc != "" {
		t.Fatalf("unknown key's settings = %q, want \"\"", doc)
	}
	must(t, s.SetKeySettings(ctx, "SHA256:alice", `{"tz":"Asia/Tokyo"}`, t0))
	if doc := read("SHA256:alice"); doc != `{"tz":"Asia/Tokyo"}` {
		t.Fatalf("settings = %q, want what was stored", doc)
	}
	must(t, s.SetKeySettings(ctx, "SHA256:alice", `{"theme":"mono"}`, at(1)))
	if doc := read("SHA256:alice"); doc != `{"theme":"mono"}` {
		t.Fatalf("settings after overwrite = %q, want the new document", doc)
	}
	if doc := read("SHA256:bob"); doc != "" {
		t.Fatalf("another key sees %q, want nothing", doc)
	}
	must(t, s.SetKeySettings(ctx, "SHA256:bob", `{"quiet":true}`, at(2)))
	if doc := read("SHA256:alice"); doc != `{"theme":"mono"}` {
		t.Fatalf("alice's settings = %q after bob stored his", doc)
	}
	if doc := read("sha256:alice"); doc != "" {
		t.Fatalf("a fingerprint differing in case sees %q: fingerprints are exact", doc)
	}
}
