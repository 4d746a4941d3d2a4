package room

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/connlimit"
)

func describeUntil(t time.Time) string {
	if t.IsZero() {
		return "until lifted"
	}
	return "until " + t.UTC().Format("2006-01-02 15:04 UTC")
}

// announce tells every room s is in, and logs the action.
func (h *Hub) announce(by *Session, action string, target *Session, text string) {
	h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", action, "target", text)
	if target == nil {
		return
	}
	for _, r := range target.joinedRooms() {
		r.publish(h, &Event{Kind: KindNotice, Text: text})
	}
}

func (h *Hub) connected(nick string) (*Session, error) {
	t := h.sessionByNick(nick)
	if t == nil {
		return nil, userErr("no_such_nick", nick+" is not connected")
	}
	return t, nil
}

func (h *Hub) setOperator(by *Session, nick string, on bool) error {
	t := h.sessionByNick(nick)
	var key string
	if t != nil {
		key, nick = t.fingerprint, t.Nick()
	} else {
		// Connected to another node, maybe: its node says its key.
		got, err, handled := h.keyElsewhere(nick)
		if !handled {
			return userErr("no_such_nick", nick+" is not connected")
		}
		if err != nil {
			return err
		}
		key = got
	}
	if key == "" {
		return userErr("needs_key", nick+" has no key; operator status is bound to a key")
	}
	var err error
	if on {
		err = h.access.Grant(key, by.Nick())
	} else {
		err = h.access.Revoke(key, by.Nick())
	}
	if errors.Is(err, access.ErrAdmin) {
		return userErr("is_admin", nick+" is an operator from the admins file; remove the key there")
	}
	if err != nil {
		return storeErr(err)
	}
	text := fmt.Sprintf("%s is now an operator (by %s)", nick, by.Nick())
	action := "op"
	if !on {
		text, action = fmt.Sprintf("%s is no longer an operator (by %s)", nick, by.Nick()), "deop"
	}
	// The other nodes reload the operators; the one nick is connected to
	// tells its rooms there.
	h.moderationChanged(ModerationChange{By: by.Nick(), AnnounceTo: nick, Announce: text})
	h.announce(by, action, t, text)
	if t == nil {
		h.notice(by, text)
	}
	return nil
}

// keyElsewhere asks the node nick is connected to for its key ("" if it
// has none); handled is false if nobody holds nick on another node.
func (h *Hub) keyElsewhere(nick string) (key string, err error, handled bool) {
	if h.remote == nil || ValidateNick(nick) != nil {
		return "", nil, false
	}
	got, err := h.remote.BanTargets(access.Fold(nick), nick)
	if err, handled := h.remoteOutcome(err, "key of a nick not answered", nick, ""); err != nil || !handled {
		return "", err, handled
	}
	return got.Fingerprint, nil, true
}

func (h *Hub) kick(by *Session, nick, reason string) error {
	reason = strings.TrimSpace(reason)
	if h.sessionByNick(nick) == nil {
		if err, handled := h.kickRemote(by, nick, reason); handled {
			return err
		}
	}
	t, err := h.connected(nick)
	if err != nil {
		return err
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "kick", "target", t.Nick(), "reason", reason)
	h.closeKicked(t, by.Nick(), reason)
	if t.fingerprint != "" && h.remote != nil {
		// The person's devices on other nodes go too.
		if _, err := h.remote.Kick(access.Fold(nick), RemoteKick{Nick: nick, By: by.Nick(), Reason: reason}); err != nil && !errors.Is(err, ErrNotElsewhere) {
			h.log.Warn("cluster: kick of other devices not answered", "nick", nick, "err", err)
		}
	}
	return nil
}

// closeKicked closes every session of t's person, kicked by the nick by.
func (h *Hub) closeKicked(t *Session, by, reason string) {
	kicked := kickedBy(by, reason)
	// Every device of the person: the part notice, with its last session,
	// carries the reason to every room.
	for _, o := range h.sessionsOf(t) {
		h.notice(o, "You were "+kicked.Text)
		o.Close(kicked)
	}
}

