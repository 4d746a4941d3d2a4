package room

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tertulia/tertulia/internal/access"
)

// A client may tag a say with its own id (cid) so that sending it again,
// after a connection was lost before the answer came back, neither stores
// nor shows it twice: the sender just gets its message back again.
const (
	// MaxCIDLen is the longest cid accepted, in characters.
	MaxCIDLen = 64
	// cidTTL is how long a stored message's cid is remembered.
	cidTTL = 10 * time.Minute
	// cidsPerOwner and cidsTotal bound what is remembered, per identity
	// and for the whole hub; the oldest are forgotten first.
	cidsPerOwner = 64
	cidsTotal    = 8192
)

// sayTag is the cid of the say being handled for a session.
type sayTag struct {
	cid string
}

// cidEntry is one remembered cid. done is closed once the say it tags has
// been stored (echo set) or refused (echo nil, and the entry forgotten).
type cidEntry struct {
	key     string
	owner   string
	expires time.Time
	done    chan struct{}
	echo    *Event // guarded by cidTable.mu; read after done is closed
	gone    bool   // forgotten (expired, evicted or refused); guarded by cidTable.mu
}

// cidTable remembers the cids of stored messages. Its lock is a leaf: it
// is never held while taking another.
type cidTable struct {
	mu      sync.Mutex
	entries map[string]*cidEntry   // by owner and cid
	owners  map[string][]*cidEntry // each owner's entries, oldest first
	// queue holds every entry, oldest first (forgotten ones until they
	// reach the front): its length bounds the table.
	queue []*cidEntry
}

func newCIDTable() *cidTable {
	return &cidTable{entries: make(map[string]*cidEntry), owners: make(map[string][]*cidEntry)}
}

// cidOwner is the identity a cid belongs to: the key when the session has
// proven one, else the nick. Either outlives a connection: a guest whose
// line was stored just as its connection died resends it, reconnected
// under the same nick, and it is not stored twice. (A cid is the client's
// random string: another guest later under that nick cannot guess it.)
func cidOwner(s *Session) string {
	if s.fingerprint != "" {
		return "key " + s.fingerprint
	}
	return "nick " + access.Fold(s.Nick())
}

// validCID reports a cid the hub refuses.
func validCID(cid string) *UserError {
	if utf8.RuneCountInString(cid) > MaxCIDLen {
		return userErr("bad_cid", fmt.Sprintf("cid longer than %d characters; not sent", MaxCIDLen))
	}
	return nil
}

// claim returns the entry of owner's cid, and first: no such say
// was stored or is being stored, so the caller stores it and must settle
// the entry. Otherwise the caller waits for the entry's done.
func (t *cidTable) claim(owner string, tag sayTag, now time.Time) (e *cidEntry, first bool) {
	key := owner + "\x00" + tag.cid
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	if e := t.entries[key]; e != nil {
		return e, false
	}
	e = &cidEntry{key: key, owner: owner, expires: now.Add(cidTTL), done: make(chan struct{})}
	t.entries[key] = e
	t.owners[owner] = append(t.owners[owner], e)
	if list := t.owners[owner]; len(list) > cidsPerOwner {
		t.forgetLocked(list[0])
	}
	t.queue = append(t.queue, e)
	for len(t.queue) > cidsTotal {
		t.forgetLocked(t.queue[0])
		t.queue[0] = nil
		t.queue = t.queue[1:]
	}
	return e, true
}

// settle records how a claimed say ended: echo is the sender's copy of the
// stored message, or nil when it was refused (its cid may then be used
// again).
func (t *cidTable) settle(e *cidEntry, echo *Event) {
	t.mu.Lock()
	e.echo = echo
	if echo == nil {
		t.forgetLocked(e)
	}
	t.mu.Unlock()
	close(e.done)
}

// echoOf is e's echo once done is closed; nil if the say was refused.
func (t *cidTable) echoOf(e *cidEntry) *Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.echo
}

// expireLocked forgets the entries whose time is up, oldest first.
func (t *cidTable) expireLocked(now time.Time) {
	for len(t.queue) > 0 {
		e := t.queue[0]
		if !e.gone && now.Before(e.expires) {
			return
		}
		t.forgetLocked(e)
		t.queue[0] = nil
		t.queue = t.queue[1:]
	}
}

// forgetLocked removes e from the index and its owner's list (it stays in
// queue until it reaches the front).
func (t *cidTable) forgetLocked(e *cidEntry) {
	if e.gone {
		return
	}
	e.gone = true
	if t.entries[e.key] == e {
		delete(t.entries, e.key)
	}
	list := t.owners[e.owner]
	for i, o := range list {
		if o == e {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.owners, e.owner)
	} else {
		t.owners[e.owner] = list
	}
}

// size is how many cids are remembered, and for how many owners.
func (t *cidTable) size() (entries, owners int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), len(t.owners)
}
