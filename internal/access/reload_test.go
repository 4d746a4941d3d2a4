package access

import (
	"context"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Two Books on one store stand for two nodes: what one bans, mutes or
// grants (and lifts) the other knows once it reloads.
func TestReloadModerationSeesAnotherBooksChanges(t *testing.T) {
	f := newFixture(t, Config{})
	other := f.reload(t)
	now := f.clock.Now()
	if err := f.book.Ban(Ban{Target: KeyTarget("SHA256:troll"), By: "op", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.book.Mute([]Target{KeyTarget("SHA256:loud")}, "op", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.book.Grant("SHA256:helper", "op"); err != nil {
		t.Fatal(err)
	}
	if _, banned := other.BanFor("SHA256:troll", addr("203.0.113.1")); banned {
		t.Fatal("the other book knew of the ban before reloading")
	}
	if err := other.ReloadModeration(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, banned := other.BanFor("SHA256:troll", addr("203.0.113.1")); !banned {
		t.Error("the ban is not known after reloading")
	}
	if !other.Muted("SHA256:loud", prefix("203.0.113.0/24")) {
		t.Error("the mute is not known after reloading")
	}
	if !other.IsOperator("SHA256:helper") {
		t.Error("the operator is not known after reloading")
	}

	if _, err := f.book.Unban(KeyTarget("SHA256:troll")); err != nil {
		t.Fatal(err)
	}
	if err := f.book.Revoke("SHA256:helper", "op"); err != nil {
		t.Fatal(err)
	}
	if err := other.ReloadModeration(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, banned := other.BanFor("SHA256:troll", addr("203.0.113.1")); banned {
		t.Error("a lifted ban is still known after reloading")
	}
	if other.IsOperator("SHA256:helper") {
		t.Error("a revoked operator is still known after reloading")
	}
}

// banDuringRead is a store that, once armed, has ban run as the mutes
// (read after the bans) are read: a ban made here while a reload reads
// the store.
type banDuringRead struct {
	store.Store
	ban func()
}

func (s *banDuringRead) Mutes(ctx context.Context, now time.Time) ([]store.Mute, error) {
	mutes, err := s.Store.Mutes(ctx, now)
	if ban := s.ban; ban != nil {
		s.ban = nil
		ban()
	}
	return mutes, err
}

// A ban made on this node while a reload reads the store stays in force:
// the reload does not put back what it read before the ban.
func TestReloadKeepsABanMadeWhileReading(t *testing.T) {
	f := newFixture(t, Config{})
	st := &banDuringRead{Store: f.st}
	b := loadBook(t, st, f.clock, f.logs, f.cfg)
	st.ban = func() {
		if err := b.Ban(Ban{Target: KeyTarget("SHA256:troll"), By: "op", Created: f.clock.Now()}); err != nil {
			t.Error(err)
		}
	}
	if err := b.ReloadModeration(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, banned := b.BanFor("SHA256:troll", addr("203.0.113.1")); !banned {
		t.Fatal("the ban made during the reload was undone")
	}
}
