// Package app assembles one Tertulia process: the store, the room hub and
// both front-ends, and the listeners they serve on. cmd/tertulia turns
// flags into a Config; tests run the same assembly.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/logx"
	"github.com/tertulia/tertulia/internal/metrics"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/webchat"
)

// App is one assembled process. New builds it without binding anything;
// Listen binds the listeners, Serve serves until its context ends and then
// shuts down, Close releases the store.
type App struct {
	cfg   Config
	log   *slog.Logger
	store serverStore
	// node is this process's membership of the cluster (nil: a single
	// node).
	node         *cluster.Node
	presence     *cluster.Presence
	hub          *room.Hub
	probes       *probes
	fingerprints []string // the host keys', for the start line

	// services are the listeners in the order they are bound and served;
	// they stop in the reverse order.
	services []*service
	ssh      *service
	http     *service
	metrics  *service // nil when off
}

// Addrs are the addresses the listeners are bound to.
type Addrs struct {
	SSH     net.Addr
	HTTP    net.Addr
	Metrics net.Addr // nil when Listen.Metrics is empty
}

// New checks cfg and assembles the process: data folder, host keys, store,
// hub with its rooms loaded, both front-ends and their servers. Nothing
// listens yet. On success the caller must Close the App.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// One failing dependency (a full disk) must not flood the log with the
	// same error for every message.
	log := slog.New(logx.NewDedup(cfg.Logger.Handler(), logx.DefaultRepeatWindow, nil))
	if err := os.MkdirAll(cfg.Files.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	keys, err := sshchat.LoadHostKeys(cfg.Files.HostKeyDir)
	if err != nil {
		return nil, err
	}
	hubOpts, err := fileOptions(cfg.Files)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a := &App{cfg: cfg, log: log, store: st}
	if a.node, err = a.joinCluster(ctx); err != nil {
		a.closeStore()
		return nil, err
	}
	if a.node != nil {
		bus, err := newClusterBus(a.node, st)
		if err != nil {
			a.closeCluster()
			a.closeStore()
			return nil, err
		}
		a.presence = a.node.NewPresence()
		hubOpts = append(hubOpts, room.WithBus(bus), room.WithNickClaims(clusterClaims{node: a.node, log: log}),
			room.WithPresence(clusterPresence{a.presence}),
			room.WithRemote(clusterRemote{node: a.node, log: log}), room.WithModerationSync(broadcastModeration(a.node, log)))
	}
	if err := a.assemble(ctx, keys, hubOpts); err != nil {
		a.closeCluster()
		a.closeStore()
		return nil, err
	}
	if a.presence != nil {
		if err := startPresence(ctx, a.presence, a.hub); err != nil {
			a.closeCluster()
			a.closeStore()
			return nil, fmt.Errorf("cluster presence: %w", err)
		}
	}
	return a, nil
}

// serverStore is a store with the readiness check /readyz runs.
type serverStore interface {
	store.Store
	Ready(ctx context.Context) error
}

// openStore opens the configured store: PostgreSQL if a URL is given, else
// the embedded SQLite database in the data folder.
func openStore(ctx context.Context, cfg Config) (serverStore, error) {
	if cfg.Store != "" {
		return store.OpenPostgres(ctx, cfg.Store)
	}
	return store.OpenSQLite(ctx, cfg.Files.DataDir, store.WithSync(cfg.SQLiteSync))
}

// fileOptions reads the files the hub is configured with.
func fileOptions(f Files) ([]room.Option, error) {
	var opts []room.Option
	if f.Admins != "" {
		admins, err := access.ReadAuthorizedKeys(f.Admins)
		if err != nil {
			return nil, fmt.Errorf("--admins: %w", err)
		}
		for fp := range admins {
			opts = append(opts, room.WithAdmins(fp))
		}
	}
	if f.Allowlist != "" {
		path := f.Allowlist
		opts = append(opts, room.WithAllowlist(func() (map[string]bool, error) { return access.ReadAuthorizedKeys(path) }))
	}
	if f.MOTD != "" {
		motd, err := os.ReadFile(f.MOTD)
		if err != nil {
			return nil, fmt.Errorf("--motd: %w", err)
		}
		opts = append(opts, room.WithMOTD(strings.TrimSpace(string(motd))))
	}
	return opts, nil
}

