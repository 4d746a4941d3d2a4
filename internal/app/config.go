package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/webchat"
)

// Config is everything a process needs, grouped by the package that reads
// it. Start from DefaultConfig and change what differs: a zero field is
// never read as "the default", it means what its comment says (often
// "off"), and Validate refuses the zeros that mean nothing.
type Config struct {
	Listen ListenAddrs
	Files  Files
	// Store is where rooms, history and identities are kept: empty for
	// the embedded SQLite database in Files.DataDir, or a PostgreSQL URL
	// (postgres://…).
	Store string
	// Cluster lists the NATS servers (comma-separated nats://host:port)
	// through which several nodes sharing Store (PostgreSQL) share their
	// rooms; empty: a single node.
	Cluster string
	// NodeID names this node in the cluster (letters, digits, '-' and
	// '_'), unique among the nodes; read only with Cluster.
	NodeID string
	// ClusterReplicas is how many NATS servers keep a copy of each
	// key-value bucket the cluster uses (node leases, nick claims,
	// presence), so that they outlive a NATS server; 0: 3 when Cluster
	// lists three or more servers, else 1. At most 5 (JetStream's cap);
	// read only with Cluster.
	ClusterReplicas int
	// SQLiteSync is the store's synchronous mode (store.SyncFull or
	// store.SyncNormal).
	SQLiteSync string
	// PublicURL is the web page's public address, for /weblogin links;
	// empty: none (links are not offered, any host name is served).
	PublicURL string
	HTTP      HTTPTimeouts
	// ShutdownTimeout is the time sessions have to close once Serve's
	// context ends (more than 0).
	ShutdownTimeout time.Duration

	Room  room.Config
	SSH   sshchat.Config
	Web   webchat.Config
	Conns connlimit.Config

	// Logger receives the process's logs (not nil).
	Logger *slog.Logger
	// Now, if not nil, replaces time.Now in the hub (tests of expiry).
	Now func() time.Time
	// ReadyChecks are added to GET /readyz, after the built-in ones
	// (listeners serving, not stopping, the store).
	ReadyChecks []health.Check
}

// ListenAddrs are the addresses the listeners bind to.
type ListenAddrs struct {
	SSH  string // required
	HTTP string // required
	// Metrics, if set, serves GET /metrics (Prometheus text format) on its
	// own listener; empty: off.
	Metrics string
	// Pprof, if set, serves net/http/pprof on its own listener and mux
	// (never http.DefaultServeMux); empty: off.
	Pprof string
}

// Files are the folders and files the process reads and writes.
type Files struct {
	HostKeyDir string // required
	DataDir    string // required
	// Admins (authorized_keys format) lists the operators' keys; empty:
	// none.
	Admins string
	// Allowlist (authorized_keys format), if set, admits only its keys.
	Allowlist string
	// MOTD holds the message of the day shown at join; empty: none.
	MOTD string
}

// HTTPTimeouts are the chat HTTP server's timeouts; 0: none (each one,
// even ReadHeader and Idle, which net/http would otherwise take from Read).
// They bound plain HTTP requests; an upgraded websocket sets its own
// deadlines (ping/pong).
type HTTPTimeouts struct {
	ReadHeader time.Duration
	Read       time.Duration
	Write      time.Duration
	Idle       time.Duration
}

// Defaults that belong to no other package.
const (
	DefaultSSHAddr         = ":2222"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultHostKeyDir      = "hostkeys"
	DefaultDataDir         = "data"
	DefaultShutdownTimeout = 10 * time.Second

	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	DefaultHTTPReadTimeout       = 30 * time.Second
	DefaultHTTPWriteTimeout      = 30 * time.Second
	DefaultHTTPIdleTimeout       = 120 * time.Second
)

