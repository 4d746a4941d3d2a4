package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A payload names one message: "b<sender>-<seq>-<unixnano>". The sender
// records the exact send time of each (sender, seq) before writing it, so
// a receiver accepts a payload only if all three numbers match: a payload
// half-redrawn on a terminal, or left in history by an earlier run, is never
// taken for a delivery.
func appendPayload(b []byte, sender, seq int, nanos int64) []byte {
	b = append(b, 'b')
	b = strconv.AppendInt(b, int64(sender), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, nanos, 10)
}

// parsePayload reads a payload starting at s[i] (which must be 'b'). It
// returns the index just past it.
func parsePayload[T string | []byte](s T, i int) (sender, seq int, nanos int64, end int, ok bool) {
	if i >= len(s) || s[i] != 'b' {
		return 0, 0, 0, i, false
	}
	i++
	var nums [3]int64
	for k := range nums {
		start := i
		var v int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 19 {
			v = v*10 + int64(s[i]-'0')
			i++
		}
		if i == start {
			return 0, 0, 0, i, false
		}
		nums[k] = v
		if k < 2 {
			if i >= len(s) || s[i] != '-' {
				return 0, 0, 0, i, false
			}
			i++
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		return 0, 0, 0, i, false // longer than any nanosecond time
	}
	return int(nums[0]), int(nums[1]), nums[2], i, true
}

// registry holds the send time of every message of the run.
type registry struct {
	maxSeq int
	room   []int            // each sender's room
	sent   [][]atomic.Int64 // [sender][seq] unix nanoseconds, 0 = not sent
	count  []atomic.Int64   // messages sent per sender
	failed []atomic.Int64   // sends that failed, per sender
}

func newRegistry(senderRooms []int, maxSeq int) *registry {
	r := &registry{
		maxSeq: maxSeq,
		room:   senderRooms,
		sent:   make([][]atomic.Int64, len(senderRooms)),
		count:  make([]atomic.Int64, len(senderRooms)),
		failed: make([]atomic.Int64, len(senderRooms)),
	}
	for i := range r.sent {
		r.sent[i] = make([]atomic.Int64, maxSeq)
	}
	return r
}

// lookup says whether (sender, seq, nanos) is a message of this run.
func (r *registry) lookup(sender, seq int, nanos int64) bool {
	if r == nil || sender < 0 || sender >= len(r.sent) || seq < 0 || seq >= r.maxSeq {
		return false
	}
	return nanos != 0 && r.sent[sender][seq].Load() == nanos
}

// tracker is one receiver's record of deliveries. Only the client's reader
// goroutine adds to it; the mutex is for the final accounting.
type tracker struct {
	mu      sync.Mutex
	seen    [][]uint64 // [sender] bitset of seq
	dupSeen [][]uint64 // terminal clients: payloads already counted as duplicated
	unique  int64
	dups    int64
	stray   int64 // well-formed payload that is not one of this run's messages
	wrong   int64 // a message of another room
}

// latencies are the delivery latencies of a run by receiver kind, each
// kind's spread over a few histograms that receivers share by their index:
// one histogram per receiver (15 KB each) made a delivery's count a cache
// miss among 10,000 receivers, and only the kinds' totals are reported.
type latencies struct {
	shards [numKinds][latencyShards]latencyShard
}

const latencyShards = 16

type latencyShard struct {
	mu sync.Mutex
	h  hist
	_  [64]byte // shards are written from different cores
}

func (l *latencies) add(k kind, receiver int, d time.Duration) {
	sh := &l.shards[k][receiver%latencyShards]
	sh.mu.Lock()
	sh.h.add(d)
	sh.mu.Unlock()
}

// of returns the latencies of kind k's receivers so far.
func (l *latencies) of(k kind) *hist {
	all := new(hist)
	for i := range l.shards[k] {
		sh := &l.shards[k][i]
		sh.mu.Lock()
		all.merge(&sh.h)
		sh.mu.Unlock()
	}
	return all
}

func bitSet(sets [][]uint64, sender, seq, maxSeq int) ([][]uint64, bool) {
	if sets == nil {
		return nil, false
	}
	b := sets[sender]
	if b == nil {
		b = make([]uint64, (maxSeq+63)/64)
		sets[sender] = b
	}
	w, m := seq/64, uint64(1)<<(seq%64)
	was := b[w]&m != 0
	b[w] |= m
	return sets, was
}

func (t *tracker) has(sender, seq int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil || t.seen[sender] == nil {
		return false
	}
	return t.seen[sender][seq/64]&(1<<(seq%64)) != 0
}

// series samples one delivery in eight into per-second histograms, by the
// second of the run the message was sent in, to show how latency evolves.
type series struct {
	mu    sync.Mutex
	start time.Time
	secs  []*hist
}

func (s *series) reset(start time.Time, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = start
	s.secs = make([]*hist, int(d/time.Second)+1)
}

func (s *series) add(sent time.Time, lat time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int(sent.Sub(s.start) / time.Second)
	if i < 0 || i >= len(s.secs) {
		return
	}
	if s.secs[i] == nil {
		s.secs[i] = new(hist)
	}
	s.secs[i].add(lat)
}

// secondRow is one second of the series.
type secondRow struct {
	Second int     `json:"second"`
	Count  uint64  `json:"sampled"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func (s *series) rows() []secondRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []secondRow
	for i, h := range s.secs {
		if h == nil {
			continue
		}
		out = append(out, secondRow{i, h.n, ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(time.Duration(h.max))})
	}
	return out
}

// deliveryStats are shared by all the receivers of a run.
type deliveryStats struct {
	unique atomic.Int64
}

// record notes that the client saw payload (sender, seq, nanos) at time at.
// firstSight (terminals) ignores later sightings: a screen shows a line
// again at every redraw.
func (r *run) record(c *client, sender, seq int, nanos int64, at time.Time, firstSight bool) {
	if !r.recording.Load() {
		return
	}
	t := &c.track
	t.mu.Lock()
	defer t.mu.Unlock()
	if !r.reg.lookup(sender, seq, nanos) {
		t.stray++
		return
	}
	if r.reg.room[sender] != c.room {
		t.wrong++
		return
	}
	if t.seen == nil {
		t.seen = make([][]uint64, len(r.reg.sent))
	}
	var was bool
	t.seen, was = bitSet(t.seen, sender, seq, r.reg.maxSeq)
	if was {
		if !firstSight {
			t.dups++
		}
		return
	}
	t.unique++
	r.stats.unique.Add(1)
	lat := at.Sub(time.Unix(0, nanos))
	r.latency.add(c.kind, c.idx, lat)
	if t.unique%8 == 1 {
		r.series.add(time.Unix(0, nanos), lat)
	}
	if c.probe != nil {
		c.probe.rtt[seq].Store(max(int64(lat), 1))
	}
}

// recordDup notes a payload shown twice on one terminal screen: the same
// message delivered twice. Counted once per (receiver, message).
func (r *run) recordDup(c *client, sender, seq int, nanos int64) {
	if !r.recording.Load() || !r.reg.lookup(sender, seq, nanos) {
		return
	}
	t := &c.track
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dupSeen == nil {
		t.dupSeen = make([][]uint64, len(r.reg.sent))
	}
	var was bool
	if t.dupSeen, was = bitSet(t.dupSeen, sender, seq, r.reg.maxSeq); !was {
		t.dups++
	}
}