// banTargets turns "nick|fingerprint|ip[/cidr]" into what to ban. An
// address, or the address of a connected nick, is banned as its
// connlimit.Source: an IPv6 address as its whole /64, like the connection
// caps, since its owner can pick any other address in it. A prefix is
// banned as written.
func (h *Hub) banTargets(target string) ([]access.Target, error) {
	if strings.HasPrefix(target, "SHA256:") {
		return []access.Target{access.KeyTarget(target)}, nil
	}
	if p, err := netip.ParsePrefix(target); err == nil {
		return []access.Target{access.PrefixTarget(p)}, nil
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return []access.Target{access.PrefixTarget(connlimit.Source(a))}, nil
	}
	var targets []access.Target
	if t := h.sessionByNick(target); t != nil {
		if t.fingerprint != "" {
			targets = append(targets, access.KeyTarget(t.fingerprint))
		}
		if t.source.IsValid() {
			targets = append(targets, access.PrefixTarget(t.source))
		}
	} else if elsewhere, ok := h.banTargetsRemote(target); ok {
		targets = elsewhere
	} else if fp := h.registeredTo(target); fp != "" {
		targets = append(targets, access.KeyTarget(fp))
	}
	if len(targets) == 0 {
		return nil, userErr("no_such_nick", target+" is not connected, registered, a key fingerprint or an address")
	}
	return targets, nil
}

// hostBanOf is the single-address ban older versions made of an address or
// a connected nick's address, which /unban lifts too.
func (h *Hub) hostBanOf(target string) (access.Target, bool) {
	a, err := netip.ParseAddr(target)
	if err != nil {
		t := h.sessionByNick(target)
		if t == nil {
			return access.Target{}, false
		}
		if a, err = netip.ParseAddr(t.remote); err != nil {
			return access.Target{}, false
		}
	}
	a = a.Unmap().WithZone("")
	return access.PrefixTarget(netip.PrefixFrom(a, a.BitLen())), true
}

// ban bans target for what rest says: an optional duration, then a reason.
func (h *Hub) ban(by *Session, target, rest string) error {
	dur, reason := access.SplitDurationReason(rest)
	targets, err := h.banTargets(target)
	if err != nil {
		return err
	}
	now := h.now()
	bans := make([]access.Ban, len(targets))
	for i, t := range targets {
		bans[i] = access.Ban{Target: t, Reason: reason, By: by.Nick(), Created: now, Until: access.Until(now, dur)}
	}
	// A ban that shuts out the operator making it is a mistake, likelier
	// now that an IPv6 address is banned with its /64: say so instead.
	byAddr, _ := netip.ParseAddr(by.remote)
	if b, self := access.BanIn(bans, by.fingerprint, byAddr, now); self {
		hint := "ban the key, or one address as a prefix"
		if host, ok := h.hostBanOf(target); ok {
			hint += " (" + host.Prefix.String() + ")"
		}
		return userErr("ban_self", fmt.Sprintf("that ban (%s) would cover you too; %s", b.Target, hint))
	}
	if err := h.access.Ban(bans...); err != nil {
		return storeErr(err)
	}
	hit := h.disconnectBanned()
	h.moderationChanged(ModerationChange{Ban: true, By: by.Nick(), Reason: reason})
	values := make([]string, len(bans))
	wholeNet := ""
	for i, b := range bans {
		values[i] = b.Target.String()
		if p := b.Prefix; !b.IsKey() && p.Addr().Is6() && p.Bits() == 64 && !strings.Contains(target, "/") {
			wholeNet = fmt.Sprintf("; banned %s: an IPv6 address is banned with its whole /64, as its owner can use any address in it", p)
		}
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "ban", "target", target, "bans", values, "until", describeUntil(access.Until(now, dur)), "disconnected", hit)
	h.notice(by, fmt.Sprintf("Banned %s %s (%s); disconnected: %s%s", target, describeUntil(access.Until(now, dur)), strings.Join(values, ", "), strings.Join(hit, ", "), wholeNet))
	return nil
}

