package sshchat

import (
	"crypto/rand"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tertulia/tertulia/internal/room"
)

// A line refused with cluster_unavailable (the node cannot reach the
// cluster for a moment: NATS electing a leader after one of its servers
// died, seconds) is sent again by the terminal, with the cid it first went
// with (the server stores it once), after these delays, the last repeated,
// until clusterRetryFor has passed since its first refusal; then its
// refusal is shown as any other. Lines typed meanwhile wait behind it, so
// that they go out in the order typed.
var clusterRetryDelays = [...]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

const clusterRetryFor = 15 * time.Second

// maxInFlight bounds the lines sent whose answer has not come yet. Each
// should get one (its copy or a refusal; the hub never skips a session's
// own copies), but one that never comes must not fill the table for good:
// when it is full, the lines sent more than inFlightFor ago are
// forgotten. Without that, past maxInFlight unanswered lines every later
// line went without a cid, and was shown refused instead of sent again
// while the cluster was unavailable.
const (
	maxInFlight = 4 * maxWaiting
	inFlightFor = time.Minute
)

// inFlight is a line sent with a cid, until its copy or its refusal comes.
type inFlight struct {
	line   waitingLine
	sentAt time.Time // when it was last sent
	// since is when it was first refused (zero: not yet); tries counts
	// the times it was sent again.
	since time.Time
	tries int
}

// makesMessage says whether text is stored as a message (or sent as a
// private one), which a cid makes safe to send again; not a command.
func makesMessage(text string) bool {
	name, _, ok := room.ParseCommand(text)
	return !ok || name == "me" || name == "msg" || name == "reply"
}

// pass passes one line to the hub, with a cid if it makes a message.
func (m *tuiModel) pass(l waitingLine) {
	now := m.now()
	if l.cid == "" && makesMessage(l.text) {
		if len(m.inFlight) >= maxInFlight {
			m.forgetUnanswered(now)
		}
		if len(m.inFlight) < maxInFlight {
			l.cid = rand.Text()
			m.inFlight[l.cid] = &inFlight{line: l}
		}
	}
	if l.cid == "" {
		m.hub.Input(m.cs, l.room, l.text)
		return
	}
	m.seq++
	l.seq = m.seq
	if f, ok := m.inFlight[l.cid]; ok {
		f.line, f.sentAt = l, now
	}
	m.hub.InputWithCID(m.cs, l.room, l.text, l.cid)
}

// answered takes an event in: the copy of a line sent with a cid ends its
// wait; a cluster_unavailable refusal of one has it sent again later
// (true: the refusal is not shown). Any other refusal ends it too.
func (m *tuiModel) answered(ev *room.Event) (held bool) {
	if ev.CID == "" {
		return false
	}
	f, ok := m.inFlight[ev.CID]
	if !ok {
		return false
	}
	if ev.Kind != room.KindError || ev.Code != room.CodeClusterUnavailable {
		delete(m.inFlight, ev.CID)
		return false
	}
	now := m.now()
	if f.since.IsZero() {
		f.since = now
	}
	delay := clusterRetryDelays[min(f.tries, len(clusterRetryDelays)-1)]
	if now.Add(delay).Sub(f.since) > clusterRetryFor {
		delete(m.inFlight, ev.CID)
		return false
	}
	f.tries++
	if !m.retryAt.After(now) {
		m.localLine(m.look().theme.notice.Render("The cluster cannot be reached for a moment: the line will be sent again (Ctrl-C drops the lines waiting)."))
	}
	m.retryAt = now.Add(delay)
	// Back among the waiting lines: after those put back that were sent
	// before it, before those sent after it and those never sent yet
	// (seq 0, typed after it).
	l := f.line
	i := 0
	for i < len(m.waiting) && m.waiting[i].seq != 0 && m.waiting[i].seq < l.seq {
		i++
	}
	m.waiting = append(m.waiting[:i], append([]waitingLine{l}, m.waiting[i:]...)...)
	return true
}

// forgetUnanswered forgets the lines sent more than inFlightFor before
// now whose copy never came.
func (m *tuiModel) forgetUnanswered(now time.Time) {
	for cid, f := range m.inFlight {
		if now.Sub(f.sentAt) > inFlightFor {
			delete(m.inFlight, cid)
		}
	}
}

// retryWait is how long the waiting lines must still wait for a line to
// be sent again (0: none).
func (m *tuiModel) retryWait() time.Duration {
	return max(0, m.retryAt.Sub(m.now()))
}

// dropInFlight forgets the waiting lines' cids (Ctrl-C dropped them).
func (m *tuiModel) dropInFlight(lines []waitingLine) {
	for _, l := range lines {
		if l.cid != "" {
			delete(m.inFlight, l.cid)
		}
	}
	m.retryAt = time.Time{}
}

// afterRefusals schedules the sending of lines put back to wait.
func (m *tuiModel) afterRefusals(held bool) tea.Cmd {
	if !held {
		return nil
	}
	return m.scheduleSend()
}
