package room

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// Remote reaches people connected to the other nodes of a cluster
// (optional, WithRemote): a private message or /whois for a nick nobody
// holds here goes to the node that holds it, whose hub answers through
// DeliverRemotePrivate and WhoisHere.
type Remote interface {
	// Private delivers pm to whoever holds the folded nick on another
	// node. It fails with ErrNotElsewhere if nobody does (or their node
	// does not answer), with a *UserError the other node gave, or with
	// another error if the cluster cannot be asked.
	Private(fold string, pm RemotePrivate) (RemoteDelivered, error)
	// Whois describes the folded nick held on another node; errors as
	// Private's.
	Whois(fold string, q RemoteWhois) (string, error)
	// Kick disconnects the folded nick held on another node, returning
	// the nick as they used it; errors as Private's.
	Kick(fold string, k RemoteKick) (string, error)
	// BanTargets says what a ban of the folded nick held on another node
	// covers: its key and its address; errors as Private's.
	BanTargets(fold string, nick string) (RemoteTargets, error)
}

// RemoteTargets are what a ban of a nick on another node covers: its key
// (if any) and its address as a prefix (connlimit.Source).
type RemoteTargets struct {
	Fingerprint string `json:"key,omitempty"`
	Source      string `json:"source,omitempty"`
}