func (h *Hub) unban(by *Session, target string) error {
	targets, err := h.banTargets(target)
	if err != nil {
		// Not a nick, key or address: lift whatever was banned under
		// exactly this text.
		targets = []access.Target{access.KeyTarget(target)}
	} else if host, ok := h.hostBanOf(target); ok && !slices.Contains(targets, host) {
		targets = append(targets, host)
	}
	n, err := h.access.Unban(targets...)
	if err != nil {
		return storeErr(err)
	}
	h.moderationChanged(ModerationChange{})
	h.log.Info("moderation", "by", by.Nick(), "action", "unban", "target", target, "lifted", n)
	h.notice(by, fmt.Sprintf("Lifted %d ban(s) on %s", n, target))
	return nil
}

func (h *Hub) listBans(s *Session) {
	var b strings.Builder
	bans := h.access.Bans()
	for _, ban := range bans {
		fmt.Fprintf(&b, "\n  %s by %s %s", ban.Target, ban.By, describeUntil(ban.Until))
		if ban.Reason != "" {
			fmt.Fprintf(&b, ": %s", ban.Reason)
		}
	}
	h.notice(s, fmt.Sprintf("%d ban(s) in force:%s", len(bans), b.String()))
}

// muteTargetsOf lists what muting t binds: its key, and its address (which
// silences keyless sessions from there: a muted key cannot come back as a
// guest either). A mute also silences the muted session itself for its
// duration, across /nick (Session.mutedUntil), in memory only.
func muteTargetsOf(t *Session) []access.Target {
	var targets []access.Target
	if t.fingerprint != "" {
		targets = append(targets, access.KeyTarget(t.fingerprint))
	}
	if t.source.IsValid() {
		targets = append(targets, access.Target{Prefix: t.source})
	}
	return targets
}

// muted tells whether s may not speak now: the session itself was muted,
// or its key, or (for a session without a key) its address.
func (h *Hub) muted(s *Session) bool {
	now := h.now()
	s.mu.Lock()
	on, expires := s.muted, s.mutedUntil
	s.mu.Unlock()
	if on && (expires.IsZero() || now.Before(expires)) {
		return true
	}
	return h.access.Muted(s.fingerprint, s.source)
}

// setMutes stores (on) or lifts the mutes on targets.
func (h *Hub) setMutes(by *Session, targets []access.Target, expires time.Time, on bool) error {
	var err error
	if on {
		err = h.access.Mute(targets, by.Nick(), expires)
	} else {
		err = h.access.Unmute(targets)
	}
	if err != nil {
		return storeErr(err)
	}
	h.moderationChanged(ModerationChange{})
	return nil
}

func describeMuteTargets(targets []access.Target) string {
	parts := make([]string, 0, len(targets))
	for _, t := range targets {
		if t.IsKey() {
			parts = append(parts, "key "+t.Key)
		} else {
			parts = append(parts, "sessions without a key from "+t.Prefix.String())
		}
	}
	return strings.Join(parts, ", ")
}

