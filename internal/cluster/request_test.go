package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// A request to a node's service is answered by that node alone; a service
// nobody serves fails at once with ErrNoResponder, not after the timeout.
func TestRequestReply(t *testing.T) {
	srv := natstest.Start(t)
	a := join(t, srv.URL(), "node-a", time.Minute)
	b := join(t, srv.URL(), "node-b", time.Minute)
	stop, err := b.Serve("echo", func(p []byte) []byte { return append([]byte("b got "), p...) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := a.Request(ctx, cluster.NodeSubject("node-b", "echo"), []byte("hi"))
	if err != nil || string(got) != "b got hi" {
		t.Fatalf("request to node-b: %q, %v", got, err)
	}
	start := time.Now()
	if _, err := a.Request(ctx, cluster.NodeSubject("node-a", "echo"), []byte("hi")); !errors.Is(err, cluster.ErrNoResponder) {
		t.Fatalf("request to a service nobody serves: %v, want ErrNoResponder", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("no responder took %v to tell", waited)
	}
	stop()
	if _, err := a.Request(ctx, cluster.NodeSubject("node-b", "echo"), []byte("hi")); !errors.Is(err, cluster.ErrNoResponder) {
		t.Fatalf("request once node-b stopped serving: %v, want ErrNoResponder", err)
	}
}
