package access

import (
	"context"
)

// ReloadModeration reads the operators, bans and mutes from the store
// again: in a cluster, another node may have changed them. Mutes bound to
// a nick (older versions) are left to Load to drop.
func (b *Book) ReloadModeration(ctx context.Context) error {
	now := b.now()
	ops, err := b.st.Operators(ctx)
	if err != nil {
		return err
	}
	storedBans, err := b.st.Bans(ctx, now)
	if err != nil {
		return err
	}
	storedMutes, err := b.st.Mutes(ctx, now)
	if err != nil {
		return err
	}
	bans := make([]Ban, 0, len(storedBans))
	for _, sb := range storedBans {
		if ban, ok := banFromStore(sb); ok {
			bans = append(bans, ban)
		}
	}
	mutes := map[string]Mute{}
	for _, m := range storedMutes {
		if t, ok := parseMuteTarget(m.Target); ok {
			mutes[t.muteString()] = Mute{Target: t, By: m.By, Until: m.Expires}
		}
	}
	granted := make(map[string]bool, len(ops))
	for _, fp := range ops {
		granted[fp] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops, b.bans, b.mutes = granted, bans, mutes
	return nil
}
