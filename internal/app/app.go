// Package app assembles one Tertulia process: the room hub and both
// front-ends on their listeners. cmd/tertulia turns flags into a Config;
// tests run the same assembly.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/logx"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/webchat"
)

// Config is everything a process needs; zero values take the defaults.
type Config struct {
	SSHAddr    string
	HTTPAddr   string
	HostKeyDir string
	DataDir    string
	// SQLiteSync is the store's synchronous mode (store.SyncFull, the
	// default, or store.SyncNormal).
	SQLiteSync       string
	AllowedOrigins   []string
	QueueSize        int
	MaxMessage       int
	WSReadLimit      int64
	WSPingInterval   time.Duration
	WSHelloTimeout   time.Duration // 0: the default
	SSHMaxLine       int           // bytes of one line-mode input line; 0: the default
	WSWriteTimeout   time.Duration // 0: the default
	HandshakeTimeout time.Duration
	ShutdownTimeout  time.Duration
	Logger           *slog.Logger
	// History is how many recent messages a joiner receives.
	History int
	// MaxRooms bounds the number of rooms.
	MaxRooms int
	// MaxNicksPerKey caps the nicks one key may register; 0: the default
	// (room.DefaultMaxNicksPerKey), -1: no cap.
	MaxNicksPerKey int
	// RoomCreateBurst rooms at once, then one every RoomCreateInterval, may
	// be created per session and per address (0: the defaults; a negative
	// burst: no limit).
	RoomCreateBurst    int
	RoomCreateInterval time.Duration
	// RoomReclaimAfter: rooms holding nothing are removed once empty this
	// long (0: the default; negative: never).
	RoomReclaimAfter time.Duration
	// SlowTimeout: a session lagging behind its full queue that writes
	// nothing this long is dropped (0: the default; negative: dropped as
	// soon as its queue is full, no message skipped).
	SlowTimeout time.Duration
	// StorePrivate stores private messages too (off by default).
	StorePrivate bool
	// AdminsFile (authorized_keys format) lists the operators' keys.
	AdminsFile string
	// AllowlistFile (authorized_keys format), if set, admits only its keys.
	AllowlistFile string
	// MOTDFile holds the message of the day shown at join.
	MOTDFile string
	// PublicURL is the web page's public address, for /weblogin links.
	PublicURL string
	// RateBurst lines at once, then RatePerSecond a second, per session;
	// FloodLimit refused lines in a row disconnect it.
	RateBurst     int
	RatePerSecond float64
	FloodLimit    int
	// MaxConnsPerAddr and MaxConns cap open connections (SSH and web
	// together) per client address and in total; 0 takes the default, a
	// negative value means no cap.
	MaxConnsPerAddr int
	MaxConns        int
	// ConnRate and ConnBurst pace new connections (SSH and web together)
	// per client address; 0 takes the defaults, a negative ConnRate turns
	// pacing off.
	ConnRate  float64
	ConnBurst int
	// SessionTimeout bounds the time from SSH handshake to shell/exec,
	// and from opening a session channel to its shell/exec.
	SessionTimeout time.Duration
	// SSHMaxChannels caps the session channels one SSH connection may have
	// open at once (0: the default).
	SSHMaxChannels int
	// Keepalive is the SSH keepalive interval (0: default, negative: off).
	Keepalive time.Duration
	// Now replaces time.Now in the hub (tests of expiry).
	Now func() time.Time
	// PprofAddr, if set, serves net/http/pprof on its own listener and mux
	// (never http.DefaultServeMux), for profiling. Empty means off.
	PprofAddr string
	// MetricsAddr, if set, serves GET /metrics (Prometheus text format) on
	// its own listener. Empty means off.
	MetricsAddr string
	// TrustedProxies are the reverse proxies (nginx) whose X-Forwarded-For
	// and X-Real-IP are believed. nil means loopback only; an empty,
	// non-nil list trusts none.
	TrustedProxies []netip.Prefix
	// HTTP server timeouts (0: the defaults below). They bound plain HTTP
	// requests; an upgraded websocket sets its own deadlines (ping/pong).
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
	// ReadyChecks are added to GET /readyz, after the built-in ones
	// (listeners serving, not stopping).
	ReadyChecks []health.Check
}