// assemble builds the hub, the front-ends and the services over a.store.
func (a *App) assemble(ctx context.Context, keys []gossh.Signer, hubOpts []room.Option) error {
	cfg := a.cfg
	met := metrics.New()
	hubOpts = append(hubOpts, cfg.Room.Options()...)
	hubOpts = append(hubOpts, room.WithLogger(a.log), room.WithObserver(met), room.WithStore(a.store))
	if cfg.PublicURL != "" {
		hubOpts = append(hubOpts, room.WithPublicURL(cfg.PublicURL))
	}
	if cfg.Now != nil {
		hubOpts = append(hubOpts, room.WithClock(cfg.Now))
	}
	a.hub = room.NewHub(hubOpts...)
	if err := a.hub.LoadRooms(ctx); err != nil {
		return fmt.Errorf("load rooms: %w", err)
	}
	met.RoomsChanged(a.hub.RoomCount())

	conns := cfg.Conns.NewLimiter()
	sshOpts := cfg.SSH.Options()
	if cfg.SSH.ProxyProtocol {
		sshOpts = append(sshOpts, sshchat.WithProxyProtocol(cfg.Web.TrustedProxies))
	}
	sshOpts = append(sshOpts, sshchat.WithLogger(a.log), sshchat.WithHostKeys(keys...), sshchat.WithHandshakeFailed(met.SSHHandshakeFailed), sshchat.WithConnLimiter(conns))
	sshSrv, err := sshchat.New(a.hub, sshOpts...)
	if err != nil {
		return err
	}
	webOpts := append(cfg.Web.Options(), webchat.WithLogger(a.log), webchat.WithAllowedHosts(publicHosts(cfg)...), webchat.WithConnLimiter(conns))
	web := webchat.New(a.hub, webOpts...)

	a.ssh = &service{name: "ssh", title: "SSH", addr: cfg.Listen.SSH, serve: sshSrv.Serve,
		shutdown: func(ctx context.Context) { _ = sshSrv.Shutdown(ctx) }, drainsSessions: true}
	a.http = &service{name: "http", title: "HTTP", addr: cfg.Listen.HTTP, drainsSessions: true}
	a.probes = newProbes(a.ssh, a.http)
	for _, c := range cfg.ReadyChecks {
		a.probes.addReadyCheck(c)
	}
	a.probes.addReadyCheck(health.Check{Name: "store", Func: a.store.Ready})
	if a.node != nil {
		met.ObserveCluster(clusterStats(a.node))
		a.probes.addReadyCheck(clusterReady(a.node))
		// Others may now take this node's nicks: its sessions end.
		hub := a.hub
		a.node.OnFence(func() { hub.DisconnectAll(room.ReasonClusterLost) })
		// A lapse of the lease it survived: its nicks are claimed again.
		a.node.KeepClaims(hubHolder{hub}, claimCheckEvery)
		if err := serveRemote(a.node, hub, a.log); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	httpSrv := &http.Server{
		Handler:           a.probes.handler(web.Handler()),
		ReadHeaderTimeout: noneIfZero(cfg.HTTP.ReadHeader),
		ReadTimeout:       cfg.HTTP.Read,
		WriteTimeout:      cfg.HTTP.Write,
		IdleTimeout:       noneIfZero(cfg.HTTP.Idle),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.http.serve, a.http.shutdown = serveHTTP(httpSrv), shutdownHTTP(httpSrv)
	a.services = []*service{a.ssh, a.http}
	if cfg.Listen.Metrics != "" {
		srv := newMetricsServer(met, a.log)
		a.metrics = &service{name: "metrics", addr: cfg.Listen.Metrics, serve: serveHTTP(srv), shutdown: shutdownHTTP(srv)}
		a.services = append(a.services, a.metrics)
	}
	if cfg.Listen.Pprof != "" {
		srv := newPprofServer(a.log)
		// Closed, not drained: a CPU profile streams for as long as it
		// was asked to run.
		a.services = append(a.services, &service{name: "pprof", addr: cfg.Listen.Pprof, serve: serveHTTP(srv),
			shutdown: func(context.Context) { _ = srv.Close() }})
	}
	for _, k := range keys {
		a.fingerprints = append(a.fingerprints, k.PublicKey().Type()+" "+gossh.FingerprintSHA256(k.PublicKey()))
	}
	return nil
}

// Listen binds every listener, in order (SSH, HTTP, metrics, pprof), and
// returns their addresses. Serve calls it if the caller has not.
func (a *App) Listen() (Addrs, error) {
	if a.ssh.ln == nil {
		if err := listenAll(a.services); err != nil {
			return Addrs{}, err
		}
	}
	addrs := Addrs{SSH: a.ssh.ln.Addr(), HTTP: a.http.ln.Addr()}
	if a.metrics != nil {
		addrs.Metrics = a.metrics.ln.Addr()
	}
	return addrs, nil
}

// Serve serves until ctx ends or a server fails, then shuts down: sessions
// are told the server is stopping, the servers stop, and Serve returns
// within Config.ShutdownTimeout. It returns the failure, if any.
func (a *App) Serve(ctx context.Context) error {
	addrs, err := a.Listen()
	if err != nil {
		return err
	}
	metricsAddr := ""
	if addrs.Metrics != nil {
		metricsAddr = addrs.Metrics.String()
	}
	a.log.Info("start", "ssh", addrs.SSH.String(), "http", addrs.HTTP.String(), "metrics", metricsAddr, "data", a.cfg.Files.DataDir, "hostkeys", a.fingerprints)
	for _, s := range a.services {
		if s.name == "pprof" {
			a.log.Warn("pprof enabled: do not expose this address", "pprof", s.ln.Addr().String())
		}
	}
	reclaimCtx, stopReclaim := context.WithCancel(ctx)
	reclaimDone := make(chan struct{})
	go func() {
		defer close(reclaimDone)
		pruned := make(chan struct{})
		go func() { defer close(pruned); pruneOffline(reclaimCtx, a.hub) }()
		reclaimRooms(reclaimCtx, a.hub, a.cfg.Room.RoomReclaimAfter)
		<-pruned
	}()
	defer stopReclaim()

	errc := make(chan error, len(a.services))
	serveAll(a.services, errc)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.log.Error("server failed", "err", runErr)
	}

	a.probes.stopping.Store(true)
	// No room is reclaimed while sessions drain (ctx may still be live
	// when a server failed).
	stopReclaim()
	<-reclaimDone
	a.log.Info("stopping", "sessions", a.hub.SessionCount())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := shutdownAll(sctx, a.services, a.hub.Shutdown); err != nil {
		a.log.Warn("sessions still open at shutdown timeout", "sessions", a.hub.SessionCount())
	}
	a.log.Info("stopped")
	return runErr
}

// Close releases what New opened: listeners never served, and the store,
// which goes last, after every session is gone, so nothing writes after it.
func (a *App) Close() {
	closeListeners(a.services)
	a.closeCluster()
	a.closeStore()
}

// closeCluster gives this node's lease back, so that others may take its
// nicks at once.
func (a *App) closeCluster() {
	if a.presence != nil {
		// Before the lease: the others see this node's members leave.
		a.presence.Close()
		a.presence = nil
	}
	if a.node != nil {
		a.node.Close()
		a.node = nil
	}
}

func (a *App) closeStore() {
	if err := a.store.Close(); err != nil {
		a.log.Error("store close", "err", err)
	}
}

// Run assembles a process with New, serves it until ctx is cancelled and
// closes it. ready, if not nil, is called once every listener is bound.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	a, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	addrs, err := a.Listen()
	if err != nil {
		return err
	}
	if ready != nil {
		ready(addrs)
	}
	return a.Serve(ctx)
}

