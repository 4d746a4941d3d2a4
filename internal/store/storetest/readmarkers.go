package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
)

// A key's read markers read back as advanced, never move back (not even
// within one write), are kept per target and per key, and fingerprints
// are exact.
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
	advance := func(markers ...store.ReadMarker) {
		t.Helper()
		must(t, s.AdvanceReadMarkers(ctx, markers))
	}
	alice := func(target string, id int64) store.ReadMarker {
		return store.ReadMarker{Fingerprint: "SHA256:alice", Target: target, ID: id}
	}
	advance(alice("#lobby", 12), alice("@bob", 3))
	if got := read("SHA256:alice"); got != "map[#lobby:12 @bob:3]" {
		t.Fatalf("markers = %s, want what was stored", got)
	}
	advance(alice("#lobby", 7), alice("#dev", 40))
	if got := read("SHA256:alice"); got != "map[#dev:40 #lobby:12 @bob:3]" {
		t.Fatalf("after an older id = %s: a marker moved back, or the new target is missing", got)
	}
	// One write may hold several keys' markers, and one target twice.
	advance(alice("#lobby", 20), store.ReadMarker{Fingerprint: "SHA256:carol", Target: "#lobby", ID: 5}, alice("#lobby", 15))
	advance()
	if got := read("SHA256:alice"); got != "map[#dev:40 #lobby:20 @bob:3]" {
		t.Fatalf("after advancing = %s", got)
	}
	if got := read("SHA256:bob"); got != "map[]" {
		t.Fatalf("another key sees %s", got)
	}
	if got := read("SHA256:carol"); got != "map[#lobby:5]" {
		t.Fatalf("the other key written with alice's: %s", got)
	}
	if got := read("sha256:alice"); got != "map[]" {
		t.Fatalf("a fingerprint differing in case sees %s: fingerprints are exact", got)
	}
}
