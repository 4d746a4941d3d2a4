package metrics

import (
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// BenchmarkWritten is what every event written to a client costs the
// metrics: the latency observation with its series resolved once (Written),
// against a label lookup per call (what Written did before).
func BenchmarkWritten(b *testing.B) {
	m := New()
	b.Run("resolved", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Written(room.ViaWeb, 3*time.Millisecond)
		}
	})
	b.Run("label-lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.latency.WithLabelValues(string(room.ViaWeb)).Observe((3 * time.Millisecond).Seconds())
		}
	})
}