// noneIfZero makes a zero http.Server header or idle timeout mean none, as
// HTTPTimeouts documents; net/http would read it as "ReadTimeout's".
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// newMetricsServer serves GET /metrics, on a listener of its own.
func newMetricsServer(m *metrics.Metrics, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newPprofServer serves the net/http/pprof handlers on a mux of its own, so
// profiling is reachable only on Listen.Pprof. No write timeout: a CPU
// profile or trace streams for as long as it was asked to run.
func newPprofServer(log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// publicHosts are the host names of --public-url and --allowed-origins: the
// names the web front-end answers to (none set: any).
func publicHosts(cfg Config) []string {
	var hosts []string
	for _, u := range append([]string{cfg.PublicURL}, cfg.Web.AllowedOrigins...) {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.Hostname() != "" {
			hosts = append(hosts, p.Hostname())
		}
	}
	return hosts
}

// reclaimRooms removes unused rooms now and then until ctx ends (rooms are
// also reclaimed whenever the room cap is reached); after 0: never.
func reclaimRooms(ctx context.Context, hub *room.Hub, after time.Duration) {
	if after <= 0 {
		return
	}
	every(ctx, min(after, time.Minute), func() { hub.ReclaimRooms() })
}

// pruneOffline deletes the private messages and mentions kept for offline
// users past their retention, at start and then hourly, until ctx ends
// (what is past it is also left out when read).
func pruneOffline(ctx context.Context, hub *room.Hub) {
	hub.PruneOffline()
	every(ctx, time.Hour, hub.PruneOffline)
}

// every runs fn once per interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
