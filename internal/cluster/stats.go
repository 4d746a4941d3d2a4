package cluster

import "sync/atomic"

// Stats are a node's bus counters since it joined, for its metrics.
type Stats struct {
	// Published: entries this node sent on the bus.
	Published uint64
	// Received: entries of followed rooms the bus brought (this node's
	// own included).
	Received uint64
	// Gaps: times a room's entries stopped at a missing one for longer
	// than the gap wait, and the store was read to fill it.
	Gaps uint64
	// CatchUpEntries: entries delivered from the store because the bus
	// had not brought them (lost publishes, or a room's newest entries
	// found by the periodic check).
	CatchUpEntries uint64
	// CatchUpFailures: store reads for a catch-up that failed (retried
	// at the next gap or check).
	CatchUpFailures uint64
	// Disconnects: times the connection to NATS was lost (it reconnects
	// by itself, to any of the servers).
	Disconnects uint64
	// Connected: the connection to NATS is up now.
	Connected bool
	// LeaseHeld: this node holds its lease now (Live).
	LeaseHeld bool
	// Fences: times this node was cut off from the bus (or stopped)
	// and closed its sessions.
	Fences uint64
	// SoftPeriods: times its lease could not be renewed while the bus
	// answered (JetStream electing a leader): claims and messages were
	// refused for a while, its sessions stayed.
	SoftPeriods uint64
	// Lapses: times its lease expired during such a period (the others
	// saw its members leave) and was taken again.
	Lapses uint64
	// NicksLost: nicks whose sessions here were closed because another
	// node gave the nick away during a lapse.
	NicksLost uint64
	// StaleClaims: nick claims of sessions gone (whose release failed)
	// dropped by the periodic check.
	StaleClaims uint64
}

// nodeStats are the counters behind Stats, updated where things happen.
type nodeStats struct {
	published, received, gaps       atomic.Uint64
	catchUpEntries, catchUpFailures atomic.Uint64
	disconnects                     atomic.Uint64
	fences, softPeriods, lapses     atomic.Uint64
	nicksLost, staleClaims          atomic.Uint64
}

// Stats returns this node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Published:       n.stats.published.Load(),
		Received:        n.stats.received.Load(),
		Gaps:            n.stats.gaps.Load(),
		CatchUpEntries:  n.stats.catchUpEntries.Load(),
		CatchUpFailures: n.stats.catchUpFailures.Load(),
		Disconnects:     n.stats.disconnects.Load(),
		Connected:       n.nc.IsConnected(),
		LeaseHeld:       n.Live(),
		Fences:          n.stats.fences.Load(),
		SoftPeriods:     n.stats.softPeriods.Load(),
		Lapses:          n.stats.lapses.Load(),
		NicksLost:       n.stats.nicksLost.Load(),
		StaleClaims:     n.stats.staleClaims.Load(),
	}
}
