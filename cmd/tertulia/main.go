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
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := runMigrate(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tertulia:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tertulia:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("tertulia", flag.ContinueOnError)
	fs.SetOutput(stderr)
	text := bindFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tertulia [flags]\n       tertulia migrate --from data/tertulia.db --to postgres://… (see tertulia migrate --help)\n\nRuns the Tertulia chat server: SSH (ssh -p 2222 you@host) and web (http://host:8080) in the same rooms.\nEach flag can also be set as TERTULIA_<FLAG> in the environment, e.g. TERTULIA_SSH_ADDR=:22.\n\nFlags:\n")
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
	if err := text.apply(&cfg, stderr); err != nil {
		return err
	}
	slog.SetDefault(cfg.Logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, cfg, nil)
}

// textFlags are the flags read as text and turned into Config fields once
// every flag and variable is in: lists, and the logger.
type textFlags struct {
	origins, trustedProxies string
	logFormat, logLevel     string
}

// bindFlags defines every flag on fs, bound to cfg's fields, each flag's
// default being the field's value in cfg (app.DefaultConfig()).
func bindFlags(fs *flag.FlagSet, cfg *app.Config) *textFlags {
	text := &textFlags{trustedProxies: app.FormatTrustedProxies(cfg.Web.TrustedProxies)}
	fs.StringVar(&cfg.Listen.SSH, "ssh-addr", cfg.Listen.SSH, "address the SSH server listens on")
	fs.StringVar(&cfg.Listen.HTTP, "http-addr", cfg.Listen.HTTP, "address the HTTP and websocket server listens on (put nginx in front for the internet)")
	fs.StringVar(&cfg.Files.HostKeyDir, "hostkeys", cfg.Files.HostKeyDir, "folder of SSH host keys; an ed25519 key is generated there on first start")
	fs.StringVar(&cfg.Files.DataDir, "data", cfg.Files.DataDir, "folder for the server's persistent data")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "where rooms, history and identities are kept: empty for the embedded SQLite database in --data, or a PostgreSQL URL (postgres://user:password@host/db)")
	fs.StringVar(&cfg.Cluster, "cluster", cfg.Cluster, "comma-separated NATS servers (nats://a:4222,nats://b:4222) through which several nodes sharing one --store postgres://… share their rooms (partial: see README); empty: a single node")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "this node's name in the --cluster, unique among the nodes (letters, digits, '-' and '_'; default: the host name)")
	fs.IntVar(&cfg.ClusterReplicas, "cluster-replicas", cfg.ClusterReplicas, "NATS servers keeping a copy of each of the --cluster's key-value buckets (node leases, nick claims, presence), 1 to 5; 0: 3 when --cluster lists three or more servers, else 1")
	fs.StringVar(&cfg.SQLiteSync, "sqlite-sync", cfg.SQLiteSync, "when a commit reaches the disk: full (before anyone sees the message: survives an OS crash or power cut) or normal (faster: survives a process crash, an OS crash may lose the last commits)")
	fs.StringVar(&text.origins, "allowed-origins", "", "comma-separated extra origins (e.g. https://chat.example.com) allowed to open websockets; the page's own host is always allowed")
	fs.IntVar(&cfg.Room.QueueSize, "outbound-queue", cfg.Room.QueueSize, "events queued per session before a client too slow to read them is dropped (at least 1)")
	fs.IntVar(&cfg.Room.MaxMessage, "max-message", cfg.Room.MaxMessage, "longest message, in characters (at least 1)")
	fs.IntVar(&cfg.Room.MaxLines, "max-lines", cfg.Room.MaxLines, "most lines one message may have, within --max-message (1: single-line messages; 0: no cap but --max-message)")
	fs.Int64Var(&cfg.Web.ReadLimit, "ws-read-limit", cfg.Web.ReadLimit, "largest websocket frame a client may send, in bytes (at least 1)")
	fs.DurationVar(&cfg.Web.PingInterval, "ws-ping-interval", cfg.Web.PingInterval, "how often websockets are pinged; peers silent for two intervals are dropped")
	fs.DurationVar(&cfg.Web.HelloTimeout, "ws-hello-timeout", cfg.Web.HelloTimeout, "time a websocket has, after the upgrade, to sign in with a hello")
	fs.DurationVar(&cfg.Web.WriteTimeout, "ws-write-timeout", cfg.Web.WriteTimeout, "time allowed for one write to a websocket; a peer that does not read is dropped")
	fs.IntVar(&cfg.SSH.MaxLine, "ssh-max-line", cfg.SSH.MaxLine, "longest input line over SSH without a PTY, in bytes; a longer one is discarded whole with an error")
	fs.DurationVar(&cfg.SSH.HandshakeTimeout, "ssh-handshake-timeout", cfg.SSH.HandshakeTimeout, "time allowed for the SSH handshake and authentication")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "time allowed for sessions to close on SIGINT/SIGTERM")
	fs.DurationVar(&cfg.HTTP.ReadHeader, "http-read-header-timeout", cfg.HTTP.ReadHeader, "time allowed for an HTTP client to send the request headers (0: no limit)")
	fs.DurationVar(&cfg.HTTP.Read, "http-read-timeout", cfg.HTTP.Read, "time allowed to read a whole HTTP request (websockets then use their own ping deadlines; 0: no limit)")
	fs.DurationVar(&cfg.HTTP.Write, "http-write-timeout", cfg.HTTP.Write, "time allowed to write an HTTP response (websockets then use their own write deadlines; 0: no limit)")
	fs.DurationVar(&cfg.HTTP.Idle, "http-idle-timeout", cfg.HTTP.Idle, "how long an idle keep-alive HTTP connection is kept open (0: no limit)")
	fs.StringVar(&cfg.Listen.Metrics, "metrics-addr", cfg.Listen.Metrics, "address serving Prometheus metrics at GET /metrics, e.g. 127.0.0.1:9100 (empty: off)")
	fs.StringVar(&text.trustedProxies, "trusted-proxies", text.trustedProxies, "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Real-IP are believed (\"none\": no proxy)")
	fs.StringVar(&cfg.Listen.Pprof, "pprof-addr", cfg.Listen.Pprof, "address serving net/http/pprof for profiling, e.g. 127.0.0.1:6060 (empty: off; never expose it)")
	fs.IntVar(&cfg.Room.History, "history", cfg.Room.History, "recent messages a session receives when it joins a room (0: none)")
	fs.IntVar(&cfg.Room.MaxRooms, "max-rooms", cfg.Room.MaxRooms, "most rooms that may exist (0: no cap)")
	fs.IntVar(&cfg.Room.MaxNicksPerKey, "max-nicks-per-key", cfg.Room.MaxNicksPerKey, "most nicks one key may /register; 0 or -1: no cap")
	fs.IntVar(&cfg.Room.MaxSessionsPerKey, "max-sessions-per-key", cfg.Room.MaxSessionsPerKey, "most sessions (terminals, line-mode connections, signed-in browsers) one registered key may have at once; they share its nick; 0 or -1: no cap")
	fs.IntVar(&cfg.Room.RoomCreateBurst, "room-create-burst", cfg.Room.RoomCreateBurst, "new rooms a session, and all the sessions of one address together, may create at once before --room-create-interval applies (operators are not limited); 0 or -1: no limit")
	fs.DurationVar(&cfg.Room.RoomCreateInterval, "room-create-interval", cfg.Room.RoomCreateInterval, "after --room-create-burst, one new room per this interval, per session and per address (0: no limit)")
	fs.DurationVar(&cfg.Room.RoomReclaimAfter, "room-reclaim-after", cfg.Room.RoomReclaimAfter, "a room with no stored message or topic and no +t is removed once it has been empty this long, and at startup (never the lobby); 0: never")
	fs.DurationVar(&cfg.Room.SlowTimeout, "slow-timeout", cfg.Room.SlowTimeout, "a session whose outbound queue filled up is skipped other people's messages (and told how many); if it then writes nothing for this long it is dropped as too slow (0: dropped as soon as its queue is full)")
	fs.IntVar(&cfg.Room.PresenceSummaryAbove, "presence-summary-above", cfg.Room.PresenceSummaryAbove, "in rooms of more members, joins, parts, nick and away changes are sent as one presence summary per room per second, and member lists in pages (0: never)")
	fs.BoolVar(&cfg.Room.StorePrivate, "store-private", cfg.Room.StorePrivate, "also store private messages in the database (off: they are never written to disk)")
	fs.DurationVar(&cfg.Room.OfflineRetention, "offline-retention", cfg.Room.OfflineRetention, "how long private messages to an offline registered nick, and the mentions of it, are kept for it (stored in the database until delivered or this old); 0: none are kept")
	fs.IntVar(&cfg.Room.MaxWaiting, "offline-max-messages", cfg.Room.MaxWaiting, "most private messages kept for one offline registered user; more are refused to their senders")
	fs.IntVar(&cfg.Room.RateBurst, "rate-burst", cfg.Room.RateBurst, "lines a session may send at once before the rate limit applies")
	fs.Float64Var(&cfg.Room.RatePerSecond, "rate", cfg.Room.RatePerSecond, "lines a session may send per second, after the burst (0: not limited)")
	fs.IntVar(&cfg.Room.FloodLimit, "flood-limit", cfg.Room.FloodLimit, "refused lines in a row that disconnect a session (0: never)")
	fs.IntVar(&cfg.Conns.PerAddr, "max-conns-per-addr", cfg.Conns.PerAddr, "open connections (SSH and web together) allowed from one client address (an IPv6 address counts as its /64); 0 or -1: no cap")
	fs.Float64Var(&cfg.Conns.Rate, "conn-rate", cfg.Conns.Rate, "new connections (SSH and web together) allowed per second from one client address, after --conn-burst; 0 or -1: not paced")
	fs.IntVar(&cfg.Conns.Burst, "conn-burst", cfg.Conns.Burst, "new connections allowed at once from one client address before --conn-rate applies (0: not paced)")
	fs.IntVar(&cfg.Conns.Total, "max-conns", cfg.Conns.Total, "open connections allowed in total; 0 or -1: no cap")
	fs.DurationVar(&cfg.SSH.SessionTimeout, "ssh-session-timeout", cfg.SSH.SessionTimeout, "time allowed between the SSH handshake (or a new session channel) and the shell or command request")
	fs.BoolVar(&cfg.SSH.ProxyProtocol, "ssh-proxy-protocol", cfg.SSH.ProxyProtocol, "take SSH clients' addresses from PROXY protocol headers (HAProxy, nginx stream with proxy_protocol on) sent by --trusted-proxies; never read from other peers")
	fs.IntVar(&cfg.SSH.MaxChannels, "ssh-max-channels", cfg.SSH.MaxChannels, "session channels one SSH connection may have open at once; only one of them gets a chat session")
	fs.DurationVar(&cfg.SSH.Keepalive, "ssh-keepalive", cfg.SSH.Keepalive, "SSH keepalive interval; a peer silent for one interval is dropped (0: off)")
	fs.StringVar(&cfg.Files.Admins, "admins", cfg.Files.Admins, "authorized_keys file of the operators' keys")
	fs.StringVar(&cfg.Files.Allowlist, "allowlist", cfg.Files.Allowlist, "authorized_keys file: when set, only these keys may connect over SSH, and the web admits only signed-in users whose key is listed")
	fs.StringVar(&cfg.Files.MOTD, "motd", cfg.Files.MOTD, "file holding the message of the day, shown at join (operators can change it with /motd)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "public address of the web page, e.g. https://chat.example.com, used in /weblogin links")
	fs.StringVar(&text.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&text.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return text
}

// apply sets the Config fields that come from text flags; the logger
// writes to stderr.
func (t *textFlags) apply(cfg *app.Config, stderr io.Writer) error {
	proxies, err := app.ParseTrustedProxies(t.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.Web.TrustedProxies = proxies
	cfg.Web.AllowedOrigins = app.ParseList(t.origins)
	logger, err := newLogger(stderr, t.logFormat, t.logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	return nil
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
