// Package connlimit caps open connections per client address and in total,
// and new connections per address per second, shared by the SSH and web
// front-ends so that one address cannot hold or churn more than its share of
// the server whichever door it uses.
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults.
const (
	DefaultPerAddr = 10
	DefaultTotal   = 10000
	// Every connection and disconnection is a join and a part for everyone
	// in the lobby, so churning connections floods every member's queue.
	DefaultRate  = 2.0 // new connections per second per address, after the burst
	DefaultBurst = 20
)

// Refusals.
var (
	ErrPerAddr = errors.New("too many connections from your address")
	ErrTotal   = errors.New("the server is full")
	ErrRate    = errors.New("too many new connections from your address; wait a few seconds")
)

// maxTracked bounds the per-address rate table; beyond it, addresses whose
// budget is full again (nothing to remember) are forgotten, and if that is
// not enough, all of them.
const maxTracked = 10000

// Limiter counts open connections and paces new ones.
type Limiter struct {
	perAddr, total int
	rate           rate.Limit // 0: new connections are not paced
	burst          int
	now            func() time.Time

	mu     sync.Mutex
	open   map[string]int
	nTotal int
	starts map[string]*rate.Limiter
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithRate paces new connections from one address: burst at once, then
// perSecond. perSecond <= 0 turns pacing off.
func WithRate(perSecond float64, burst int) Option {
	return func(l *Limiter) {
		if perSecond <= 0 || burst <= 0 {
			l.rate, l.burst = 0, 0
			return
		}
		l.rate, l.burst = rate.Limit(perSecond), burst
	}
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New returns a limiter; a limit of 0 or less means no limit. New
// connections are not paced unless WithRate says so.
func New(perAddr, total int, opts ...Option) *Limiter {
	l := &Limiter{perAddr: perAddr, total: total, now: time.Now, open: map[string]int{}, starts: map[string]*rate.Limiter{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// allowStartLocked spends one new-connection token of addr. l.mu is held.
func (l *Limiter) allowStartLocked(addr string) bool {
	if l.rate == 0 {
		return true
	}
	now := l.now()
	lim, ok := l.starts[addr]
	if !ok {
		if len(l.starts) >= maxTracked {
			for a, other := range l.starts {
				if other.TokensAt(now) >= float64(l.burst) {
					delete(l.starts, a)
				}
			}
			if len(l.starts) > maxTracked/2 {
				// Very many addresses are churning: start afresh rather
				// than scan the table for every connection (each address
				// keeps its open-connection cap meanwhile).
				clear(l.starts)
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.starts[addr] = lim
	}
	return lim.AllowN(now, 1)
}

// Acquire counts one connection from addr, or refuses it. Call release
// exactly once when the connection ends.
func (l *Limiter) Acquire(addr string) (release func(), err error) {
	addr = sourceOf(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.nTotal >= l.total {
		return nil, ErrTotal
	}
	if l.perAddr > 0 && l.open[addr] >= l.perAddr {
		return nil, ErrPerAddr
	}
	if !l.allowStartLocked(addr) {
		return nil, ErrRate
	}
	l.open[addr]++
	l.nTotal++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[addr]--; l.open[addr] <= 0 {
				delete(l.open, addr)
			}
			l.nTotal--
		})
	}, nil
}

// Open is the number of open connections.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nTotal
}

// sourceOf is the key of addr in the per-address tables: its Source, or
// the text itself when it is not an address.
func sourceOf(addr string) string {
	p, ok := SourceOf(addr)
	if !ok {
		return addr
	}
	return p.String()
}

// Source is the unit a client address is counted, banned and muted as: an
// IPv4 address itself, an IPv6 address's /64, since one subscriber is
// commonly given a whole /64 and could otherwise pick a fresh address for
// every connection. IPv4-mapped IPv6 addresses count as their IPv4 address.
func Source(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address
	return p
}

// SourceOf is Source of an address written as text; ok is false when it
// is not an address.
func SourceOf(addr string) (p netip.Prefix, ok bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	return Source(a), true
}

// HostOf is addr ("host:port", "[v6]:port" or a bare host) without its
// port: the address both front-ends count, ban and log a peer by.
func HostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