// Defaults.
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

// Addrs are the addresses the listeners are bound to.
type Addrs struct {
	SSH     net.Addr
	HTTP    net.Addr
	Metrics net.Addr // nil when MetricsAddr is empty
}

// Run serves until ctx is cancelled, then shuts down: sessions are told the
// server is stopping, both servers stop, and Run returns within
// ShutdownTimeout. ready, if not nil, is called once both listeners are bound.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// One failing dependency (a full disk) must not flood the log with the
	// same error for every message.
	log = slog.New(logx.NewDedup(log.Handler(), logx.DefaultRepeatWindow, nil))
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = connlimit.DefaultPerAddr
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = connlimit.DefaultTotal
	}
	cfg.ConnRate = orDefault(cfg.ConnRate, connlimit.DefaultRate)
	cfg.ConnBurst = orDefault(cfg.ConnBurst, connlimit.DefaultBurst)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	keys, err := sshchat.LoadHostKeys(orDefault(cfg.HostKeyDir, DefaultHostKeyDir))
	if err != nil {
		return err
	}

	st, err := store.OpenSQLite(ctx, cfg.DataDir, store.WithSync(orDefault(cfg.SQLiteSync, store.DefaultSync)))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// Closed last, after every session is gone: nothing writes after it.
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("store close", "err", err)
		}
	}()

	ops := newOps(cfg, log)
	ops.addReadyCheck(health.Check{Name: "store", Func: st.Ready})
	hubOpts := []room.Option{room.WithLogger(log), room.WithObserver(ops.metrics), room.WithStore(st), room.WithStorePrivate(cfg.StorePrivate)}
	if cfg.History > 0 {
		hubOpts = append(hubOpts, room.WithHistory(cfg.History))
	}
	if cfg.AdminsFile != "" {
		admins, err := sshchat.ReadAuthorizedKeys(cfg.AdminsFile)
		if err != nil {
			return fmt.Errorf("--admins: %w", err)
		}
		for fp := range admins {
			hubOpts = append(hubOpts, room.WithAdmins(fp))
		}
	}
	if cfg.AllowlistFile != "" {
		path := cfg.AllowlistFile
		hubOpts = append(hubOpts, room.WithAllowlist(func() (map[string]bool, error) { return sshchat.ReadAuthorizedKeys(path) }))
	}
	if cfg.MOTDFile != "" {
		motd, err := os.ReadFile(cfg.MOTDFile)
		if err != nil {
			return fmt.Errorf("--motd: %w", err)
		}
		hubOpts = append(hubOpts, room.WithMOTD(strings.TrimSpace(string(motd))))
	}
	if cfg.PublicURL != "" {
		hubOpts = append(hubOpts, room.WithPublicURL(cfg.PublicURL))
	}
	if cfg.Now != nil {
		hubOpts = append(hubOpts, room.WithClock(cfg.Now))
	}
	if cfg.RateBurst > 0 && cfg.RatePerSecond > 0 {
		hubOpts = append(hubOpts, room.WithRate(cfg.RateBurst, cfg.RatePerSecond))
	}
	if cfg.FloodLimit > 0 {
		hubOpts = append(hubOpts, room.WithFloodLimit(cfg.FloodLimit))
	}
	if cfg.MaxRooms > 0 {
		hubOpts = append(hubOpts, room.WithMaxRooms(cfg.MaxRooms))
	}
	if cfg.MaxNicksPerKey != 0 {
		hubOpts = append(hubOpts, room.WithMaxNicksPerKey(cfg.MaxNicksPerKey))
	}
	if cfg.QueueSize > 0 {
		hubOpts = append(hubOpts, room.WithQueueSize(cfg.QueueSize))
	}
	if cfg.SlowTimeout != 0 {
		hubOpts = append(hubOpts, room.WithSlowTimeout(max(cfg.SlowTimeout, 0)))
	}
	if cfg.RoomCreateBurst != 0 || cfg.RoomCreateInterval != 0 {
		hubOpts = append(hubOpts, room.WithRoomCreation(max(orDefault(cfg.RoomCreateBurst, room.DefaultRoomCreateBurst), 0),
			orDefault(cfg.RoomCreateInterval, room.DefaultRoomCreateInterval)))
	}
	if cfg.RoomReclaimAfter != 0 {
		hubOpts = append(hubOpts, room.WithRoomReclaim(max(cfg.RoomReclaimAfter, 0)))
	}
	if cfg.MaxMessage > 0 {
		hubOpts = append(hubOpts, room.WithMaxMessage(cfg.MaxMessage))
	}
	hub := room.NewHub(hubOpts...)
	if err := hub.LoadRooms(ctx); err != nil {
		return fmt.Errorf("load rooms: %w", err)
	}
	ops.metrics.RoomsChanged(hub.Rooms())
	reclaimCtx, stopReclaim := context.WithCancel(ctx)
	reclaimDone := make(chan struct{})
	go func() { defer close(reclaimDone); reclaimRooms(reclaimCtx, hub, cfg.RoomReclaimAfter) }()
	// Stopped before the store closes (deferred earlier, so run later),
	// on every return.
	defer func() { stopReclaim(); <-reclaimDone }()

	conns := connlimit.New(cfg.MaxConnsPerAddr, cfg.MaxConns, connlimit.WithRate(cfg.ConnRate, cfg.ConnBurst))
	sshOpts := []sshchat.Option{sshchat.WithLogger(log), sshchat.WithHostKeys(keys...), sshchat.WithHandshakeFailed(ops.metrics.SSHHandshakeFailed), sshchat.WithConnLimiter(conns)}
	if cfg.SessionTimeout > 0 {
		sshOpts = append(sshOpts, sshchat.WithSessionTimeout(cfg.SessionTimeout))
	}
	if cfg.Keepalive != 0 {
		sshOpts = append(sshOpts, sshchat.WithKeepalive(max(cfg.Keepalive, 0)))
	}
	if cfg.HandshakeTimeout > 0 {
		sshOpts = append(sshOpts, sshchat.WithHandshakeTimeout(cfg.HandshakeTimeout))
	}
	if cfg.SSHMaxLine > 0 {
		sshOpts = append(sshOpts, sshchat.WithMaxLine(cfg.SSHMaxLine))
	}
	if cfg.SSHMaxChannels > 0 {
		sshOpts = append(sshOpts, sshchat.WithMaxChannels(cfg.SSHMaxChannels))
	}
	sshSrv, err := sshchat.New(hub, sshOpts...)
	if err != nil {
		return err
	}
	webOpts := []webchat.Option{webchat.WithLogger(log), webchat.WithAllowedOrigins(cfg.AllowedOrigins...), webchat.WithAllowedHosts(publicHosts(cfg)...), webchat.WithTrustedProxies(cfg.TrustedProxies), webchat.WithConnLimiter(conns)}
	if cfg.WSReadLimit > 0 {
		webOpts = append(webOpts, webchat.WithReadLimit(cfg.WSReadLimit))
	}
	if cfg.WSPingInterval > 0 {
		webOpts = append(webOpts, webchat.WithPingInterval(cfg.WSPingInterval))
	}
	if cfg.WSHelloTimeout > 0 {
		webOpts = append(webOpts, webchat.WithHelloTimeout(cfg.WSHelloTimeout))
	}
	if cfg.WSWriteTimeout > 0 {
		webOpts = append(webOpts, webchat.WithWriteTimeout(cfg.WSWriteTimeout))
	}
	web := webchat.New(hub, webOpts...)
	httpSrv := &http.Server{
		Handler:           ops.handler(web.Handler()),
		ReadHeaderTimeout: orDefault(cfg.HTTPReadHeaderTimeout, DefaultHTTPReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.HTTPReadTimeout, DefaultHTTPReadTimeout),
		WriteTimeout:      orDefault(cfg.HTTPWriteTimeout, DefaultHTTPWriteTimeout),
		IdleTimeout:       orDefault(cfg.HTTPIdleTimeout, DefaultHTTPIdleTimeout),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sshLn, err := net.Listen("tcp", orDefault(cfg.SSHAddr, DefaultSSHAddr))
	if err != nil {
		return fmt.Errorf("ssh listener: %w", err)
	}
	httpLn, err := net.Listen("tcp", orDefault(cfg.HTTPAddr, DefaultHTTPAddr))
	if err != nil {
		sshLn.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	if err := ops.listenMetrics(cfg.MetricsAddr); err != nil {
		sshLn.Close()
		httpLn.Close()
		return err
	}
	fingerprints := make([]string, len(keys))
	for i, k := range keys {
		fingerprints[i] = k.PublicKey().Type() + " " + gossh.FingerprintSHA256(k.PublicKey())
	}
	log.Info("start", "ssh", sshLn.Addr().String(), "http", httpLn.Addr().String(), "metrics", ops.metricsAddrString(), "data", cfg.DataDir, "hostkeys", fingerprints)
	var pprofSrv *http.Server
	if cfg.PprofAddr != "" {
		pprofLn, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			sshLn.Close()
			httpLn.Close()
			ops.closeMetrics()
			return fmt.Errorf("pprof listener: %w", err)
		}
		pprofSrv = newPprofServer(log)
		log.Warn("pprof enabled: do not expose this address", "pprof", pprofLn.Addr().String())
		go func() { _ = pprofSrv.Serve(pprofLn) }()
	}

	errc := make(chan error, 3)
	ops.sshServing.Store(true)
	ops.httpServing.Store(true)
	go func() { defer ops.sshServing.Store(false); errc <- sshSrv.Serve(sshLn) }()
	go func() {
		defer ops.httpServing.Store(false)
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	ops.serveMetrics(errc)
	if ready != nil {
		ready(Addrs{SSH: sshLn.Addr(), HTTP: httpLn.Addr(), Metrics: ops.metricsAddr()})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error("server failed", "err", runErr)
	}

	ops.stopping.Store(true)
	log.Info("stopping", "sessions", hub.Sessions())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Connections without a session (SSH handshakes in progress, clients
	// that keep their connection once the session ended, half-sent HTTP
	// requests) are cut a short grace after the last session left, not at
	// the deadline: port 22 always has a scanner or two mid-handshake.
	connCtx, connCancel := context.WithCancel(sctx)
	defer connCancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = sshSrv.Shutdown(connCtx) })
	wg.Go(func() {
		if httpSrv.Shutdown(connCtx) != nil {
			_ = httpSrv.Close() // connections still mid-request
		}
	})
	wg.Go(func() { ops.shutdownMetrics(sctx) })
	if err := hub.Shutdown(sctx); err != nil {
		log.Warn("sessions still open at shutdown timeout", "sessions", hub.Sessions())
	} else {
		defer time.AfterFunc(connGrace, connCancel).Stop()
	}
	wg.Wait()
	if pprofSrv != nil {
		_ = pprofSrv.Close()
	}
	log.Info("stopped")
	return runErr
}

// newPprofServer serves the net/http/pprof handlers on a mux of its own, so
// profiling is reachable only on Config.PprofAddr. No write timeout: a CPU
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
	for _, u := range append([]string{cfg.PublicURL}, cfg.AllowedOrigins...) {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.Hostname() != "" {
			hosts = append(hosts, p.Hostname())
		}
	}
	return hosts
}

// reclaimRooms removes unused rooms now and then until ctx ends (rooms are
// also reclaimed whenever the room cap is reached).
func reclaimRooms(ctx context.Context, hub *room.Hub, after time.Duration) {
	if after < 0 {
		return
	}
	every := min(orDefault(after, room.DefaultRoomReclaimAfter), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hub.ReclaimRooms()
		}
	}
}

// orDefault returns def for an unset (zero) setting.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
