package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/sshchat"
	"github.com/tertulia/tertulia/internal/webchat"
)

// clusterDeploy is the folder of the cluster's deployment files.
const clusterDeploy = "../deploy/cluster"

// The addresses the example files use: the balancer and the three nodes
// (each also a NATS server).
const (
	exampleBalancer = "10.0.0.10"
	exampleNodeList = "10.0.0.11 10.0.0.12 10.0.0.13"
)

func exampleNodes() []string { return strings.Fields(exampleNodeList) }

func readDeploy(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(clusterDeploy, name))
	must(t, err)
	return string(b)
}

// rewrite replaces every match of re in the deployment file name's text s,
// failing the test when there are not exactly n: the test must notice
// when the real file changes shape.
func rewrite(t testing.TB, name, s, re, repl string, n int) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	if got := len(rx.FindAllStringIndex(s, -1)); got != n {
		t.Fatalf("%s: %d matches of %q, want %d", name, got, re, n)
	}
	return rx.ReplaceAllLiteralString(s, repl)
}

// envFile reads KEY=VALUE lines, skipping comments.
func envFile(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// tertuliaHelp is tertulia --help of the built binary.
func tertuliaHelp(t *testing.T) string {
	t.Helper()
	help, err := exec.Command(binary(t), "--help").CombinedOutput()
	must(t, err)
	return string(help)
}

// helpLists tells whether tertulia --help lists the flag (a boolean one
// is listed without a type).
func helpLists(help, flag string) bool {
	return regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(flag) + `( |$)`).MatchString(help)
}

