package access

import (
	"context"
	"time"
)

// ReloadModeration reads the operators, bans, mutes, registrations and
// message of the day from the store again: in a cluster, another node may
// have changed them. Mutes bound to a nick (older versions) are left to
// Load to drop.
func (b *Book) ReloadModeration(ctx context.Context) error {
	motd, err := b.st.Setting(ctx, motdSetting)
	if err != nil {
		return err
	}
	if err := b.reloadRegistrations(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	b.motd = motd
	b.mu.Unlock()
	// A change made here while the store was read is in the store but
	// not in what was read: read again rather than undo it (the next
	// reload catches up if changes keep coming).
	for range 3 {
		b.mu.Lock()
		changes := b.modChanges
		b.mu.Unlock()
		mod, err := b.readModeration(ctx, b.now())
		if err != nil {
			return err
		}
		b.mu.Lock()
		if b.modChanges == changes {
			b.ops, b.bans, b.mutes = mod.ops, mod.bans, mod.mutes
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
	}
	return nil
}

// reloadRegistrations reads the registrations from the store again.
func (b *Book) reloadRegistrations(ctx context.Context) error {
	// regMu: a registration made here meanwhile is not lost.
	b.regMu.Lock()
	defer b.regMu.Unlock()
	regs, err := b.st.Registrations(ctx)
	if err != nil {
		return err
	}
	byFold := b.registrationsByFold(regs, false)
	b.mu.Lock()
	b.regs = byFold
	b.mu.Unlock()
	return nil
}

// moderation is the operators, bans and mutes as stored.
type moderation struct {
	ops   map[string]bool
	bans  []Ban
	mutes map[string]Mute
	// nickMutes are stored mutes bound to a nick (older versions), not
	// in mutes.
	nickMutes []string
}

// readModeration reads the operators, and the bans and mutes in force at
// now, from the store.
func (b *Book) readModeration(ctx context.Context, now time.Time) (moderation, error) {
	ops, err := b.st.Operators(ctx)
	if err != nil {
		return moderation{}, err
	}
	storedBans, err := b.st.Bans(ctx, now)
	if err != nil {
		return moderation{}, err
	}
	storedMutes, err := b.st.Mutes(ctx, now)
	if err != nil {
		return moderation{}, err
	}
	mod := moderation{ops: make(map[string]bool, len(ops)), bans: make([]Ban, 0, len(storedBans)), mutes: map[string]Mute{}}
	for _, fp := range ops {
		mod.ops[fp] = true
	}
	for _, sb := range storedBans {
		ban, ok := banFromStore(sb)
		if !ok {
			b.log.Warn("stored ban not understood, ignored", "kind", sb.Kind, "value", sb.Value)
			continue
		}
		mod.bans = append(mod.bans, ban)
	}
	for _, m := range storedMutes {
		if t, ok := parseMuteTarget(m.Target); ok {
			mod.mutes[t.muteString()] = Mute{Target: t, By: m.By, Until: m.Expires}
		} else {
			mod.nickMutes = append(mod.nickMutes, m.Target)
		}
	}
	return mod, nil
}
