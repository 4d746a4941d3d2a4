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
	"os"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/webchat"
)

// Config is everything a process needs; zero values take the defaults.
type Config struct {
	SSHAddr          string
	HTTPAddr         string
	HostKeyDir       string
	DataDir          string
	AllowedOrigins   []string
	QueueSize        int
	MaxMessage       int
	WSReadLimit      int64
	WSPingInterval   time.Duration
	HandshakeTimeout time.Duration
	ShutdownTimeout  time.Duration
	Logger           *slog.Logger
}

// Defaults.
const (
	DefaultSSHAddr         = ":2222"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultHostKeyDir      = "hostkeys"
	DefaultDataDir         = "data"
	DefaultShutdownTimeout = 10 * time.Second
)

// Addrs are the addresses the listeners are bound to.
type Addrs struct {
	SSH  net.Addr
	HTTP net.Addr
}

// Run serves until ctx is cancelled, then shuts down: sessions are told the
// server is stopping, both servers stop, and Run returns within
// ShutdownTimeout. ready, if not nil, is called once both listeners are bound.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	keys, err := sshchat.LoadHostKeys(orDefault(cfg.HostKeyDir, DefaultHostKeyDir))
	if err != nil {
		return err
	}

	hubOpts := []room.Option{room.WithLogger(log)}
	if cfg.QueueSize > 0 {
		hubOpts = append(hubOpts, room.WithQueueSize(cfg.QueueSize))
	}
	if cfg.MaxMessage > 0 {
		hubOpts = append(hubOpts, room.WithMaxMessage(cfg.MaxMessage))
	}
	hub := room.NewHub(hubOpts...)

	sshOpts := []sshchat.Option{sshchat.WithLogger(log), sshchat.WithHostKeys(keys...)}
	if cfg.HandshakeTimeout > 0 {
		sshOpts = append(sshOpts, sshchat.WithHandshakeTimeout(cfg.HandshakeTimeout))
	}
	sshSrv, err := sshchat.New(hub, sshOpts...)
	if err != nil {
		return err
	}
	webOpts := []webchat.Option{webchat.WithLogger(log), webchat.WithAllowedOrigins(cfg.AllowedOrigins...)}
	if cfg.WSReadLimit > 0 {
		webOpts = append(webOpts, webchat.WithReadLimit(cfg.WSReadLimit))
	}
	if cfg.WSPingInterval > 0 {
		webOpts = append(webOpts, webchat.WithPingInterval(cfg.WSPingInterval))
	}
	web := webchat.New(hub, webOpts...)
	httpSrv := &http.Server{
		Handler:           web.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
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
	fingerprints := make([]string, len(keys))
	for i, k := range keys {
		fingerprints[i] = k.PublicKey().Type() + " " + gossh.FingerprintSHA256(k.PublicKey())
	}
	log.Info("start", "ssh", sshLn.Addr().String(), "http", httpLn.Addr().String(), "data", cfg.DataDir, "hostkeys", fingerprints)

	errc := make(chan error, 2)
	go func() { errc <- sshSrv.Serve(sshLn) }()
	go func() {
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	if ready != nil {
		ready(Addrs{SSH: sshLn.Addr(), HTTP: httpLn.Addr()})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error("server failed", "err", runErr)
	}

	log.Info("stopping", "sessions", hub.Sessions())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = sshSrv.Shutdown(sctx) })
	wg.Go(func() { _ = httpSrv.Shutdown(sctx) })
	if err := hub.Shutdown(sctx); err != nil {
		log.Warn("sessions still open at shutdown timeout", "sessions", hub.Sessions())
	}
	wg.Wait()
	log.Info("stopped")
	return runErr
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