// DefaultConfig is the process as documented for the flags, logging to
// slog.Default().
func DefaultConfig() Config {
	return Config{
		Listen:          ListenAddrs{SSH: DefaultSSHAddr, HTTP: DefaultHTTPAddr},
		Files:           Files{HostKeyDir: DefaultHostKeyDir, DataDir: DefaultDataDir},
		SQLiteSync:      store.DefaultSync,
		NodeID:          DefaultNodeID(),
		ShutdownTimeout: DefaultShutdownTimeout,
		HTTP: HTTPTimeouts{
			ReadHeader: DefaultHTTPReadHeaderTimeout,
			Read:       DefaultHTTPReadTimeout,
			Write:      DefaultHTTPWriteTimeout,
			Idle:       DefaultHTTPIdleTimeout,
		},
		Room:   room.DefaultConfig(),
		SSH:    sshchat.DefaultConfig(),
		Web:    webchat.DefaultConfig(),
		Conns:  connlimit.DefaultConfig(),
		Logger: slog.Default(),
	}
}

// Validate reports every setting that has no meaning, before anything is
// opened or bound.
func (c Config) Validate() error {
	var errs []error
	required := []struct{ name, value string }{
		{"ssh address", c.Listen.SSH},
		{"http address", c.Listen.HTTP},
		{"host key folder", c.Files.HostKeyDir},
		{"data folder", c.Files.DataDir},
	}
	for _, r := range required {
		if r.value == "" {
			errs = append(errs, fmt.Errorf("%s: required", r.name))
		}
	}
	if c.SSH.ProxyProtocol && len(c.Web.TrustedProxies) == 0 {
		// Every header would be ignored: behind a balancer all clients
		// would be the balancer's address, sharing one ban and one cap.
		errs = append(errs, errors.New("ssh proxy protocol: needs --trusted-proxies (the balancers whose PROXY headers are believed)"))
	}
	if c.Store != "" && !store.IsPostgresURL(c.Store) {
		errs = append(errs, fmt.Errorf("store: %q is not a PostgreSQL URL (postgres://…); leave it empty for the embedded SQLite database", c.Store))
	}
	if c.Cluster != "" {
		if !store.IsPostgresURL(c.Store) {
			errs = append(errs, errors.New("cluster: the nodes must share a PostgreSQL store: give --store postgres://… with --cluster"))
		}
		for _, u := range ParseList(c.Cluster) {
			if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				errs = append(errs, fmt.Errorf("cluster: %q is not a NATS URL (nats://host:4222)", u))
			}
		}
		if !validNodeID(c.NodeID) {
			errs = append(errs, fmt.Errorf("node id %q: use 1 to 64 letters, digits, '-' and '_'", c.NodeID))
		}
		if c.ClusterReplicas < 0 || c.ClusterReplicas > 5 {
			errs = append(errs, fmt.Errorf("cluster replicas %d: use 1 to 5, or 0 for 3 with three or more NATS servers, else 1", c.ClusterReplicas))
		}
	}
	if _, err := store.ParseSync(c.SQLiteSync); err != nil {
		errs = append(errs, fmt.Errorf("sqlite sync: %w", err))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s: must be more than 0", c.ShutdownTimeout))
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"http read header timeout", c.HTTP.ReadHeader}, {"http read timeout", c.HTTP.Read}, {"http write timeout", c.HTTP.Write}, {"http idle timeout", c.HTTP.Idle}} {
		if t.d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be 0 (none) or more", t.name, t.d))
		}
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	errs = append(errs, c.Room.Validate(), c.SSH.Validate(), c.Web.Validate(), c.Conns.Validate())
	return errors.Join(errs...)
}

// Replicas is the number of copies of the cluster's buckets: ClusterReplicas,
// or by default 3 in a NATS cluster of three or more servers (one may die
// without losing a lease or a nick claim) and 1 otherwise.
func (c Config) Replicas() int {
	if c.ClusterReplicas > 0 {
		return c.ClusterReplicas
	}
	if len(ParseList(c.Cluster)) >= 3 {
		return 3
	}
	return 1
}

// DefaultNodeID is the host name, with what a node id may not hold
// (dots of a domain name) as '-'.
func DefaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "tertulia"
	}
	id := []rune(host)
	for i, r := range id {
		if !nodeIDRune(r) {
			id[i] = '-'
		}
	}
	return string(id)
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !nodeIDRune(r) {
			return false
		}
	}
	return true
}

func nodeIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
