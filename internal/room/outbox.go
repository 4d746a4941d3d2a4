package room

import "time"

// The writer's side of a session's queue. deliver (session.go) decides what
// goes into the queue and when a session that does not read it is dropped;
// these are what every front-end's writer does with it, whatever its
// transport: take what is queued in batches, acknowledge each batch once it
// is out (which is how a lagging session is known to make progress), and
// at the end write what is left unless the session was dropped as too slow.
// The front-ends keep their own loop, which waits on Events and Done and on
// what only they have (pings, window changes).

// NextBatch appends first, then the events already queued behind it, in
// order, to batch, up to max events in all; it never waits for more. A
// writer that keeps no batch after writing it passes a reused array's
// batch[:0], so that taking a batch allocates nothing.
func (s *Session) NextBatch(batch []*Event, first *Event, max int) []*Event {
	batch = append(batch, first)
	for len(batch) < max {
		select {
		case ev := <-s.out:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// Ack tells the hub that batch reached the session's client: front-ends
// call it once a batch is written, in order. It measures each event's
// delivery latency and, for a lagging session, notes the progress and makes
// good what it missed once its queue has drained (see deliver).
func (s *Session) Ack(batch []*Event) {
	now := s.hub.now() // one clock reading per batch: it went out at once
	for _, ev := range batch {
		s.written(ev, now)
	}
}

func (s *Session) written(ev *Event, now time.Time) {
	if !ev.Time.IsZero() {
		s.hub.obs.Written(s.via, now.Sub(ev.Time))
	}
	if s.lagging.Load() {
		s.progressed()
	}
}

// Drain writes, once Done is closed, what is still queued, in batches of at
// most max events, each acknowledged, until the queue is empty or write
// fails. A session dropped as too slow (see CloseReason.DropsQueue) has its
// queue thrown away instead: its client is not reading it. write must not
// keep the batch after it returns.
func (s *Session) Drain(max int, write func(batch []*Event) error) {
	if s.CloseReason().DropsQueue() {
		return
	}
	var batch []*Event
	for {
		select {
		case first := <-s.out:
			batch = s.NextBatch(batch[:0], first, max)
			if write(batch) != nil {
				return
			}
			s.Ack(batch)
		default:
			return
		}
	}
}