// The example node settings name only real flags, and agree with the
// balancer and NATS files: the nodes listen where the balancers send,
// believe the balancer's headers, and reach all three NATS servers;
// every balancer waits longer than the server's keepalives before it
// calls a connection dead.
func TestClusterDeployFilesAgree(t *testing.T) {
	env := envFile(readDeploy(t, "tertulia.env"))
	help := tertuliaHelp(t)
	flags := map[string]string{}
	for k, v := range env {
		if k == "GOMEMLIMIT" {
			continue
		}
		if !strings.HasPrefix(k, "TERTULIA_") {
			t.Errorf("tertulia.env sets %s, which is not a TERTULIA_ flag", k)
			continue
		}
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "TERTULIA_")), "_", "-")
		if !helpLists(help, name) {
			t.Errorf("tertulia.env sets --%s, which tertulia --help does not list", name)
		}
		flags[name] = v
	}
	for name, want := range map[string]string{"ssh-addr": ":2222", "http-addr": ":8080", "ssh-proxy-protocol": "true"} {
		if flags[name] != want {
			t.Errorf("tertulia.env: --%s=%q, want %q", name, flags[name], want)
		}
	}
	proxies, err := app.ParseTrustedProxies(flags["trusted-proxies"])
	must(t, err)
	if len(proxies) != 1 || !proxies[0].Contains(netip.MustParseAddr(exampleBalancer)) || proxies[0].Contains(netip.MustParseAddr(exampleNodes()[0])) {
		t.Errorf("tertulia.env: --trusted-proxies=%q, want the balancer %s alone", flags["trusted-proxies"], exampleBalancer)
	}
	if !strings.HasPrefix(flags["store"], "postgres://") {
		t.Errorf("tertulia.env: --store=%q, want a PostgreSQL URL", flags["store"])
	}
	urls := app.ParseList(flags["cluster"])
	if len(urls) != len(exampleNodes()) {
		t.Errorf("tertulia.env: --cluster lists %d servers, want %d", len(urls), len(exampleNodes()))
	}
	for i, u := range urls {
		if want := "@" + exampleNodes()[i] + ":4222"; !strings.HasPrefix(u, "nats://tertulia:") || !strings.HasSuffix(u, want) {
			t.Errorf("tertulia.env: NATS server %q, want nats://tertulia:PASSWORD%s", u, want)
		}
	}

	// Every balancer and the NATS routes list the three nodes, in order,
	// at the ports the nodes listen on.
	for _, f := range []struct{ file, re, port string }{
		{"nginx-web.conf", `server (10\.0\.0\.\d+):(\d+) `, "8080"},
		{"nginx-ssh-stream.conf", `server (10\.0\.0\.\d+):(\d+) `, "2222"},
		{"haproxy.cfg", `server node-\d (10\.0\.0\.\d+):(\d+)`, "2222"},
		{"nats.conf", `nats-route://(10\.0\.0\.\d+):(\d+)`, "6222"},
	} {
		var got []string
		for _, m := range regexp.MustCompile(f.re).FindAllStringSubmatch(readDeploy(t, f.file), -1) {
			if m[2] != f.port {
				t.Errorf("%s: %s:%s, want port %s", f.file, m[1], m[2], f.port)
			}
			got = append(got, m[1])
		}
		if strings.Join(got, " ") != exampleNodeList {
			t.Errorf("%s lists %v, want %s", f.file, got, exampleNodeList)
		}
	}
	if m := regexp.MustCompile(`check port (\d+)`).FindStringSubmatch(readDeploy(t, "haproxy.cfg")); m == nil || m[1] != "8080" {
		t.Errorf("haproxy.cfg: health checks on %v, want the nodes' HTTP port 8080", m)
	}
	// HAProxy waits for /readyz's answer, which comes within the bound of
	// each readiness check even when a dependency hangs.
	if m := regexp.MustCompile(`timeout check (\d+)s`).FindStringSubmatch(readDeploy(t, "haproxy.cfg")); m == nil {
		t.Error("haproxy.cfg sets no timeout check")
	} else if d, _ := time.ParseDuration(m[1] + "s"); d <= health.DefaultCheckTimeout {
		t.Errorf("haproxy.cfg: timeout check %v, want more than /readyz's check bound %v", d, health.DefaultCheckTimeout)
	}

	// Idle timeouts exceed the keepalives that keep a quiet connection busy.
	timeouts := []struct {
		file, re  string
		keepalive time.Duration
	}{
		{"nginx-web.conf", `proxy_read_timeout (\d+)s;`, webchat.DefaultPingInterval},
		{"nginx-ssh-stream.conf", `proxy_timeout (\d+)s;`, sshchat.DefaultKeepalive},
		{"haproxy.cfg", `timeout client (\d+)s`, sshchat.DefaultKeepalive},
		{"haproxy.cfg", `timeout server (\d+)s`, sshchat.DefaultKeepalive},
	}
	for _, to := range timeouts {
		m := regexp.MustCompile(to.re).FindStringSubmatch(readDeploy(t, to.file))
		if m == nil {
			t.Errorf("%s: no %s", to.file, to.re)
			continue
		}
		if d, _ := time.ParseDuration(m[1] + "s"); d <= to.keepalive {
			t.Errorf("%s: %s is %v, want more than the server's keepalive %v", to.file, to.re, d, to.keepalive)
		}
	}
	for _, want := range []string{"hash $remote_addr consistent;", "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
		"proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;"} {
		if !strings.Contains(readDeploy(t, "nginx-web.conf"), want) {
			t.Errorf("nginx-web.conf lacks %q", want)
		}
	}
	for _, f := range []struct{ file, want string }{
		{"nginx-ssh-stream.conf", "proxy_protocol on;"}, {"nginx-ssh-stream.conf", "hash $remote_addr consistent;"},
		{"haproxy.cfg", "send-proxy-v2"}, {"haproxy.cfg", "balance source"},
	} {
		if !strings.Contains(readDeploy(t, f.file), f.want) {
			t.Errorf("%s lacks %q", f.file, f.want)
		}
	}
}

