package room

import "time"

// Observer receives the hub's measurements, for metrics. Implementations
// must be cheap and safe for concurrent use: they are called while rooms
// deliver.
type Observer interface {
	SessionOpened(via Via)
	SessionClosed(via Via, reason CloseReason)
	InputReceived(via Via)
	InputRefused(via Via, code string)
	// Delivered counts events queued to n room members.
	Delivered(n int)
	// Written reports one event written to a client, lat after it was
	// published.
	Written(via Via, lat time.Duration)
	RoomsChanged(n int)
	// PresenceSkipped counts a join, part or nick change not queued to a
	// session whose queue was nearly full (its member list is sent again).
	PresenceSkipped(via Via)
	// MessageSkipped counts a message, private message or topic change not
	// queued to a session whose queue was nearly full (it is told how many
	// it missed).
	MessageSkipped(via Via)
}

type nopObserver struct{}

func (nopObserver) SessionOpened(Via)              {}
func (nopObserver) SessionClosed(Via, CloseReason) {}
func (nopObserver) InputReceived(Via)              {}
func (nopObserver) InputRefused(Via, string)       {}
func (nopObserver) Delivered(int)                  {}
func (nopObserver) Written(Via, time.Duration)     {}
func (nopObserver) RoomsChanged(int)               {}
func (nopObserver) PresenceSkipped(Via)            {}
func (nopObserver) MessageSkipped(Via)             {}

// WithObserver sets who receives the hub's measurements.
func WithObserver(o Observer) Option { return func(h *Hub) { h.obs = o } }
