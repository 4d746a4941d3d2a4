package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoResponder: nobody serves the subject (the node is gone or does not
// serve it), as distinct from a node that is slow to answer.
var ErrNoResponder = errors.New("no node answers")

// NodeSubject is the subject of one of a node's services, e.g.
// NodeSubject("node-1", "pm") = "tertulia.node.node-1.pm".
func NodeSubject(nodeID, service string) string {
	return "tertulia.node." + nodeID + "." + service
}

// Request sends payload to whoever serves subject and waits for the
// answer until ctx ends. It fails with ErrNoResponder at once if nobody
// serves it.
func (n *Node) Request(ctx context.Context, subject string, payload []byte) ([]byte, error) {
	m, err := n.nc.RequestWithContext(ctx, subject, payload)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoResponder
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return m.Data, nil
}

// Serve answers the requests to this node's service (NodeSubject(ID,
// service)) with fn, one at a time, until stop.
func (n *Node) Serve(service string, fn func(payload []byte) []byte) (stop func(), err error) {
	sub, err := n.nc.Subscribe(NodeSubject(n.cfg.NodeID, service), func(m *nats.Msg) {
		answer := fn(m.Data)
		if m.Reply != "" {
			_ = m.Respond(answer)
		}
	})
	if err != nil {
		return nil, err
	}
	// The server knows of it once Serve returns: a request sent then is
	// answered, not refused for want of a responder.
	if err := n.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	// Flushed, so that once stop returns the server sends no more.
	return func() { _ = sub.Unsubscribe(); _ = n.nc.Flush() }, nil
}

// Every calls fn every period until the node is closed: a backstop for
// what a broadcast may have missed while the bus was away.
func (n *Node) Every(period time.Duration, fn func()) {
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-n.stop:
				return
			case <-tick.C:
				fn()
			}
		}
	}()
}
