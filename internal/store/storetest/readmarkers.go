package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
)

// A key's read markers read back as advanced, never move back, are kept
// per target and per key, and fingerprints are exact.
func testReadMarkers(t *testing.T, s store.Store) {
	ctx := context.Background()
	read := func(fingerprint string) string {
		t.Helper()
		markers, err := s.ReadMarkers(ctx, fingerprint)
		must(t, err)
		return fmt.Sprint(markers)
	}
	if got := read("SHA256:alice"); got != "map[]" {
		t.Fatalf("an unknown key's markers = %s, want none", got)
	}
	must(t, s.AdvanceReadMarkers(ctx, "SHA256:alice", map[string]int64{"#lobby": 12, "@bob": 3}))
	if got := read("SHA256:alice"); got != "map[#lobby:12 @bob:3]" {
		t.Fatalf("markers = %s, want what was stored", got)
	}
	must(t, s.AdvanceReadMarkers(ctx, "SHA256:alice", map[string]int64{"#lobby": 7, "#dev": 40}))
	if got := read("SHA256:alice"); got != "map[#dev:40 #lobby:12 @bob:3]" {
		t.Fatalf("after an older id = %s: a marker moved back, or the new target is missing", got)
	}
	must(t, s.AdvanceReadMarkers(ctx, "SHA256:alice", map[string]int64{"#lobby": 20}))
	must(t, s.AdvanceReadMarkers(ctx, "SHA256:alice", nil))
	if got := read("SHA256:alice"); got != "map[#dev:40 #lobby:20 @bob:3]" {
		t.Fatalf("after advancing = %s", got)
	}
	if got := read("SHA256:bob"); got != "map[]" {
		t.Fatalf("another key sees %s", got)
	}
	if got := read("sha256:alice"); got != "map[]" {
		t.Fatalf("a fingerprint differing in case sees %s: fingerprints are exact", got)
	}
}
