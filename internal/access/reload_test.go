package access

import (
	"context"
	"testing"
	"time"
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
