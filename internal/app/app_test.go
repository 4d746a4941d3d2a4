package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/connlimit"
)

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Listen = ListenAddrs{SSH: "127.0.0.1:0", HTTP: "127.0.0.1:0", Metrics: "127.0.0.1:0"}
	cfg.Files.HostKeyDir, cfg.Files.DataDir = dir+"/hostkeys", dir+"/data"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// A zero Config is not a default one: Validate names what is missing
// instead of filling it in.
func TestZeroConfigIsRefused(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("zero Config accepted")
	}
	for _, want := range []string{"ssh address", "data folder", "sqlite sync", "shutdown timeout", "logger", "outbound queue", "ssh max line", "ws ping interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// The zeros that mean "off" are valid.
func TestZeroMeansOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Room.History, cfg.Room.FloodLimit, cfg.Room.MaxRooms, cfg.Room.RatePerSecond, cfg.Room.RateBurst = 0, 0, 0, 0, 0
	cfg.Room.SlowTimeout, cfg.Room.RoomReclaimAfter, cfg.Room.RoomCreateBurst, cfg.Room.MaxNicksPerKey, cfg.Room.MaxSessionsPerKey = 0, 0, 0, 0, 0
	cfg.SSH.Keepalive = 0
	cfg.Conns = connlimit.Config{} // 0: no cap, not paced
	cfg.HTTP = HTTPTimeouts{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// New binds nothing; Serve binds, serves (readiness passes) and, once its
// context ends, stops every listener and returns.
func TestServeAndShutdown(t *testing.T) {
	cfg := testConfig(t)
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addrs, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if addrs.Metrics == nil {
		t.Fatal("no metrics address")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()

	// The listeners are bound, so this request waits for the HTTP server,
	// which serves only once every service is marked serving.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addrs.HTTP.String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	resp, err = client.Get("http://" + addrs.Metrics.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
	for _, addr := range []net.Addr{addrs.SSH, addrs.HTTP, addrs.Metrics} {
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Serve returned", addr)
		}
	}
}

// A listener that cannot bind releases the ones bound before it.
func TestListenFailureReleasesEarlierListeners(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.Listen.Metrics = taken.Addr().String()
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Listen(); err == nil || !strings.Contains(err.Error(), "metrics listener") {
		t.Fatalf("Listen: %v, want a metrics listener error", err)
	}
	for _, s := range a.services {
		if s.ln != nil {
			t.Errorf("%s listener left open", s.name)
		}
	}
}

// Cluster mode needs the shared PostgreSQL store, NATS URLs and a node id
// that fits a NATS key; Validate names each problem.
func TestClusterConfigIsChecked(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cluster = "nats://a:4222,http://b:4222"
	cfg.NodeID = "node.one"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("cluster without PostgreSQL accepted")
	}
	for _, want := range []string{"--store postgres://", `"http://b:4222" is not a NATS URL`, `node id "node.one"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	cfg.Store, cfg.Cluster, cfg.NodeID = "postgres://tertulia@db/chat", "nats://a:4222, nats://b:4222", "node-1"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		urls       string
		configured int
		want       int
	}{{"nats://a:4222", 0, 1}, {"nats://a:4222,nats://b:4222", 0, 1}, {"nats://a:4222,nats://b:4222,nats://c:4222", 0, 3}, {"nats://a:4222,nats://b:4222,nats://c:4222", 1, 1}, {"nats://a:4222", 5, 5}} {
		cfg.Cluster, cfg.ClusterReplicas = c.urls, c.configured
		if got := cfg.Replicas(); got != c.want {
			t.Errorf("replicas for %s with --cluster-replicas %d = %d, want %d", c.urls, c.configured, got, c.want)
		}
	}
	cfg.ClusterReplicas = 6
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cluster replicas 6") {
		t.Errorf("--cluster-replicas 6: %v", err)
	}
	if id := DefaultNodeID(); !validNodeID(id) {
		t.Fatalf("default node id %q is not valid", id)
	}
}

// --ssh-proxy-protocol with no trusted proxies would believe no header:
// refused at start with the setting named.
func TestProxyProtocolNeedsTrustedProxies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SSH.ProxyProtocol = true
	cfg.Web.TrustedProxies = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "trusted-proxies") {
		t.Fatalf("Validate = %v, want a refusal naming --trusted-proxies", err)
	}
}

// The log names the NATS servers a node joined without their passwords.
func TestRedactURLsHidesPasswords(t *testing.T) {
	got := strings.Join(redactURLs([]string{"nats://tertulia:s3cret@10.0.0.11:4222", "nats://10.0.0.12:4222"}), " ")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "tertulia:") || !strings.Contains(got, "@10.0.0.11:4222") || !strings.Contains(got, "nats://10.0.0.12:4222") {
		t.Fatalf("redacted: %q", got)
	}
}
