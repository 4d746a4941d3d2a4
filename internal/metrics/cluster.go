package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterStats are a cluster node's bus counters and states, as
// cluster.Node.Stats reports them.
type ClusterStats struct {
	Published, Received, Gaps       uint64
	CatchUpEntries, CatchUpFailures uint64
	Disconnects                     uint64
	Connected, LeaseHeld            bool
	Fences, SoftPeriods, Lapses     uint64
	NicksLost, StaleClaims          uint64
}

// ObserveCluster adds the tertulia_cluster_* series, which read stats at
// each scrape; a single node has none of them.
func (m *Metrics) ObserveCluster(stats func() ClusterStats) {
	counter := func(name, help string, value func(ClusterStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "cluster", Name: name, Help: help},
			func() float64 { return float64(value(stats())) })
	}
	gauge := func(name, help string, value func(ClusterStats) bool) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "cluster", Name: name, Help: help},
			func() float64 {
				if value(stats()) {
					return 1
				}
				return 0
			})
	}
	m.reg.MustRegister(
		counter("published_total", "Stored room entries this node sent to the other nodes over NATS.",
			func(s ClusterStats) uint64 { return s.Published }),
		counter("received_total", "Room entries NATS brought this node, for the rooms it follows (its own included).",
			func(s ClusterStats) uint64 { return s.Received }),
		counter("gaps_total", "Gaps filled from the store: a room's entries stopped at a missing one for longer than the gap wait (100 ms).",
			func(s ClusterStats) uint64 { return s.Gaps }),
		counter("catchup_entries_total", "Room entries delivered from the store because NATS had not brought them (lost publishes, or found by the periodic check).",
			func(s ClusterStats) uint64 { return s.CatchUpEntries }),
		counter("catchup_failures_total", "Catch-up reads from the store that failed (retried at the next gap or periodic check).",
			func(s ClusterStats) uint64 { return s.CatchUpFailures }),
		counter("bus_disconnects_total", "Times this node lost its connection to NATS (it reconnects to any of the servers by itself).",
			func(s ClusterStats) uint64 { return s.Disconnects }),
		gauge("bus_connected", "1 while this node is connected to a NATS server.",
			func(s ClusterStats) bool { return s.Connected }),
		gauge("lease_held", "1 while this node holds its cluster lease; 0: it refuses nicks and messages (fenced, or its lease could not be renewed for a moment).",
			func(s ClusterStats) bool { return s.LeaseHeld }),
		counter("fences_total", "Times this node could not reach NATS (or was stopped) for two thirds of its lease and closed its sessions.",
			func(s ClusterStats) uint64 { return s.Fences }),
		counter("soft_periods_total", "Times this node's lease could not be renewed while NATS answered (JetStream electing a leader): nicks and messages refused for a while, sessions kept.",
			func(s ClusterStats) uint64 { return s.SoftPeriods }),
		counter("lease_lapses_total", "Times this node's lease expired during such a period (the others saw its members leave) and it took it again, claiming its nicks again.",
			func(s ClusterStats) uint64 { return s.Lapses }),
		counter("nicks_lost_total", "Nicks whose sessions this node closed because another node gave the nick away while its lease had lapsed.",
			func(s ClusterStats) uint64 { return s.NicksLost }),
		counter("stale_claims_dropped_total", "Nick claims naming this node that none of its sessions held (their release failed), dropped by the periodic check.",
			func(s ClusterStats) uint64 { return s.StaleClaims }),
	)
}