// RemoteKick is a /kick made on another node.
type RemoteKick struct {
	Nick   string `json:"nick"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// RemotePrivate is a private message for a person on another node.
type RemotePrivate struct {
	From    string    `json:"from"`
	FromKey string    `json:"from_key,omitempty"`
	To      string    `json:"to"`
	Text    string    `json:"text"`
	Time    time.Time `json:"time"`
	// ID, if set: a copy of a message delivered (and stored) on another
	// node, for the recipient's devices here.
	ID uint64 `json:"id,omitempty"`
	// SenderCopy: the copy (ID set) is for the sender's devices here,
	// the person holding From with FromKey, as a sender's devices on one
	// node see what it sent.
	SenderCopy bool `json:"sender_copy,omitempty"`
	// CID is the sender's cid, with Origin the identity it belongs to (see
	// cidOwner): a message sent again after its answer was lost (the
	// request timed out, the client resent) is delivered once.
	CID    string `json:"cid,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// RemoteDelivered is the other node's answer to a private message it
// delivered: its id, the recipient's nick as they use it, and their away
// reason if any.
type RemoteDelivered struct {
	ID   uint64 `json:"id"`
	To   string `json:"to"`
	Away string `json:"away,omitempty"`
}

// RemoteWhois is a /whois asked on another node: the asker's time zone
// (an IANA name) and whether they may see the address.
type RemoteWhois struct {
	Nick        string `json:"nick"`
	Location    string `json:"location,omitempty"`
	ShowAddress bool   `json:"show_address,omitempty"`
}

// ErrNotElsewhere: no other node has the nick connected.
var ErrNotElsewhere = errors.New("not connected on another node")

// WithRemote lets the hub reach people on the cluster's other nodes.
func WithRemote(r Remote) Option { return func(h *Hub) { h.remote = r } }

// privateRemote sends a private message from s to nick on another node;
// handled is false if nobody holds nick elsewhere (the caller goes on as
// for a nick nobody holds).
func (h *Hub) privateRemote(s *Session, nick, text, cid string) (echo *Event, err error, handled bool) {
	if h.remote == nil || ValidateNick(nick) != nil {
		return nil, nil, false
	}
	pm := RemotePrivate{From: s.Nick(), FromKey: s.fingerprint, To: nick, Text: text, Time: h.now().Truncate(time.Millisecond)}
	if cid != "" {
		pm.CID, pm.Origin = cid, cidOwner(s)
	}
	got, err := h.remote.Private(access.Fold(nick), pm)
	if err, handled := h.remoteOutcome(err, "private message not delivered", nick, "message not sent: "); err != nil || !handled {
		return nil, err, handled
	}
	ev := &Event{Kind: KindPrivate, ID: got.ID, From: pm.From, To: got.To, Text: text, Time: pm.Time, fromKey: s.fingerprint}
	h.noteLastPM(ev.ID)
	mine := ev
	if cid != "" {
		echo = &Event{Kind: KindPrivate, ID: ev.ID, From: ev.From, To: ev.To, Text: ev.Text, Time: ev.Time, CID: cid, fromKey: ev.fromKey}
		mine = echo
	}
	// The sender's sessions here see what they sent, as for a local one,
	// and so do its devices on the other nodes.
	for _, o := range h.sessionsOf(s) {
		if o == s {
			o.deliver(mine)
		} else {
			o.deliver(ev)
		}
	}
	h.copyPrivateToSender(s, ev)
	if got.Away != "" {
		h.notice(s, fmt.Sprintf("%s is away: %s", ev.To, got.Away))
	}
	return echo, nil, true
}

// DeliverRemotePrivate delivers a private message sent on another node
// to every session here of the person holding pm.To. ErrNotElsewhere if
// nobody here does.
func (h *Hub) DeliverRemotePrivate(pm RemotePrivate) (RemoteDelivered, error) {
	if pm.SenderCopy {
		return h.deliverSenderCopy(pm)
	}
	if pm.CID == "" || pm.Origin == "" || pm.ID != 0 || validCID(pm.CID) != nil {
		return h.deliverRemotePrivate(pm)
	}
	// Once per cid: the sending node's own table cannot know whether a
	// request whose answer was lost was delivered here.
	owner := "from another node: " + pm.Origin
	for {
		e, first := h.cids.claim(owner, sayTag{cid: pm.CID}, h.now())
		if first {
			got, err := h.deliverRemotePrivate(pm)
			var echo *Event
			if err == nil {
				echo = &Event{Kind: KindPrivate, ID: got.ID, To: got.To}
			}
			h.cids.settle(e, echo)
			return got, err
		}
		timer := time.NewTimer(remoteCIDWait)
		select {
		case <-e.done:
			timer.Stop()
		case <-timer.C:
			return RemoteDelivered{}, errors.New("an earlier copy of this private message is still being delivered")
		}
		if echo := h.cids.echoOf(e); echo != nil {
			var away string
			if to := h.sessionByNick(echo.To); to != nil {
				away = to.awayReason()
			}
			return RemoteDelivered{ID: echo.ID, To: echo.To, Away: away}, nil
		}
		// That attempt was refused: this one may deliver it.
	}
}

// remoteCIDWait bounds how long a private message sent again waits for
// its earlier copy, still being delivered here, to settle.
const remoteCIDWait = 5 * time.Second

// deliverRemotePrivate delivers pm to the person holding pm.To here.
func (h *Hub) deliverRemotePrivate(pm RemotePrivate) (RemoteDelivered, error) {
	to := h.sessionByNick(pm.To)
	if to == nil {
		return RemoteDelivered{}, ErrNotElsewhere
	}
	ev := &Event{Kind: KindPrivate, From: pm.From, To: to.Nick(), Text: pm.Text, Time: pm.Time, fromKey: pm.FromKey}
	if pm.ID != 0 {
		ev.ID = pm.ID // stored where it was delivered first
	} else if h.storePM {
		p := store.Private{From: ev.From, To: ev.To, Text: ev.Text, Time: ev.Time}
		if err := h.persist("private message", "message not sent: it could not be stored, please try again", func(ctx context.Context) error {
			return h.store.AppendPrivate(ctx, &p)
		}); err != nil {
			return RemoteDelivered{}, err
		}
		ev.ID = uint64(p.ID)
	} else {
		ev.ID = h.nextPM.Add(1)
	}
	h.noteLastPM(ev.ID)
	// Someone ignored is not told (see privateTo).
	ignored := to.Preferences().ignores(ev)
	for _, t := range h.sessionsOf(to) {
		t.mu.Lock()
		if !t.closed && !ignored {
			t.replyTo = replyTarget{nick: ev.From, fingerprint: pm.FromKey, elsewhere: true}
		}
		t.mu.Unlock()
		t.deliver(ev)
	}
	return RemoteDelivered{ID: ev.ID, To: ev.To, Away: to.awayReason()}, nil
}

// copyPrivateElsewhere hands ev, a private message delivered here to a
// keyed person, to that person's devices on other nodes.
func (h *Hub) copyPrivateElsewhere(to *Session, ev *Event) {
	if h.remote == nil || to.fingerprint == "" {
		return
	}
	pm := RemotePrivate{From: ev.From, FromKey: ev.fromKey, To: ev.To, Text: ev.Text, Time: ev.Time, ID: ev.ID}
	if _, err := h.remote.Private(access.Fold(ev.To), pm); err != nil && !errors.Is(err, ErrNotElsewhere) {
		h.log.Warn("cluster: private message not copied to other devices", "to", ev.To, "err", err)
	}
}

// copyPrivateToSender hands ev, a private message s sent (delivered,
// with its id), to the devices of the person of s on other nodes: the
// devices of a registered key see what any of them sent, on any node.
func (h *Hub) copyPrivateToSender(s *Session, ev *Event) {
	h.mu.Lock()
	key := s.person.key
	h.mu.Unlock()
	if h.remote == nil || key == "" {
		return
	}
	pm := RemotePrivate{From: ev.From, FromKey: s.fingerprint, To: ev.To, Text: ev.Text, Time: ev.Time, ID: ev.ID, SenderCopy: true}
	if _, err := h.remote.Private(access.Fold(ev.From), pm); err != nil && !errors.Is(err, ErrNotElsewhere) {
		h.log.Warn("cluster: private message not copied to the sender's other devices", "from", ev.From, "err", err)
	}
}

// deliverSenderCopy delivers pm, a private message the person holding
// pm.From sent from another node, to that person's sessions here.
// ErrNotElsewhere if nobody here holds it with that key.
func (h *Hub) deliverSenderCopy(pm RemotePrivate) (RemoteDelivered, error) {
	from := h.sessionByNick(pm.From)
	if from == nil || pm.FromKey == "" || from.fingerprint != pm.FromKey || pm.ID == 0 {
		return RemoteDelivered{}, ErrNotElsewhere
	}
	ev := &Event{Kind: KindPrivate, ID: pm.ID, From: pm.From, To: pm.To, Text: pm.Text, Time: pm.Time, fromKey: pm.FromKey}
	h.noteLastPM(ev.ID)
	for _, o := range h.sessionsOf(from) {
		o.deliver(ev)
	}
	return RemoteDelivered{ID: ev.ID, To: ev.To}, nil
}

// whoisRemote asks the node holding nick for its /whois; handled is false
// if nobody holds it elsewhere.
func (h *Hub) whoisRemote(asker *Session, nick string) (text string, err error, handled bool) {
	if h.remote == nil || ValidateNick(nick) != nil {
		return "", nil, false
	}
	q := RemoteWhois{Nick: nick, Location: asker.Preferences().Location.String(), ShowAddress: asker.IsOperator()}
	text, err = h.remote.Whois(access.Fold(nick), q)
	if err, handled := h.remoteOutcome(err, "whois not answered", nick, ""); err != nil || !handled {
		return "", err, handled
	}
	return text, nil, true
}

// WhoisHere answers a /whois asked on another node about a nick connected
// here. ErrNotElsewhere if nobody here holds it.
func (h *Hub) WhoisHere(q RemoteWhois) (string, error) {
	t := h.sessionByNick(q.Nick)
	if t == nil {
		return "", ErrNotElsewhere
	}
	loc, err := time.LoadLocation(q.Location)
	if err != nil {
		loc = time.UTC
	}
	return h.whoisOf(t, loc, q.ShowAddress), nil
}

// kickRemote kicks nick off the node that holds it; handled is false if
// nobody holds it elsewhere.
func (h *Hub) kickRemote(by *Session, nick, reason string) (err error, handled bool) {
	if h.remote == nil || ValidateNick(nick) != nil {
		return nil, false
	}
	kicked, err := h.remote.Kick(access.Fold(nick), RemoteKick{Nick: nick, By: by.Nick(), Reason: reason})
	if err, handled := h.remoteOutcome(err, "kick not answered", nick, ""); err != nil || !handled {
		return err, handled
	}
	h.log.Info("moderation", "by", by.Nick(), "action", "kick", "target", kicked, "reason", reason, "elsewhere", true)
	h.notice(by, "Kicked "+kicked)
	return nil, true
}

// KickHere carries out a /kick made on another node of a nick connected
// here, and returns the nick. ErrNotElsewhere if nobody here holds it.
func (h *Hub) KickHere(k RemoteKick) (string, error) {
	t := h.sessionByNick(k.Nick)
	if t == nil {
		return "", ErrNotElsewhere
	}
	h.closeKicked(t, k.By, k.Reason)
	return t.Nick(), nil
}

// banTargetsRemote is what a ban of nick, connected to another node,
// covers; ok is false if nobody holds it elsewhere or it cannot be asked.
func (h *Hub) banTargetsRemote(nick string) (targets []access.Target, ok bool) {
	if h.remote == nil || ValidateNick(nick) != nil {
		return nil, false
	}
	got, err := h.remote.BanTargets(access.Fold(nick), nick)
	if err != nil {
		if !errors.Is(err, ErrNotElsewhere) {
			h.log.Warn("cluster: ban targets not answered", "nick", nick, "err", err)
		}
		return nil, false
	}
	if got.Fingerprint != "" {
		targets = append(targets, access.KeyTarget(got.Fingerprint))
	}
	if p, err := netip.ParsePrefix(got.Source); err == nil {
		targets = append(targets, access.PrefixTarget(p))
	}
	return targets, len(targets) > 0
}

// BanTargetsHere answers another node's ban of a nick connected here.
// ErrNotElsewhere if nobody here holds it.
func (h *Hub) BanTargetsHere(nick string) (RemoteTargets, error) {
	t := h.sessionByNick(nick)
	if t == nil {
		return RemoteTargets{}, ErrNotElsewhere
	}
	got := RemoteTargets{Fingerprint: t.fingerprint}
	if t.source.IsValid() {
		got.Source = t.source.String()
	}
	return got, nil
}

// muteElsewhere mutes (on) or unmutes the key and address of nick,
// connected to another node, which reloads its mutes on the broadcast
// (its person is not sent a notice of it).
func (h *Hub) muteElsewhere(by *Session, nick string, targets []access.Target, expires time.Time, on bool) error {
	if err := h.setMutes(by, targets, expires, on); err != nil {
		return err
	}
	if on {
		h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "mute", "target", nick, "elsewhere", true, "until", describeUntil(expires))
		h.notice(by, fmt.Sprintf("Muted %s (%s) %s", nick, describeMuteTargets(targets), describeUntil(expires)))
	} else {
		h.log.Info("moderation", "by", by.Nick(), "by_key", by.fingerprint, "action", "unmute", "target", nick, "elsewhere", true)
		h.notice(by, fmt.Sprintf("Unmuted %s (%s)", nick, describeMuteTargets(targets)))
	}
	return nil
}

// remoteOutcome sorts the error of a request to the node holding nick:
// handled is false if nobody holds it elsewhere; the other node's refusal
// is passed on; any other failure is logged (as what) and becomes "try
// again", after prefix.
func (h *Hub) remoteOutcome(err error, what, nick, prefix string) (_ error, handled bool) {
	var ue *UserError
	switch {
	case err == nil:
		return nil, true
	case errors.Is(err, ErrNotElsewhere):
		return nil, false
	case errors.As(err, &ue):
		return ue, true
	default:
		h.log.Warn("cluster: "+what, "nick", nick, "err", err)
		return refusal(CodeClusterUnavailable, errors.New(prefix+"the cluster cannot be reached right now; please try again in a moment")), true
	}
}
