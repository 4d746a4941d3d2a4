package room

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/store"
)

// parseDuration reads "90s", "10m", "2h" or "7d".
func parseDuration(s string) (time.Duration, bool) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// splitDurationReason reads "[duration] [reason]".
func splitDurationReason(args string) (time.Duration, string) {
	first, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	if d, ok := parseDuration(first); ok {
		return d, strings.TrimSpace(rest)
	}
	return 0, strings.TrimSpace(args)
}

func until(now time.Time, d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return now.Add(d)
}

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
	t, err := h.connected(nick)
	if err != nil {
		return err
	}
	if t.fingerprint == "" {
		return userErr("needs_key", t.Nick()+" has no key; operator status is bound to a key")
	}
	h.acc.mu.RLock()
	admin := h.acc.admins[t.fingerprint]
	h.acc.mu.RUnlock()
	if !on && admin {
		return userErr("is_admin", t.Nick()+" is an operator from the admins file; remove the key there")
	}
	if err := h.persist("operator", "could not change operator status", func(ctx context.Context) error {
		return h.store.SetOperator(ctx, t.fingerprint, by.Nick(), on, h.now())
	}, "key", t.fingerprint); err != nil {
		return err
	}
	h.acc.mu.Lock()
	if on {
		h.acc.ops[t.fingerprint] = true
	} else {
		delete(h.acc.ops, t.fingerprint)
	}
	h.acc.mu.Unlock()
	if on {
		h.announce(by, "op", t, fmt.Sprintf("%s is now an operator (by %s)", t.Nick(), by.Nick()))
	} else {
		h.announce(by, "deop", t, fmt.Sprintf("%s is no longer an operator (by %s)", t.Nick(), by.Nick()))
	}
	return nil
}

func (h *Hub) kick(by *Session, args string) error {
	nick, reason, _ := strings.Cut(args, " ")
	t, err := h.connected(nick)
	if err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	kicked := kickedBy(by.Nick(), reason)
	h.log.Info("moderation", "by", by.Nick(), "action", "kick", "target", t.Nick(), "reason", reason)
	h.notice(t, "You were "+kicked.Text)
	t.Close(kicked) // the part notice carries the reason to every room
	return nil
}

// banTargets turns "nick|fingerprint|ip[/cidr]" into bans. An address, or
// the address of a connected nick, is banned as its connlimit.Source: an
// IPv6 address as its whole /64, like the connection caps, since its owner
// can pick any other address in it. A prefix is banned as written.
func (h *Hub) banTargets(target string) ([]store.Ban, error) {
	if strings.HasPrefix(target, "SHA256:") {
		return []store.Ban{{Kind: "key", Value: target}}, nil
	}
	if p, err := netip.ParsePrefix(target); err == nil {
		return []store.Ban{{Kind: "ip", Value: p.Masked().String()}}, nil
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return []store.Ban{{Kind: "ip", Value: connlimit.Source(a).String()}}, nil
	}
	var bans []store.Ban
	if t := h.sessionByNick(target); t != nil {
		if t.fingerprint != "" {
			bans = append(bans, store.Ban{Kind: "key", Value: t.fingerprint})
		}
		if t.source.IsValid() {
			bans = append(bans, store.Ban{Kind: "ip", Value: t.source.String()})
		}
	} else if fp := h.registeredTo(target); fp != "" {
		bans = append(bans, store.Ban{Kind: "key", Value: fp})
	}
	if len(bans) == 0 {
		return nil, userErr("no_such_nick", target+" is not connected, registered, a key fingerprint or an address")
	}
	return bans, nil
}

// hostBanOf is the single-address ban older versions made of an address or
// a connected nick's address, which /unban lifts too.
func (h *Hub) hostBanOf(target string) (string, bool) {
	a, err := netip.ParseAddr(target)
	if err != nil {
		t := h.sessionByNick(target)
		if t == nil {
			return "", false
		}
		if a, err = netip.ParseAddr(t.remote); err != nil {
			return "", false
		}
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()).String(), true
}

