package storetest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/tertulia/tertulia/internal/store"
)

// ErrSignOutFailed is what a SignOutFailing store answers while failing.
var ErrSignOutFailed = errors.New("disk I/O error")

// SignOutFailing is a memory store whose web sign-outs fail while Failing
// is set: the store error the sign-out paths must report, not ignore.
type SignOutFailing struct {
	*store.Memory
	Failing atomic.Bool
}

// NewSignOutFailing returns an empty one that fails from the start.
func NewSignOutFailing() *SignOutFailing {
	s := &SignOutFailing{Memory: store.NewMemory()}
	s.Failing.Store(true)
	return s
}

// DeleteWebSession implements store.Store.
func (s *SignOutFailing) DeleteWebSession(ctx context.Context, tokenHash string) error {
	if s.Failing.Load() {
		return ErrSignOutFailed
	}
	return s.Memory.DeleteWebSession(ctx, tokenHash)
}
