// Command tertulia runs the chat server: SSH and web front-ends over one set
// of rooms. Every flag can also be set with an environment variable
// TERTULIA_<NAME> (e.g. TERTULIA_SSH_ADDR); a flag on the command line wins.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/webchat"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tertulia:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tertulia", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.Config
	var origins, logFormat, logLevel string
	var trustedProxies string
	fs.StringVar(&cfg.SSHAddr, "ssh-addr", app.DefaultSSHAddr, "address the SSH server listens on")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", app.DefaultHTTPAddr, "address the HTTP and websocket server listens on (put nginx in front for the internet)")
	fs.StringVar(&cfg.HostKeyDir, "hostkeys", app.DefaultHostKeyDir, "folder of SSH host keys; an ed25519 key is generated there on first start")
	fs.StringVar(&cfg.DataDir, "data", app.DefaultDataDir, "folder for the server's persistent data")
	fs.StringVar(&cfg.SQLiteSync, "sqlite-sync", store.DefaultSync, "when a commit reaches the disk: full (before anyone sees the message: survives an OS crash or power cut) or normal (faster: survives a process crash, an OS crash may lose the last commits)")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated extra origins (e.g. https://chat.example.com) allowed to open websockets; the page's own host is always allowed")
	fs.IntVar(&cfg.QueueSize, "outbound-queue", room.DefaultQueueSize, "events queued per session before a client too slow to read them is dropped")
	fs.IntVar(&cfg.MaxMessage, "max-message", room.DefaultMaxMessage, "longest message, in characters")
	fs.Int64Var(&cfg.WSReadLimit, "ws-read-limit", webchat.DefaultReadLimit, "largest websocket frame a client may send, in bytes")
	fs.DurationVar(&cfg.WSPingInterval, "ws-ping-interval", webchat.DefaultPingInterval, "how often websockets are pinged; peers silent for two intervals are dropped")
	fs.DurationVar(&cfg.WSHelloTimeout, "ws-hello-timeout", webchat.DefaultHelloTimeout, "time a websocket has, after the upgrade, to sign in with a hello")
	fs.DurationVar(&cfg.WSWriteTimeout, "ws-write-timeout", webchat.DefaultWriteTimeout, "time allowed for one write to a websocket; a peer that does not read is dropped")
	fs.IntVar(&cfg.SSHMaxLine, "ssh-max-line", sshchat.DefaultMaxLine, "longest input line over SSH without a PTY, in bytes; a longer one is discarded whole with an error")
	fs.DurationVar(&cfg.HandshakeTimeout, "ssh-handshake-timeout", sshchat.DefaultHandshakeTimeout, "time allowed for the SSH handshake and authentication")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", app.DefaultShutdownTimeout, "time allowed for sessions to close on SIGINT/SIGTERM")
	fs.DurationVar(&cfg.HTTPReadHeaderTimeout, "http-read-header-timeout", app.DefaultHTTPReadHeaderTimeout, "time allowed for an HTTP client to send the request headers")
	fs.DurationVar(&cfg.HTTPReadTimeout, "http-read-timeout", app.DefaultHTTPReadTimeout, "time allowed to read a whole HTTP request (websockets then use their own ping deadlines)")
	fs.DurationVar(&cfg.HTTPWriteTimeout, "http-write-timeout", app.DefaultHTTPWriteTimeout, "time allowed to write an HTTP response (websockets then use their own write deadlines)")
	fs.DurationVar(&cfg.HTTPIdleTimeout, "http-idle-timeout", app.DefaultHTTPIdleTimeout, "how long an idle keep-alive HTTP connection is kept open")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address serving Prometheus metrics at GET /metrics, e.g. 127.0.0.1:9100 (empty: off)")
	fs.StringVar(&trustedProxies, "trusted-proxies", webchat.DefaultTrustedProxiesList, "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Real-IP are believed (\"none\": no proxy)")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "address serving net/http/pprof for profiling, e.g. 127.0.0.1:6060 (empty: off; never expose it)")
	fs.IntVar(&cfg.History, "history", room.DefaultHistory, "recent messages a session receives when it joins a room")
	fs.IntVar(&cfg.MaxRooms, "max-rooms", room.DefaultMaxRooms, "most rooms that may exist")
	fs.IntVar(&cfg.MaxNicksPerKey, "max-nicks-per-key", room.DefaultMaxNicksPerKey, "most nicks one key may /register; -1: no cap")
	fs.IntVar(&cfg.RoomCreateBurst, "room-create-burst", room.DefaultRoomCreateBurst, "new rooms a session, and all the sessions of one address together, may create at once before --room-create-interval applies (operators are not limited); 0 or -1: no limit")
	fs.DurationVar(&cfg.RoomCreateInterval, "room-create-interval", room.DefaultRoomCreateInterval, "after --room-create-burst, one new room per this interval, per session and per address")
	fs.DurationVar(&cfg.RoomReclaimAfter, "room-reclaim-after", room.DefaultRoomReclaimAfter, "a room with no stored message or topic and no +t is removed once it has been empty this long, and at startup (never the lobby); 0: never")
	fs.DurationVar(&cfg.SlowTimeout, "slow-timeout", room.DefaultSlowTimeout, "a session whose outbound queue filled up is skipped other people's messages (and told how many); if it then writes nothing for this long it is dropped as too slow (0: dropped as soon as its queue is full)")
	fs.BoolVar(&cfg.StorePrivate, "store-private", false, "also store private messages in the database (off: they are never written to disk)")
	fs.IntVar(&cfg.RateBurst, "rate-burst", room.DefaultRateBurst, "lines a session may send at once before the rate limit applies")
	fs.Float64Var(&cfg.RatePerSecond, "rate", room.DefaultRatePerSecond, "lines a session may send per second, after the burst")
	fs.IntVar(&cfg.FloodLimit, "flood-limit", room.DefaultFloodLimit, "refused lines in a row that disconnect a session")
	fs.IntVar(&cfg.MaxConnsPerAddr, "max-conns-per-addr", connlimit.DefaultPerAddr, "open connections (SSH and web together) allowed from one client address (an IPv6 address counts as its /64); -1: no cap")
	fs.Float64Var(&cfg.ConnRate, "conn-rate", connlimit.DefaultRate, "new connections (SSH and web together) allowed per second from one client address, after --conn-burst; -1: not paced")
	fs.IntVar(&cfg.ConnBurst, "conn-burst", connlimit.DefaultBurst, "new connections allowed at once from one client address before --conn-rate applies")
	fs.IntVar(&cfg.MaxConns, "max-conns", connlimit.DefaultTotal, "open connections allowed in total; -1: no cap")
	fs.DurationVar(&cfg.SessionTimeout, "ssh-session-timeout", sshchat.DefaultSessionTimeout, "time allowed between the SSH handshake (or a new session channel) and the shell or command request")
	fs.IntVar(&cfg.SSHMaxChannels, "ssh-max-channels", sshchat.DefaultMaxChannels, "session channels one SSH connection may have open at once; only one of them gets a chat session")
	fs.DurationVar(&cfg.Keepalive, "ssh-keepalive", sshchat.DefaultKeepalive, "SSH keepalive interval; a peer silent for one interval is dropped (0: off)")
	fs.StringVar(&cfg.AdminsFile, "admins", "", "authorized_keys file of the operators' keys")
	fs.StringVar(&cfg.AllowlistFile, "allowlist", "", "authorized_keys file: when set, only these keys may connect over SSH, and the web admits only signed-in users whose key is listed")
	fs.StringVar(&cfg.MOTDFile, "motd", "", "file holding the message of the day, shown at join (operators can change it with /motd)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "public address of the web page, e.g. https://chat.example.com, used in /weblogin links")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tertulia [flags]\n\nRuns the Tertulia chat server: SSH (ssh -p 2222 you@host) and web (http://host:8080) in the same rooms.\nEach flag can also be set as TERTULIA_<FLAG> in the environment, e.g. TERTULIA_SSH_ADDR=:22.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = -1 // the flag's 0 means off; the Config's 0 means default
	}
	if _, err := store.ParseSync(cfg.SQLiteSync); err != nil {
		return fmt.Errorf("--sqlite-sync: %w", err)
	}
	if cfg.SlowTimeout == 0 {
		cfg.SlowTimeout = -1 // the flag's 0 means at once; the Config's 0 means default
	}
	if cfg.RoomCreateBurst == 0 {
		cfg.RoomCreateBurst = -1 // a burst of 0 would forbid new rooms: read it as no limit, like -1
	}
	if cfg.RoomReclaimAfter == 0 {
		cfg.RoomReclaimAfter = -1 // the flag's 0 means never; the Config's 0 means default
	}
	proxies, err := webchat.ParseTrustedProxies(trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.TrustedProxies = proxies
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	logger, err := newLogger(stderr, logFormat, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, cfg, nil)
}

// applyEnv sets each flag not given on the command line from TERTULIA_<NAME>.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "TERTULIA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}
