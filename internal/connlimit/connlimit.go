// Package connlimit caps open connections per client address and in total,
// shared by the SSH and web front-ends so that one address cannot hold more
// than its share of the server whichever door it uses.
package connlimit

import (
	"errors"
	"sync"
)

// Defaults.
const (
	DefaultPerAddr = 10
	DefaultTotal   = 10000
)

// Refusals.
var (
	ErrPerAddr = errors.New("too many connections from your address")
	ErrTotal   = errors.New("the server is full")
)

// Limiter counts open connections.
type Limiter struct {
	perAddr, total int

	mu     sync.Mutex
	open   map[string]int
	nTotal int
}

// New returns a limiter; a limit of 0 or less means no limit.
func New(perAddr, total int) *Limiter {
	return &Limiter{perAddr: perAddr, total: total, open: map[string]int{}}
}

// Acquire counts one connection from addr, or refuses it. Call release
// exactly once when the connection ends.
func (l *Limiter) Acquire(addr string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.nTotal >= l.total {
		return nil, ErrTotal
	}
	if l.perAddr > 0 && l.open[addr] >= l.perAddr {
		return nil, ErrPerAddr
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