func (h *Hub) ban(by *Session, args string) error {
	target, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	if target == "" {
		return userErr("usage", "usage: /ban nick|fingerprint|ip[/cidr] [duration] [reason]")
	}
	dur, reason := splitDurationReason(rest)
	bans, err := h.banTargets(target)
	if err != nil {
		return err
	}
	now := h.now()
	// A ban that shuts out the operator making it is a mistake, likelier
	// now that an IPv6 address is banned with its /64: say so instead.
	probe := access{bans: bans}
	if b := probe.banFor(by.fingerprint, by.remote, now); b != nil {
		hint := "ban the key, or one address as a prefix"
		if host, ok := h.hostBanOf(target); ok {
			hint += " (" + host + ")"
		}
		return userErr("ban_self", fmt.Sprintf("that ban (%s %s) would cover you too; %s", b.Kind, b.Value, hint))
	}
	for i := range bans {
		b := &bans[i]
		b.Reason, b.By, b.CreatedAt, b.Expires = reason, by.Nick(), now, until(now, dur)
		if err := h.persist("ban", "could not store the ban", func(ctx context.Context) error {
			return h.store.AddBan(ctx, b)
		}, "value", b.Value); err != nil {
			return err
		}
	}
	h.acc.mu.Lock()
	h.acc.bans = append(h.acc.bans, bans...)
	h.acc.mu.Unlock()
	banned := bannedBy(by.Nick(), reason)
	var hit []string
	for _, s := range h.sessionsWhere(func(*Session) bool { return true }) {
		h.acc.mu.RLock()
		b := h.acc.banFor(s.fingerprint, s.remote, now)
		h.acc.mu.RUnlock()
		if b != nil {
			hit = append(hit, s.Nick())
			h.notice(s, "You were "+banned.Text)
			s.Close(banned)
		}
	}
	values := make([]string, len(bans))
	wholeNet := ""
	for i, b := range bans {
		values[i] = b.Kind + " " + b.Value
		if p, err := netip.ParsePrefix(b.Value); b.Kind == "ip" && err == nil && p.Addr().Is6() && p.Bits() == 64 && !strings.Contains(target, "/") {
			wholeNet = fmt.Sprintf("; banned %s: an IPv6 address is banned with its whole /64, as its owner can use any address in it", b.Value)
		}
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "ban", "target", target, "bans", values, "until", describeUntil(until(now, dur)), "disconnected", hit)
	h.notice(by, fmt.Sprintf("Banned %s %s (%s); disconnected: %s%s", target, describeUntil(until(now, dur)), strings.Join(values, ", "), strings.Join(hit, ", "), wholeNet))
	return nil
}

func (h *Hub) unban(by *Session, target string) error {
	values := []string{target}
	if bans, err := h.banTargets(target); err == nil {
		values = values[:0]
		for _, b := range bans {
			values = append(values, b.Value)
		}
		if host, ok := h.hostBanOf(target); ok && !slices.Contains(values, host) {
			values = append(values, host)
		}
	}
	var n int64
	for _, v := range values {
		if err := h.persist("unban", "could not lift the ban", func(ctx context.Context) error {
			c, err := h.store.RemoveBans(ctx, v)
			n += c
			return err
		}, "value", v); err != nil {
			return err
		}
		h.acc.mu.Lock()
		kept := h.acc.bans[:0]
		for _, b := range h.acc.bans {
			if b.Value != v {
				kept = append(kept, b)
			}
		}
		h.acc.bans = kept
		h.acc.mu.Unlock()
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "unban", "target", target, "lifted", n)
	h.notice(by, fmt.Sprintf("Lifted %d ban(s) on %s", n, target))
	return nil
}

func (h *Hub) listBans(s *Session) {
	now := h.now()
	h.acc.mu.RLock()
	var b strings.Builder
	count := 0
	for _, ban := range h.acc.bans {
		if !ban.Expires.IsZero() && !now.Before(ban.Expires) {
			continue
		}
		count++
		fmt.Fprintf(&b, "\n  %s %s by %s %s", ban.Kind, ban.Value, ban.By, describeUntil(ban.Expires))
		if ban.Reason != "" {
			fmt.Fprintf(&b, ": %s", ban.Reason)
		}
	}
	h.acc.mu.RUnlock()
	h.notice(s, fmt.Sprintf("%d ban(s) in force:%s", count, b.String()))
}