// mute silences (on) or lets speak again a connected nick, or the keyless
// sessions from an address.
func (h *Hub) mute(by *Session, target, duration string, on bool) error {
	dur, _ := access.SplitDurationReason(duration)
	expires := access.Until(h.now(), dur)
	// An address first, as for /ban (a nick may look like one).
	if a, err := netip.ParseAddr(target); err == nil {
		at := access.Target{Prefix: connlimit.Source(a)}
		if err := h.setMutes(by, []access.Target{at}, expires, on); err != nil {
			return err
		}
		if on {
			h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "mute", "target", "addr:"+at.Prefix.String(), "until", describeUntil(expires))
			h.notice(by, fmt.Sprintf("Muted %s %s", describeMuteTargets([]access.Target{at}), describeUntil(expires)))
		} else {
			h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "unmute", "target", at.String())
			h.notice(by, "Unmuted "+describeMuteTargets([]access.Target{at}))
		}
		return nil
	}
	t := h.sessionByNick(target)
	if t == nil {
		if targets, ok := h.banTargetsRemote(target); ok {
			return h.muteElsewhere(by, target, targets, expires, on)
		}
		return userErr("no_such_nick", target+" is not connected, nor an address")
	}
	nick := t.Nick() // one name in every notice, should it change meanwhile
	targets := muteTargetsOf(t)
	if err := h.setMutes(by, targets, expires, on); err != nil {
		return err
	}
	// The person itself (each of its sessions), whatever nick it takes.
	for _, o := range h.sessionsOf(t) {
		o.mu.Lock()
		o.muted, o.mutedUntil = on, expires
		o.mu.Unlock()
	}
	covered := "this session under any nick"
	if d := describeMuteTargets(targets); d != "" {
		covered += ", " + d
	}
	if on {
		for _, o := range h.sessionsOf(t) {
			h.notice(o, fmt.Sprintf("You have been muted by %s %s: others do not see your messages.", by.Nick(), describeUntil(expires)))
		}
		h.announce(by, "mute", t, fmt.Sprintf("%s was muted by %s %s", nick, by.Nick(), describeUntil(expires)))
		h.notice(by, fmt.Sprintf("Muted %s %s: %s", nick, describeUntil(expires), covered))
	} else {
		for _, o := range h.sessionsOf(t) {
			h.notice(o, "You are no longer muted.")
		}
		h.announce(by, "unmute", t, fmt.Sprintf("%s was unmuted by %s", nick, by.Nick()))
		h.notice(by, fmt.Sprintf("Unmuted %s: %s", nick, covered))
	}
	return nil
}

func (h *Hub) setMOTD(by *Session, text string) error {
	if err := h.access.SetMOTD(text); err != nil {
		return storeErr(err)
	}
	h.moderationChanged(ModerationChange{})
	h.log.Info("moderation", "by", by.Nick(), "action", "motd", "text", text)
	h.notice(by, "Message of the day set.")
	return nil
}

// setMode sets (+t) or clears (-t) a room's topic lock; the command table
// admits no other mode.
func (h *Hub) setMode(by *Session, name, mode string) error {
	r, err := h.roomByName(roomName(name), false)
	if err != nil {
		return err
	}
	locked := mode == "+t"
	// pubMu orders this against /rmroom; +t is set before it is stored so
	// that reclaiming, which spares +t rooms, cannot take the room meanwhile.
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.mu.Lock()
	if r.removed.Load() {
		r.mu.Unlock()
		return userErr("no_such_room", "#"+r.name+" has been removed")
	}
	was := r.topicLocked
	r.topicLocked = r.topicLocked || locked
	r.mu.Unlock()
	if err := h.persist("mode", "could not store the mode", func(ctx context.Context) error {
		return h.store.SetTopicLocked(ctx, r.name, locked)
	}, "room", r.name); err != nil {
		r.mu.Lock()
		r.topicLocked = was
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	r.topicLocked = locked
	r.publishLocked(h, &Event{Kind: KindNotice, Text: fmt.Sprintf("%s set mode %s on #%s", by.Nick(), strings.TrimSpace(mode), r.name)})
	r.mu.Unlock()
	h.log.Info("moderation", "by", by.Nick(), "action", "mode", "room", r.name, "mode", mode)
	h.moderationChanged(ModerationChange{By: by.Nick(), Room: r.name, Mode: strings.TrimSpace(mode)})
	return nil
}

func (h *Hub) reloadAllowlist(by *Session) error {
	n, err := h.access.ReloadAllowlist()
	if errors.Is(err, access.ErrNoAllowlist) {
		return userErr("no_allowlist", "the server runs without --allowlist")
	}
	if err != nil {
		h.log.Error("allowlist reload", "err", err)
		return userErr("allowlist", "could not reload the allowlist: "+err.Error())
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "allowlist reload", "keys", n)
	h.moderationChanged(ModerationChange{Allowlist: true})
	h.notice(by, fmt.Sprintf("Allowlist reloaded: %d key(s).", n))
	return nil
}