// systemd accepts both units; they are sandboxed as tightly as the single
// node's, give the processes time to stop cleanly, and the node's unit
// hands Tertulia the shared host key instead of letting it make one.
func TestClusterSystemdUnits(t *testing.T) {
	sa := systemdAnalyze(t)
	dir := t.TempDir()
	for _, u := range []struct{ name, bin, path string }{
		{"tertulia-node.service", "/usr/local/bin/tertulia", binary(t)},
		{"nats-server.service", "/usr/local/bin/nats-server", binary(t)}, // verify needs an executable
	} {
		content := readDeploy(t, u.name)
		path := filepath.Join(dir, u.name)
		must(t, os.WriteFile(path, []byte(rewrite(t, u.name, content, regexp.QuoteMeta("ExecStart="+u.bin+" "), "ExecStart="+u.path+" ", 1)), 0o644))
		if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || strings.Contains(string(out), u.name) {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u.name, err, out)
		}
		out, err := exec.Command(sa, "security", "--offline=yes", path).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(u.name) + `: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", u.name, err, out)
		}
		if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.5 {
			t.Errorf("%s: exposure level %v, want at most 2.5:\n%s", u.name, score, out)
		}
		vals := unitValues(content)
		for k, want := range map[string]string{"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
			"CapabilityBoundingSet": "", "Restart": "on-failure", "WantedBy": "multi-user.target"} {
			if got := vals[k]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s=%v, want %q", u.name, k, got, want)
			}
		}
	}

	node := unitValues(readDeploy(t, "tertulia-node.service"))
	if got := node["EnvironmentFile"]; len(got) != 1 || got[0] != "/etc/tertulia/tertulia.env" {
		t.Errorf("tertulia-node.service: EnvironmentFile=%v", got)
	}
	help := tertuliaHelp(t)
	flags := map[string]string{}
	for _, arg := range strings.Fields(node["ExecStart"][0])[1:] {
		name, val, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !helpLists(help, name) {
			t.Errorf("tertulia-node.service passes --%s, which tertulia --help does not list", name)
		}
		flags[name] = val
	}
	// The host key comes from the credentials folder, where systemd puts
	// the one shared key file: a node never generates one of its own.
	if flags["hostkeys"] != "%d" {
		t.Errorf("tertulia-node.service: --hostkeys=%q, want %%d (the credentials folder)", flags["hostkeys"])
	}
	if got := node["LoadCredential"]; len(got) != 1 || !strings.HasPrefix(got[0], "ssh_host_ed25519_key:/etc/tertulia/hostkeys/") {
		t.Errorf("tertulia-node.service: LoadCredential=%v, want the shared ed25519 host key", got)
	}
	shutdown := app.DefaultShutdownTimeout
	if v := envFile(readDeploy(t, "tertulia.env"))["TERTULIA_SHUTDOWN_TIMEOUT"]; v != "" {
		var err error
		shutdown, err = time.ParseDuration(v)
		must(t, err)
	}
	if stop, err := time.ParseDuration(strings.Join(node["TimeoutStopSec"], "")); err != nil || stop <= shutdown {
		t.Errorf("tertulia-node.service: TimeoutStopSec=%v must exceed the shutdown timeout %v", node["TimeoutStopSec"], shutdown)
	}

	// nats-server stops in lame duck mode, which must end before systemd
	// kills it.
	natsUnit := unitValues(readDeploy(t, "nats-server.service"))
	if got := natsUnit["KillSignal"]; len(got) != 1 || got[0] != "SIGUSR2" {
		t.Errorf("nats-server.service: KillSignal=%v, want SIGUSR2 (lame duck mode)", got)
	}
	conf := readDeploy(t, "nats.conf")
	var lameDuck time.Duration
	for _, key := range []string{"lame_duck_duration", "lame_duck_grace_period"} {
		m := regexp.MustCompile(`(?m)^` + key + `: (\S+)$`).FindStringSubmatch(conf)
		if m == nil {
			t.Fatalf("nats.conf sets no %s", key)
		}
		d, err := time.ParseDuration(m[1])
		must(t, err)
		lameDuck += d
	}
	if stop, err := time.ParseDuration(strings.Join(natsUnit["TimeoutStopSec"], "")); err != nil || stop <= lameDuck {
		t.Errorf("nats-server.service: TimeoutStopSec=%v must exceed the lame duck time %v", natsUnit["TimeoutStopSec"], lameDuck)
	}
	if m := regexp.MustCompile(`(?m)^\s*store_dir: (\S+)$`).FindStringSubmatch(conf); m == nil || m[1] != "/var/lib/"+strings.Join(natsUnit["StateDirectory"], "") {
		t.Errorf("nats.conf: store_dir %v, want the unit's StateDirectory %v", m, natsUnit["StateDirectory"])
	}
}

// deployNATSServer builds the pinned NATS server (the module go.mod
// names as a tool) into a temporary folder.
func deployNATSServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return path
}

// The NATS server Tertulia is tested with accepts deploy/cluster/nats.conf
// with each host's settings, and refuses it without them; three servers
// run from it (ports and folders moved) form one cluster whose JetStream
// keeps a three-replica bucket, as the nodes' leases and nicks need.
func TestClusterNATSConfig(t *testing.T) {
	bin := deployNATSServer(t)
	conf := readDeploy(t, "nats.conf")
	natsEnv := envFile(readDeploy(t, "nats.env"))
	for _, k := range []string{"NATS_SERVER_NAME", "NATS_CLIENT_PASSWORD"} {
		if natsEnv[k] == "" || !strings.Contains(conf, "$"+k) {
			t.Errorf("nats.env sets %s=%q; nats.conf must read it", k, natsEnv[k])
		}
	}
	check := func(env ...string) (string, error) {
		cmd := exec.Command(bin, "-t", "-c", filepath.Join(clusterDeploy, "nats.conf"))
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		if out, err := check("NATS_SERVER_NAME="+name, "NATS_CLIENT_PASSWORD=secret"); err != nil || !strings.Contains(out, "is valid") {
			t.Fatalf("nats-server -t as %s: %v\n%s", name, err, out)
		}
	}
	if out, err := check("NATS_CLIENT_PASSWORD=secret"); err == nil || !strings.Contains(out, "NATS_SERVER_NAME") {
		t.Fatalf("nats-server -t without a server name: %v\n%s", err, out)
	}

	// Three servers on loopback: the same file with its addresses moved.
	clientAddrs := []string{freePort(t), freePort(t), freePort(t)}
	routeAddrs := []string{freePort(t), freePort(t), freePort(t)}
	routes := ""
	for _, a := range routeAddrs {
		routes += "\n        nats-route://" + a
	}
	routes += "\n"
	const password = "test-password"
	var urls []string
	for i := range 3 {
		dir := t.TempDir()
		c := conf
		c = rewrite(t, "nats.conf", c, `(?m)^listen: \S+$`, "listen: "+clientAddrs[i], 1)
		c = rewrite(t, "nats.conf", c, `(?m)^http: \S+$`, "http: "+freePort(t), 1)
		c = rewrite(t, "nats.conf", c, `(?m)^    listen: \S+:6222$`, "    listen: "+routeAddrs[i], 1)
		c = rewrite(t, "nats.conf", c, `(?s)routes: \[.*?\n    \]`, "routes: ["+routes+"    ]", 1)
		c = rewrite(t, "nats.conf", c, `(?m)^    store_dir: \S+$`, "    store_dir: "+filepath.Join(dir, "js"), 1)
		path := filepath.Join(dir, "nats.conf")
		must(t, os.WriteFile(path, []byte(c), 0o600))
		cmd := exec.Command(bin, "-c", path)
		cmd.Env = append(os.Environ(), fmt.Sprintf("NATS_SERVER_NAME=nats-%d", i+1), "NATS_CLIENT_PASSWORD="+password)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		must(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		urls = append(urls, "nats://tertulia:"+password+"@"+clientAddrs[i])
	}

	// The servers start in the background: the client retries until one
	// answers; JetStream requests go unanswered until the three have
	// elected a meta leader, so each attempt has a short bound of its own.
	nc, err := nats.Connect(strings.Join(urls, ","), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	var kv jetstream.KeyValue
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		kv, err = js.CreateOrUpdateKeyValue(attempt, jetstream.KeyValueConfig{Bucket: "deploy_check", Replicas: 3, Storage: jetstream.FileStorage})
		if err != nil {
			<-attempt.Done() // pace failures that come back at once
		}
		cancelAttempt()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no three-replica bucket on the three servers: %v", err)
		}
	}
	_, err = kv.Put(ctx, "k", []byte("v"))
	must(t, err)
	status, err := kv.Status(ctx)
	must(t, err)
	info := status.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Cluster == nil || info.Cluster.Name != "tertulia" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("bucket placement: %+v, want a leader and two replicas in cluster tertulia", info.Cluster)
	}
	// Clients need the password.
	if nc, err := nats.Connect("nats://tertulia:wrong@" + clientAddrs[0]); err == nil {
		nc.Close()
		t.Fatal("a client with a wrong password was let in")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("a wrong password: %v, want an authorization error", err)
	}
}

// deployNode is a cluster node for the balancer tests. It names itself in
// its message of the day, so that a client sees which node it reached, and
// its /readyz fails while unready is set.
type deployNode struct {
	*server
	id      string
	unready atomic.Bool
}

// deployNodes starts n nodes sharing PostgreSQL and NATS, as tertulia.env
// configures them: PROXY headers read, believed from the balancer
// (127.0.0.1, where nginx and HAProxy run; the clients dial from other
// loopback addresses).
func deployNodes(t *testing.T, n int) []*deployNode {
	t.Helper()
	url, bus := postgresDatabase(t), natstest.Start(t)
	var nodes []*deployNode
	for i := range n {
		d := &deployNode{id: fmt.Sprintf("node-%d", i+1)}
		motd := filepath.Join(t.TempDir(), "motd")
		must(t, os.WriteFile(motd, []byte("This is "+d.id+".\n"), 0o600))
		d.server = startServer(t, func(c *app.Config) {
			c.Store, c.Cluster, c.NodeID = url, bus.URL(), d.id
			c.Files.MOTD = motd
			c.SSH.ProxyProtocol = true
			c.Web.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			c.ReadyChecks = append(c.ReadyChecks, health.Check{Name: "test", Func: func(context.Context) error {
				if d.unready.Load() {
					return errors.New("made unready by the test")
				}
				return nil
			}})
		})
		nodes = append(nodes, d)
	}
	return nodes
}

var motdNode = regexp.MustCompile(`This is (node-\d+)\.`)

// sshNode connects through the balancer at addr from the loopback address
// from, as nick, and returns the node that answered.
func sshNode(t *testing.T, addr, from, nick string) (string, *lineClient) {
	t.Helper()
	lc := newLineClientFrom(t, from, addr, nick)
	m := motdNode.FindStringSubmatch(lc.expectFunc("the node's MOTD", motdNode.MatchString))
	return m[1], lc
}

// ownAddress asks the server, with /whois, the address it sees for the
// client's own nick.
func (lc *lineClient) ownAddress(nick string) string {
	lc.t.Helper()
	lc.send("/whois " + nick)
	_, addr, _ := strings.Cut(lc.expectFunc("address in /whois", func(l string) bool { return strings.Contains(l, "address ") }), "address ")
	return strings.TrimSpace(addr)
}

// rewriteUpstream rewrites the three server lines of an upstream (re matches one,
// its first group the parameters after the address) into one line per
// address, with the same parameters.
func rewriteUpstream(t *testing.T, name, s, re string, addrs []string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	ms := rx.FindAllStringSubmatchIndex(s, -1)
	if len(ms) != len(exampleNodes()) {
		t.Fatalf("%s: %d matches of %q, want %d", name, len(ms), re, len(exampleNodes()))
	}
	params := s[ms[0][2]:ms[0][3]]
	var lines []string
	for _, a := range addrs {
		lines = append(lines, "server "+a+params+";")
	}
	out := s[:ms[0][0]] + strings.Join(lines, "\n        ")
	for i := 1; i < len(ms); i++ {
		out += s[ms[i-1][1]:ms[i][0]]
	}
	return out + s[ms[len(ms)-1][1]:]
}

// ngxStreamModule is Debian's nginx stream module (libnginx-mod-stream).
const ngxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// clusterNginx is Debian's nginx running deploy/cluster's web site and SSH
// stream balancer, their listeners and upstreams moved to loopback.
type clusterNginx struct {
	HTTPSAddr, SSHAddr string
	Roots              *x509.CertPool
}

func startDeployNginx(t *testing.T, nodes []*deployNode) *clusterNginx {
	t.Helper()
	bin := nginxPath(t)
	if _, err := os.Stat(ngxStreamModule); err != nil {
		t.Fatal("nginx's stream module not found: run ./scripts/test, which installs libnginx-mod-stream")
	}
	dir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, dir)
	p := &clusterNginx{HTTPSAddr: freePort(t), SSHAddr: freePort(t), Roots: roots}
	var httpAddrs, sshAddrs []string
	for _, n := range nodes {
		httpAddrs, sshAddrs = append(httpAddrs, n.HTTPAddr), append(sshAddrs, n.SSHAddr)
	}
	webroot := filepath.Join(dir, "www")
	must(t, os.MkdirAll(webroot, 0o755))

	const webName, streamName = "nginx-web.conf", "nginx-ssh-stream.conf"
	web := readDeploy(t, webName)
	web = rewrite(t, webName, web, `(?m)^\s*listen \[::\]:\d+[^;]*;\n`, "", 2)
	web = rewrite(t, webName, web, `listen 80;`, "listen "+freePort(t)+";", 1)
	web = rewrite(t, webName, web, `listen 443 ssl;`, "listen "+p.HTTPSAddr+" ssl;", 1)
	web = rewrite(t, webName, web, `/etc/letsencrypt/live/chat\.example\.com/fullchain\.pem`, certFile, 1)
	web = rewrite(t, webName, web, `/etc/letsencrypt/live/chat\.example\.com/privkey\.pem`, keyFile, 1)
	web = rewrite(t, webName, web, `root /var/www/html;`, "root "+webroot+";", 1)
	web = rewriteUpstream(t, webName, web, `server 10\.0\.0\.\d+:8080([^;]*);`, httpAddrs)
	stream := readDeploy(t, streamName)
	stream = rewrite(t, streamName, stream, `listen 22;`, "listen "+p.SSHAddr+";", 1)
	stream = rewrite(t, streamName, stream, `(?m)^\s*listen \[::\]:22;\n`, "", 1)
	stream = rewriteUpstream(t, streamName, stream, `server 10\.0\.0\.\d+:2222([^;]*);`, sshAddrs)
	must(t, os.WriteFile(filepath.Join(dir, webName), []byte(web), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, streamName), []byte(stream), 0o600))
	temps := nginxTempPaths(t, dir)
	// The stream block sits at the top level, as the file's install notes
	// say; the site inside http.
	main := fmt.Sprintf(`# written by e2e/cluster_deploy_test.go
load_module %[2]s;
error_log stderr notice;
events { worker_connections 256; }
include %[1]s/%[3]s;
http {
    access_log %[1]s/access.log;
    %[5]s
    include %[1]s/%[4]s;
}
`, dir, ngxStreamModule, streamName, webName, temps)
	conf := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(conf, []byte(main), 0o600))

	// nginx -t, as an operator runs it before reloading.
	pidOpt := "pid " + filepath.Join(dir, "nginx.pid") + ";"
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", conf, "-e", "stderr", "-g", pidOpt).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	runNginxConf(t, bin, dir, conf, pidOpt)

	return p
}

// webNode says hello as nick on a websocket through nginx from the
// loopback address from, and returns the node that answered.
func (p *clusterNginx) webNode(t *testing.T, from, nick string) (string, *wsClient) {
	t.Helper()
	d := dialerFrom(from)
	wsd := &websocket.Dialer{NetDialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: p.Roots}, HandshakeTimeout: waitTimeout}
	conn, resp, err := wsd.Dial("wss://"+p.HTTPSAddr+"/ws", nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("websocket through nginx: %v (%d %s)", err, resp.StatusCode, b)
		}
		t.Fatalf("websocket through nginx: %v", err)
	}
	wc := wrapWS(t, conn)
	if err := wc.ws.Hello(nick); err != nil {
		t.Fatal(err)
	}
	f := wc.expect("the node's MOTD", func(f frame) bool { return f.Type == "notice" && motdNode.MatchString(f.Text) })
	return motdNode.FindStringSubmatch(f.Text)[1], wc
}

// addressPerNode tries client addresses 127.0.0.20 onwards through a
// balancer until it has found one that reaches each node; reach connects
// from an address and names the node it reached.
func addressPerNode(t *testing.T, nodes []*deployNode, reach func(from string, i int) string) map[string]string {
	t.Helper()
	found := map[string]string{} // node id → client address
	for i := 20; len(found) < len(nodes); i++ {
		if i > 80 {
			t.Fatalf("60 client addresses reached only %v: the balancer does not spread them", found)
		}
		from := fmt.Sprintf("127.0.0.%d", i)
		if node := reach(from, i); found[node] == "" {
			found[node] = from
		}
	}
	return found
}

// Debian's nginx with deploy/cluster's site and SSH stream balancer in
// front of two nodes: each client address sticks to one node for the web
// and for SSH, the addresses spread over both, every node sees the
// client's own address (X-Forwarded-For for the web, the PROXY header for
// SSH), the probes are not public, and once a node stops, the clients it
// had reach the other one.
func TestClusterThroughNginx(t *testing.T) {
	nodes := deployNodes(t, 2)
	ngx := startDeployNginx(t, nodes)

	web := addressPerNode(t, nodes, func(from string, i int) string {
		node, wc := ngx.webNode(t, from, fmt.Sprintf("w%d", i))
		wc.conn.Close()
		return node
	})
	ssh := addressPerNode(t, nodes, func(from string, i int) string {
		node, lc := sshNode(t, ngx.SSHAddr, from, fmt.Sprintf("s%d", i))
		lc.client.Close()
		return node
	})
	for _, n := range nodes {
		for i := range 3 {
			if got, wc := ngx.webNode(t, web[n.id], fmt.Sprintf("againw%s%d", n.id[len("node-"):], i)); got != n.id {
				t.Fatalf("web client %s reached %s, then %s", web[n.id], n.id, got)
			} else {
				wc.conn.Close()
			}
			if got, lc := sshNode(t, ngx.SSHAddr, ssh[n.id], fmt.Sprintf("agains%s%d", n.id[len("node-"):], i)); got != n.id {
				t.Fatalf("SSH client %s reached %s, then %s", ssh[n.id], n.id, got)
			} else {
				lc.client.Close()
			}
		}
	}

	// The nodes see the clients' addresses, not nginx's, and the two
	// chat across nodes.
	_, sshy := sshNode(t, ngx.SSHAddr, ssh["node-1"], "sshy")
	if got := sshy.ownAddress("sshy"); got != ssh["node-1"] {
		t.Fatalf("SSH through nginx seen from %q, want %s", got, ssh["node-1"])
	}
	_, webby := ngx.webNode(t, web["node-2"], "webby")
	webby.say("/whois webby")
	webby.expect("own address", func(f frame) bool { return strings.Contains(string(f.Raw), "address "+web["node-2"]) })
	webby.say("hello through nginx")
	sshy.expect("#lobby <webby> hello through nginx")

	resp, err := (&http.Client{Timeout: waitTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ngx.Roots}}}).Get("https://" + ngx.HTTPSAddr + "/readyz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/readyz through nginx: %d, want 403", resp.StatusCode)
	}

	// node-1 stops: its clients come back through nginx to node-2.
	nodes[0].Stop()
	if got, _ := ngx.webNode(t, web["node-1"], "movedweb"); got != "node-2" {
		t.Fatalf("web client of the stopped node reached %s", got)
	}
	if got, _ := sshNode(t, ngx.SSHAddr, ssh["node-1"], "movedssh"); got != "node-2" {
		t.Fatalf("SSH client of the stopped node reached %s", got)
	}
}

// haproxyPath finds Debian's HAProxy; a missing one fails the test.
func haproxyPath(t *testing.T) string {
	t.Helper()
	return daemonPath(t, "haproxy", "haproxy")
}

// clusterHAProxy is HAProxy running deploy/cluster/haproxy.cfg in front of
// nodes: no chroot, user or daemon, logging to stderr, listening on a
// socket the test made (so it is listening before HAProxy runs), with
// faster health checks and fewer connections.
type clusterHAProxy struct {
	SSHAddr string
	logs    chan string
	exited  chan struct{}
}

func startClusterHAProxy(t *testing.T, nodes []*deployNode) *clusterHAProxy {
	t.Helper()
	bin := haproxyPath(t)
	const name = "haproxy.cfg"
	cfg := readDeploy(t, name)
	if out, err := exec.Command(bin, "-c", "-f", filepath.Join(clusterDeploy, name)).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c of the real file: %v\n%s", err, out)
	}
	cfg = rewrite(t, name, cfg, `(?m)^\s*(chroot|user|group|daemon)\b.*\n`, "", 4)
	cfg = rewrite(t, name, cfg, `(?m)^\s*log /dev/log .*$`, "    log stderr format raw local0 info", 1)
	cfg = rewrite(t, name, cfg, `(?m)^\s*bind :22$`, "    bind fd@3", 1)
	cfg = rewrite(t, name, cfg, `(?m)^\s*bind :::22 v6only\n`, "", 1)
	cfg = rewrite(t, name, cfg, `inter 2s fall 2 rise 2`, "inter 100ms fall 2 rise 1", 1)
	// Two descriptors per connection: more than a test process may open.
	cfg = rewrite(t, name, cfg, `(?m)^\s*maxconn \d+$`, "    maxconn 1000", 1)
	rx := regexp.MustCompile(`(?m)^\s*server (node-\d) 10\.0\.0\.\d+:2222$`)
	if got := len(rx.FindAllString(cfg, -1)); got != len(exampleNodes()) {
		t.Fatalf("%s: %d server lines, want %d", name, got, len(exampleNodes()))
	}
	var servers []string
	for _, n := range nodes {
		_, httpPort, _ := net.SplitHostPort(n.HTTPAddr)
		// "port" moves the health checks to this node's HTTP port.
		servers = append(servers, fmt.Sprintf("    server %s %s port %s", n.id, n.SSHAddr, httpPort))
	}
	first := true
	cfg = rx.ReplaceAllStringFunc(cfg, func(string) string {
		if first {
			first = false
			return strings.Join(servers, "\n")
		}
		return ""
	})
	path := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(path, []byte(cfg), 0o600))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f, err := ln.(*net.TCPListener).File()
	must(t, err)
	ln.Close() // f still holds the listening socket
	defer f.Close()
	h := &clusterHAProxy{SSHAddr: ln.Addr().String(), logs: make(chan string, 10000), exited: make(chan struct{})}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.ExtraFiles = []*os.File{f} // fd 3
	stderr, err := cmd.StderrPipe()
	must(t, err)
	cmd.Stdout = testWriter{t}
	must(t, cmd.Start())
	go func() {
		defer close(h.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("haproxy: " + sc.Text())
			select {
			case h.logs <- sc.Text():
			default:
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			<-h.exited
		}
	})
	return h
}

// expectLog waits for a log line containing want.
func (h *clusterHAProxy) expectLog(t *testing.T, want string) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case l := <-h.logs:
			if strings.Contains(l, want) {
				return
			}
		case <-h.exited:
			t.Fatalf("haproxy exited before logging %q", want)
		case <-timer.C:
			t.Fatalf("haproxy did not log %q", want)
		}
	}
}

// Debian's HAProxy with deploy/cluster/haproxy.cfg in front of two nodes'
// SSH: each client address sticks to one node, the addresses spread over
// both, the node sees the client's address in the PROXY header, and a node
// whose /readyz fails gets no new clients until it is ready again.
func TestClusterThroughHAProxy(t *testing.T) {
	nodes := deployNodes(t, 2)
	h := startClusterHAProxy(t, nodes)

	ssh := addressPerNode(t, nodes, func(from string, i int) string {
		node, lc := sshNode(t, h.SSHAddr, from, fmt.Sprintf("s%d", i))
		lc.client.Close()
		return node
	})
	for _, n := range nodes {
		for i := range 3 {
			if got, lc := sshNode(t, h.SSHAddr, ssh[n.id], fmt.Sprintf("again%s%d", n.id[len("node-"):], i)); got != n.id {
				t.Fatalf("client %s reached %s, then %s", ssh[n.id], n.id, got)
			} else {
				lc.client.Close()
			}
		}
	}
	_, carol := sshNode(t, h.SSHAddr, ssh["node-1"], "carol")
	if got := carol.ownAddress("carol"); got != ssh["node-1"] {
		t.Fatalf("SSH through HAProxy seen from %q, want %s", got, ssh["node-1"])
	}

	nodes[0].unready.Store(true)
	h.expectLog(t, "node-1 is DOWN")
	if got, _ := sshNode(t, h.SSHAddr, ssh["node-1"], "whiledown"); got != "node-2" {
		t.Fatalf("with node-1 not ready, its client reached %s", got)
	}
	// Sessions already on the node are not cut by the balancer.
	carol.send("still here")
	carol.expect("<carol> still here")

	nodes[0].unready.Store(false)
	h.expectLog(t, "node-1 is UP")
	if got, _ := sshNode(t, h.SSHAddr, ssh["node-1"], "back"); got != "node-1" {
		t.Fatalf("with node-1 ready again, its client reached %s", got)
	}
}
