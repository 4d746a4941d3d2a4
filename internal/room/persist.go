package room

import (
	"context"
)

// persist runs f, one store operation made for a user, with the one
// timeout every such operation gets (storeTimeout, cut short once Shutdown
// returns: nothing waits on a store the server is closing). If f fails,
// the error is logged once here, as "store "+what with logAttrs (the
// process logger folds repeats of it, see internal/logx), and the user
// gets store_failed with refusal: what was not done.
//
// An answer of the store that is not a failure (a nick taken, a code not
// found) is for f to turn into its own outcome and a nil error.
func (h *Hub) persist(what, refusal string, f func(ctx context.Context) error, logAttrs ...any) error {
	ctx, cancel := context.WithTimeout(h.storeCtx, storeTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		h.log.Error("store "+what, append(logAttrs, "err", err)...)
		return userErr("store_failed", refusal)
	}
	return nil
}