// muteKind is what a stored mute is bound to.
type muteKind string

const (
	// muteKey silences a key, wherever and under whatever nick it
	// connects.
	muteKey muteKind = "key"
	// muteAddr silences the keyless sessions from an address (an IPv6
	// address's /64, see connlimit.Source), so that a muted guest cannot
	// come back under another nick. Sessions with a key are judged by
	// their key.
	muteAddr muteKind = "addr"
)

// muteTarget is one thing a mute silences. It is stored as "kind:value".
// Mutes are never bound to a nick: a nick passes to whoever takes it next.
// A mute also silences the muted session itself for its duration, across
// /nick (Session.mutedUntil), in memory only.
type muteTarget struct {
	kind  muteKind
	value string // a key fingerprint, or a prefix (see connlimit.Source)
}

func (t muteTarget) String() string { return string(t.kind) + ":" + t.value }

// parseMuteTarget reads a stored target; ok is false for targets of older
// versions ("nick:...") that must no longer apply.
func parseMuteTarget(stored string) (t muteTarget, ok bool) {
	kind, value, found := strings.Cut(stored, ":")
	switch k := muteKind(kind); k {
	case muteKey, muteAddr:
		return muteTarget{kind: k, value: value}, found && value != ""
	}
	return muteTarget{}, false
}

// addrMuteTarget is the address mute covering a session, if it has an
// address.
func addrMuteTarget(source netip.Prefix) (muteTarget, bool) {
	if !source.IsValid() {
		return muteTarget{}, false
	}
	return muteTarget{kind: muteAddr, value: source.String()}, true
}

