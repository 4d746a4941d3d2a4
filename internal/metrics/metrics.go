// Package metrics exposes Tertulia's measurements in the Prometheus text
// format. A Metrics is a room.Observer: the hub reports sessions, inputs,
// refusals, deliveries and write latency to it as they happen. Everything is
// registered on the Metrics' own registry (no package-level globals), with
// the Go runtime and process collectors beside Tertulia's series.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tertulia/tertulia/internal/room"
)

// Namespace prefixes every Tertulia series.
const Namespace = "tertulia"

// LatencyBuckets are the delivery latency histogram's upper bounds, in
// seconds: from a tenth of a millisecond (an idle server) to ten seconds (a
// client about to be dropped as too slow). From 7.5 to 250 ms, where a busy
// server's figures fall, each is at most a third above the one below, so
// that a p50 or p99 read from them (the load tool's --metrics-url) is
// close.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics holds Tertulia's series and the registry that serves them.
type Metrics struct {
	reg *prometheus.Registry

	sessions       *prometheus.GaugeVec
	sessionsOpened *prometheus.CounterVec
	sessionsClosed *prometheus.CounterVec
	slowDrops      *prometheus.CounterVec
	rooms          prometheus.Gauge
	received       *prometheus.CounterVec
	refused        *prometheus.CounterVec
	deliveries     prometheus.Counter
	latency        *prometheus.HistogramVec
	sshHandshake   prometheus.Counter
	presenceSkip   *prometheus.CounterVec
	messageSkip    *prometheus.CounterVec

	// The series of each known front-end, resolved once: a label lookup
	// (hashing the values, a map under a lock) per written event was
	// measurable in the web fan-out's profile (docs/performance.md,
	// finding 6).
	ssh, web viaSeries
}

// viaSeries are the children labelled with one front-end.
type viaSeries struct {
	sessions       prometheus.Gauge
	sessionsOpened prometheus.Counter
	slowDrops      prometheus.Counter
	received       prometheus.Counter
	latency        prometheus.Observer
}

var _ room.Observer = (*Metrics)(nil)

// New returns a Metrics with every series registered, those with a front-end
// label already present for both front-ends, at zero.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sessions",
			Help: "Connected chat sessions, by front-end (ssh or web).",
		}, []string{"via"}),
		sessionsOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_opened_total",
			Help: "Chat sessions opened, by front-end.",
		}, []string{"via"}),
		sessionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_closed_total",
			Help: "Chat sessions closed, by front-end and reason (quit, closed, slow_client, stopping, flooding, signed_out, kicked, banned, cluster_lost).",
		}, []string{"via", "reason"}),
		slowDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "slow_client_drops_total",
			Help: "Sessions disconnected because their outbound queue filled up, by front-end.",
		}, []string{"via"}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "rooms",
			Help: "Rooms that exist.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_received_total",
			Help: "Input lines received from clients (messages and commands), by front-end.",
		}, []string{"via"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "inputs_refused_total",
			Help: "Input lines refused with an error, by front-end and reason (the protocol's error code).",
		}, []string{"via", "reason"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "deliveries_total",
			Help: "Room events queued to members: one per event per recipient.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "delivery_latency_seconds",
			Help:    "Time from an event's publication to its write to a client, by front-end.",
			Buckets: LatencyBuckets,
		}, []string{"via"}),
		sshHandshake: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "ssh_handshake_failures_total",
			Help: "SSH connections that failed before a session began (handshake, authentication or timeout).",
		}),
		presenceSkip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "presence_skipped_total",
			Help: "Joins, parts, nick changes and away changes not queued to a session whose queue was nearly full (its member list is sent again), by front-end.",
		}, []string{"via"}),
		messageSkip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_skipped_total",
			Help: "Messages, private messages and topic changes not queued to a session whose queue was nearly full (it is told how many it missed), by front-end.",
		}, []string{"via"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.sessions, m.sessionsOpened, m.sessionsClosed, m.slowDrops, m.rooms,
		m.received, m.refused, m.deliveries, m.latency, m.sshHandshake, m.presenceSkip,
		m.messageSkip,
	)
	for _, via := range []room.Via{room.ViaSSH, room.ViaWeb} {
		m.presenceSkip.WithLabelValues(string(via))
		m.messageSkip.WithLabelValues(string(via))
	}
	m.ssh = m.resolve(room.ViaSSH)
	m.web = m.resolve(room.ViaWeb)
	return m
}

