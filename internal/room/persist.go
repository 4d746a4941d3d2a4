package room

import (
	"context"
)

// persist runs f, one store operation made for a user, through the hub's
// store.Calls, which package access shares: the one timeout every such
// operation gets (storeTimeout, cut short once Shutdown returns: nothing
// waits on a store the server is closing), and a failure logged once, as
// "store "+what with logAttrs. The user gets store_failed with refusal:
// what was not done.
//
// An answer of the store that is not a failure (a nick taken, a code not
// found) is for f to turn into its own outcome and a nil error.
func (h *Hub) persist(what, refusal string, f func(ctx context.Context) error, logAttrs ...any) error {
	return storeErr(h.calls.Do(what, refusal, f, logAttrs...))
}