// muteTargetsOf lists what muting t binds: its key, and its address (which
// silences keyless sessions from there: a muted key cannot come back as a
// guest either).
func muteTargetsOf(t *Session) []muteTarget {
	var targets []muteTarget
	if t.fingerprint != "" {
		targets = append(targets, muteTarget{kind: muteKey, value: t.fingerprint})
	}
	if at, ok := addrMuteTarget(t.source); ok {
		targets = append(targets, at)
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
	var targets []muteTarget
	if s.fingerprint != "" {
		targets = append(targets, muteTarget{kind: muteKey, value: s.fingerprint})
	} else if at, ok := addrMuteTarget(s.source); ok {
		targets = append(targets, at)
	}
	h.acc.mu.RLock()
	defer h.acc.mu.RUnlock()
	for _, target := range targets {
		if m, ok := h.acc.mutes[target]; ok && (m.Expires.IsZero() || now.Before(m.Expires)) {
			return true
		}
	}
	return false
}

// setMutes stores (on) or lifts the mutes on targets.
func (h *Hub) setMutes(by *Session, targets []muteTarget, expires time.Time, on bool) error {
	for _, target := range targets {
		m := store.Mute{Target: target.String(), By: by.Nick(), Expires: expires}
		if err := h.persist("mute", "could not change the mute", func(ctx context.Context) error {
			if on {
				return h.store.SetMute(ctx, m)
			}
			return h.store.RemoveMute(ctx, m.Target)
		}, "target", m.Target); err != nil {
			return err
		}
		h.acc.mu.Lock()
		if on {
			h.acc.mutes[target] = m
		} else {
			delete(h.acc.mutes, target)
		}
		h.acc.mu.Unlock()
	}
	return nil
}

func describeMuteTargets(targets []muteTarget) string {
	parts := make([]string, 0, len(targets))
	for _, t := range targets {
		switch t.kind {
		case muteKey:
			parts = append(parts, "key "+t.value)
		case muteAddr:
			parts = append(parts, "sessions without a key from "+t.value)
		}
	}
	return strings.Join(parts, ", ")
}

// mute silences (on) or lets speak again a connected nick, or the keyless
// sessions from an address.
func (h *Hub) mute(by *Session, args string, on bool) error {
	target, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	if target == "" {
		if on {
			return userErr("usage", "usage: /mute nick|ip [duration]")
		}
		return userErr("usage", "usage: /unmute nick|ip")
	}
	dur, _ := splitDurationReason(rest)
	expires := until(h.now(), dur)
	// An address first, as for /ban (a nick may look like one).
	if a, err := netip.ParseAddr(target); err == nil {
		at, _ := addrMuteTarget(connlimit.Source(a))
		if err := h.setMutes(by, []muteTarget{at}, expires, on); err != nil {
			return err
		}
		if on {
			h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "mute", "target", at.String(), "until", describeUntil(expires))
			h.notice(by, fmt.Sprintf("Muted %s %s", describeMuteTargets([]muteTarget{at}), describeUntil(expires)))
		} else {
			h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "unmute", "target", at.String())
			h.notice(by, "Unmuted "+describeMuteTargets([]muteTarget{at}))
		}
		return nil
	}
	t := h.sessionByNick(target)
	if t == nil {
		return userErr("no_such_nick", target+" is not connected, nor an address")
	}
	nick := t.Nick() // one name in every notice, should it change meanwhile
	targets := muteTargetsOf(t)
	if err := h.setMutes(by, targets, expires, on); err != nil {
		return err
	}
	// The session itself, whatever nick it takes.
	t.mu.Lock()
	t.muted, t.mutedUntil = on, expires
	t.mu.Unlock()
	covered := "this session under any nick"
	if d := describeMuteTargets(targets); d != "" {
		covered += ", " + d
	}
	if on {
		h.notice(t, fmt.Sprintf("You have been muted by %s %s: others do not see your messages.", by.Nick(), describeUntil(expires)))
		h.announce(by, "mute", t, fmt.Sprintf("%s was muted by %s %s", nick, by.Nick(), describeUntil(expires)))
		h.notice(by, fmt.Sprintf("Muted %s %s: %s", nick, describeUntil(expires), covered))
	} else {
		h.notice(t, "You are no longer muted.")
		h.announce(by, "unmute", t, fmt.Sprintf("%s was unmuted by %s", nick, by.Nick()))
		h.notice(by, fmt.Sprintf("Unmuted %s: %s", nick, covered))
	}
	return nil
}

func (h *Hub) setMOTD(by *Session, text string) error {
	if err := h.persist("motd", "could not store the message of the day", func(ctx context.Context) error {
		return h.store.SetSetting(ctx, "motd", text)
	}); err != nil {
		return err
	}
	h.acc.mu.Lock()
	h.acc.motd = text
	h.acc.mu.Unlock()
	h.log.Info("moderation", "by", by.Nick(), "action", "motd", "text", text)
	h.notice(by, "Message of the day set.")
	return nil
}

func (h *Hub) setMode(by *Session, args string) error {
	name, mode, _ := strings.Cut(strings.TrimSpace(args), " ")
	r, err := h.roomByName(roomName(name), false)
	if err != nil {
		return err
	}
	var locked bool
	switch strings.TrimSpace(mode) {
	case "+t":
		locked = true
	case "-t":
	default:
		return userErr("usage", "usage: /mode #room +t|-t")
	}
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
	return nil
}

func (h *Hub) reloadAllowlist(by *Session) error {
	if h.acc.loadAllow == nil {
		return userErr("no_allowlist", "the server runs without --allowlist")
	}
	allow, err := h.acc.loadAllow()
	if err != nil {
		h.log.Error("allowlist reload", "err", err)
		return userErr("allowlist", "could not reload the allowlist: "+err.Error())
	}
	h.acc.mu.Lock()
	h.acc.allow = allow
	h.acc.mu.Unlock()
	h.log.Info("moderation", "by", by.Nick(), "action", "allowlist reload", "keys", len(allow))
	h.notice(by, fmt.Sprintf("Allowlist reloaded: %d key(s).", len(allow)))
	return nil
}