// resolve returns (creating them at zero) the series labelled via.
func (m *Metrics) resolve(via room.Via) viaSeries {
	v := string(via)
	return viaSeries{
		sessions:       m.sessions.WithLabelValues(v),
		sessionsOpened: m.sessionsOpened.WithLabelValues(v),
		slowDrops:      m.slowDrops.WithLabelValues(v),
		received:       m.received.WithLabelValues(v),
		latency:        m.latency.WithLabelValues(v),
	}
}

// known returns the resolved series of a known front-end, nil for another
// (whose series are then looked up, and created, one by one as used).
func (m *Metrics) known(via room.Via) *viaSeries {
	switch via {
	case room.ViaSSH:
		return &m.ssh
	case room.ViaWeb:
		return &m.web
	}
	return nil
}

// Registry is where the series are registered; callers may add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// SSHHandshakeFailed counts one SSH connection that ended before a session.
func (m *Metrics) SSHHandshakeFailed() { m.sshHandshake.Inc() }

// SessionOpened implements room.Observer.
func (m *Metrics) SessionOpened(via room.Via) {
	if vs := m.known(via); vs != nil {
		vs.sessions.Inc()
		vs.sessionsOpened.Inc()
		return
	}
	m.sessions.WithLabelValues(string(via)).Inc()
	m.sessionsOpened.WithLabelValues(string(via)).Inc()
}

// SessionClosed implements room.Observer; the reason label is the reason's
// code (room.CodeQuit and the rest: a fixed set), and a session closed as
// too slow is also counted as a slow-client drop.
func (m *Metrics) SessionClosed(via room.Via, reason room.CloseReason) {
	vs := m.known(via)
	if vs != nil {
		vs.sessions.Dec()
	} else {
		m.sessions.WithLabelValues(string(via)).Dec()
	}
	m.sessionsClosed.WithLabelValues(string(via), reason.Code).Inc()
	if reason.Code == room.CodeSlowClient {
		if vs != nil {
			vs.slowDrops.Inc()
		} else {
			m.slowDrops.WithLabelValues(string(via)).Inc()
		}
	}
}

// InputReceived implements room.Observer.
func (m *Metrics) InputReceived(via room.Via) {
	if vs := m.known(via); vs != nil {
		vs.received.Inc()
		return
	}
	m.received.WithLabelValues(string(via)).Inc()
}

// InputRefused implements room.Observer.
func (m *Metrics) InputRefused(via room.Via, code string) {
	m.refused.WithLabelValues(string(via), code).Inc()
}

// Delivered implements room.Observer.
func (m *Metrics) Delivered(n int) { m.deliveries.Add(float64(n)) }

// Written implements room.Observer.
func (m *Metrics) Written(via room.Via, lat time.Duration) {
	if vs := m.known(via); vs != nil {
		vs.latency.Observe(lat.Seconds())
		return
	}
	m.latency.WithLabelValues(string(via)).Observe(lat.Seconds())
}

// RoomsChanged implements room.Observer.
func (m *Metrics) RoomsChanged(n int) { m.rooms.Set(float64(n)) }

// MessageSkipped implements room.Observer.
func (m *Metrics) MessageSkipped(via room.Via) {
	m.messageSkip.WithLabelValues(string(via)).Inc()
}

// PresenceSkipped implements room.Observer.
func (m *Metrics) PresenceSkipped(via room.Via) {
	m.presenceSkip.WithLabelValues(string(via)).Inc()
}
