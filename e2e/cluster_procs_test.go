package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// --- three NATS servers as processes ------------------------------------

var (
	natsBuildOnce sync.Once
	natsBuildPath string
	natsBuildErr  error
)

// natsServerBinary builds the pinned github.com/nats-io/nats-server/v2 (a
// tool of go.mod) next to the tertulia binary, once per run; the Go build
// cache makes it quick after the first time.
func natsServerBinary(t testing.TB) string {
	t.Helper()
	dir := filepath.Dir(binary(t))
	natsBuildOnce.Do(func() {
		path := filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsBuildErr = fmt.Errorf("go build nats-server (run ./scripts/test): %v\n%s", err, out)
			return
		}
		natsBuildPath = path
	})
	if natsBuildErr != nil {
		t.Fatal(natsBuildErr)
	}
	return natsBuildPath
}

// natsProc is one nats-server process of a NATS cluster.
type natsProc struct {
	Name    string // its server_name
	URL     string // nats://127.0.0.1:port
	Monitor string // host:port of its monitoring endpoint
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startNATSCluster runs n nats-server processes routed to one another as
// one NATS cluster with JetStream, each storing in a folder of its own, and
// waits until each reports itself healthy (JetStream ready with a leader).
func startNATSCluster(t *testing.T, n int) []*natsProc {
	t.Helper()
	bin := natsServerBinary(t)
	dir := t.TempDir()
	type ports struct{ client, route, monitor string }
	var ps []ports
	var routes []string
	for range n {
		p := ports{freePort(t), freePort(t), freePort(t)}
		ps = append(ps, p)
		routes = append(routes, "nats-route://"+p.route)
	}
	var servers []*natsProc
	for i, p := range ps {
		name := fmt.Sprintf("nats-%d", i+1)
		conf := fmt.Sprintf(`server_name: %s
listen: %s
http: %s
jetstream { store_dir: %q }
cluster { name: tertulia-e2e, listen: %s, routes: [%s] }
`, name, p.client, p.monitor, filepath.Join(dir, name), p.route, strings.Join(routes, ", "))
		confPath := filepath.Join(dir, name+".conf")
		must(t, os.WriteFile(confPath, []byte(conf), 0o600))
		logFile, err := os.Create(filepath.Join(dir, name+".log"))
		must(t, err)
		cmd := exec.Command(bin, "-c", confPath)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		must(t, cmd.Start())
		s := &natsProc{Name: name, URL: "nats://" + p.client, Monitor: p.monitor, cmd: cmd, exited: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			logFile.Close()
			close(s.exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-s.exited
			logTailIfFailed(t, name, logFile.Name())
		})
		servers = append(servers, s)
	}
	deadline := time.Now().Add(waitTimeout)
	client := &http.Client{Timeout: time.Second}
	for _, s := range servers {
		// No event says "JetStream has its leader": ask the server's own
		// health check until it says so.
		for {
			resp, err := client.Get("http://" + s.Monitor + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not healthy in time (%v); its log is in %s", s.Name, err, dir)
			}
			select {
			case <-s.exited:
				t.Fatalf("%s exited at start; its log is in %s", s.Name, dir)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return servers
}

// logTailIfFailed shows the end of a helper process's log when the test
// failed (the log goes with the test's temporary folder).
func logTailIfFailed(t *testing.T, name, path string) {
	if !t.Failed() {
		return
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	t.Logf("the last lines of %s's log:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
}

func natsURLs(servers []*natsProc) string {
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL)
	}
	return strings.Join(urls, ",")
}

// --- nginx in front of three nodes ---------------------------------------

// clusterProxy is nginx in front of the nodes: HTTP (websockets) and SSH
// (stream, with the PROXY protocol). A client is sent to a node by its
// address (client-address affinity): 127.0.0.x goes to node nodeFor(x),
// and to the other nodes, in order, when that one does not answer.
type clusterProxy struct {
	HTTPAddr, SSHAddr string
}

// nodeFor is the node (0-based) nginx sends the client 127.0.0.last to
// while that node answers: the last digit 1, 4, 7 → node 1; 2, 5, 8 →
// node 2; 0, 3, 6, 9 → node 3.
func nodeFor(last int) int {
	switch last % 10 {
	case 1, 4, 7:
		return 0
	case 2, 5, 8:
		return 1
	}
	return 2
}

func startClusterNginx(t *testing.T, nodes []*process) *clusterProxy {
	t.Helper()
	bin := nginxPath(t)
	const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
	if _, err := os.Stat(streamModule); err != nil {
		t.Fatalf("nginx's stream module is missing (%v): run ./scripts/test, which installs libnginx-mod-stream", err)
	}
	dir := t.TempDir()
	p := &clusterProxy{HTTPAddr: freePort(t), SSHAddr: freePort(t)}
	var upstreams strings.Builder
	for first := range nodes {
		for _, proto := range []string{"web", "ssh"} {
			fmt.Fprintf(&upstreams, "upstream %s_%d {\n", proto, first+1)
			for i := range nodes {
				n := nodes[(first+i)%len(nodes)]
				addr, backup := n.HTTPAddr, ""
				if proto == "ssh" {
					addr = n.SSHAddr
				}
				if i > 0 {
					backup = " backup"
				}
				fmt.Fprintf(&upstreams, "    server %s%s;\n", addr, backup)
			}
			upstreams.WriteString("}\n")
		}
	}
	all := upstreams.String()
	webUpstreams := regexp.MustCompile(`(?s)upstream ssh_\d \{.*?\}\n`).ReplaceAllString(all, "")
	sshUpstreams := regexp.MustCompile(`(?s)upstream web_\d \{.*?\}\n`).ReplaceAllString(all, "")
	affinity := func(proto string) string {
		return fmt.Sprintf(`map $remote_addr $%[1]s_node {
        "~[147]$" %[1]s_1;
        "~[258]$" %[1]s_2;
        default   %[1]s_3;
    }`, proto)
	}
	temps := nginxTempPaths(t, dir)
	conf := fmt.Sprintf(`# written by e2e/cluster_procs_test.go
load_module %[1]s;
error_log stderr notice;
events { worker_connections 1024; }
http {
    access_log off;
    %[8]s
    %[2]s
    %[3]s
    map $http_upgrade $connection_upgrade { default upgrade; "" close; }
    server {
        listen %[4]s;
        location / {
            proxy_pass http://$web_node;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
            proxy_read_timeout 1h;
        }
    }
}
stream {
    %[5]s
    %[6]s
    server {
        listen %[7]s;
        proxy_pass $ssh_node;
        proxy_protocol on;
        proxy_connect_timeout 2s;
    }
}
`, streamModule, webUpstreams, affinity("web"), p.HTTPAddr, sshUpstreams, affinity("ssh"), p.SSHAddr, temps)
	must(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600))
	runNginxConf(t, bin, dir, filepath.Join(dir, "nginx.conf"), "pid "+filepath.Join(dir, "nginx.pid")+";")
	return p
}

// --- the cluster ----------------------------------------------------------

// procCluster is three Tertulia processes sharing one PostgreSQL database,
// three NATS servers and their host keys, behind nginx.
type procCluster struct {
	t       *testing.T
	nats    []*natsProc
	nodes   []*process
	proxy   *clusterProxy
	store   string
	dirs    []string
	addrs   [][2]string // each node's SSH and HTTP addresses
	admins  string
	hostKey string
}

func startProcCluster(t *testing.T, store, admins string) *procCluster {
	t.Helper()
	c := &procCluster{t: t, store: store, admins: admins, hostKey: filepath.Join(t.TempDir(), "hostkeys")}
	c.nats = startNATSCluster(t, 3)
	for i := range 3 {
		c.dirs = append(c.dirs, t.TempDir())
		// Fixed ports: a node started again is where nginx expects it.
		c.addrs = append(c.addrs, [2]string{freePort(t), freePort(t)})
		c.nodes = append(c.nodes, c.startNode(i))
	}
	c.proxy = startClusterNginx(t, c.nodes)
	return c
}

func (c *procCluster) startNode(i int) *process {
	c.t.Helper()
	return startProcess(c.t, c.dirs[i],
		"--ssh-addr", c.addrs[i][0], "--http-addr", c.addrs[i][1],
		"--store", c.store, "--cluster", natsURLs(c.nats), "--node-id", fmt.Sprintf("node-%d", i+1),
		"--hostkeys", c.hostKey, "--admins", c.admins,
		"--ssh-proxy-protocol", "--trusted-proxies", "127.0.0.1/32")
}

// web connects a websocket through nginx from 127.0.0.last and says hello
// as nick; it returns the client and the first answer (welcome or error).
func (c *procCluster) web(last int, nick string) (*wsClient, frame) {
	c.t.Helper()
	wc := dialWSFrom(c.t, fmt.Sprintf("127.0.0.%d", last), c.proxy.HTTPAddr)
	if err := wc.ws.Hello(nick); err != nil {
		c.t.Fatalf("hello: %v", err)
	}
	return wc, wc.expect("welcome or error", func(f frame) bool { return f.Type == "welcome" || f.Type == "error" })
}

// webJoin is web, failing unless nick is welcomed.
func (c *procCluster) webJoin(last int, nick string) *wsClient {
	c.t.Helper()
	wc, f := c.web(last, nick)
	if f.Type != "welcome" || f.Nick != nick {
		c.t.Fatalf("%s from 127.0.0.%d: %+v", nick, last, f.Frame)
	}
	return wc
}

// ssh opens a line-mode SSH session through nginx's stream proxy from
// 127.0.0.last as nick and waits for its welcome.
func (c *procCluster) ssh(last int, nick string) *lineClient {
	c.t.Helper()
	lc := newLineClientFrom(c.t, fmt.Sprintf("127.0.0.%d", last), c.proxy.SSHAddr, nick)
	if got := lc.expect("-!- welcome "); got != "-!- welcome "+nick {
		c.t.Fatalf("ssh %s from 127.0.0.%d: %q", nick, last, got)
	}
	return lc
}

// --- reading what clients received ------------------------------------------

// marker is how the test's chat lines look: tag.sender.number.
var markerRx = regexp.MustCompile(`\b([a-z]+)\.([a-z0-9]+)\.(\d+)\b`)

// wsMarkers collects n lobby messages with the tag, in arrival order.
func wsMarkers(wc *wsClient, tag string, n int) []frame {
	wc.t.Helper()
	var got []frame
	for len(got) < n {
		got = append(got, wc.expect(fmt.Sprintf("%s message %d of %d", tag, len(got)+1, n), func(f frame) bool {
			return f.Type == "message" && f.Room == "lobby" && strings.HasPrefix(f.Text, tag+".")
		}))
	}
	return got
}

// lineMarkers collects n lobby lines carrying a tag marker, in order.
func lineMarkers(lc *lineClient, tag string, n int) []string {
	lc.t.Helper()
	var got []string
	for len(got) < n {
		l := lc.expectFunc(fmt.Sprintf("%s line %d of %d", tag, len(got)+1, n), func(l string) bool {
			m := markerRx.FindStringSubmatch(l)
			return strings.HasPrefix(l, "#lobby <") && m != nil && m[1] == tag
		})
		got = append(got, markerRx.FindString(l))
	}
	return got
}

// checkOnceInOrder: texts hold no duplicate, and each sender's numbers
// come in the order sent.
func checkOnceInOrder(t *testing.T, who string, texts []string) {
	t.Helper()
	seen := map[string]bool{}
	next := map[string]int{}
	for _, s := range texts {
		if seen[s] {
			t.Fatalf("%s got %q twice", who, s)
		}
		seen[s] = true
		m := markerRx.FindStringSubmatch(s)
		if num, _ := strconv.Atoi(m[3]); num != next[m[2]] {
			t.Fatalf("%s: %q, want number %d from %s", who, s, next[m[2]], m[2])
		}
		next[m[2]]++
	}
}

func texts(fs []frame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Text)
	}
	return out
}

// closedWithin waits for a websocket's close and returns how long it took.
func closedWithin(t *testing.T, wc *wsClient, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-wc.closed:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: the websocket was not closed", what)
	}
	return time.Since(start)
}

func lineClosed(t *testing.T, lc *lineClient, what string) {
	t.Helper()
	select {
	case <-lc.closed:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: the SSH session was not closed", what)
	}
}

// messageIDs is a history's messages as "id text".
func messageIDs(fs []frame) []string {
	var out []string
	for _, f := range fs {
		if f.Type == "message" {
			out = append(out, fmt.Sprintf("%d %s", f.ID, f.Text))
		}
	}
	return out
}

// --- the test ----------------------------------------------------------------

// Three Tertulia processes, three NATS servers in one NATS cluster, one
// PostgreSQL, nginx in front (websockets over HTTP, SSH over its stream
// module with the PROXY protocol), all real processes. One set-up, the
// failures in turn: a single node's SQLite history migrated in first is
// served by every node; SSH line-mode, terminal and websocket clients on
// every node see one order with senders on every node; a ban reaches
// another node within a second and a private message crosses nodes; one
// nick asked for by 50 connections at once goes to one; a node is killed
// and its members part everywhere within 6 s and come back through nginx
// to a complete history under their nicks; a node is stopped for 15 s and
// nobody holds a nick twice, its clients are closed when it resumes and
// can come back; the NATS server leading the leases' bucket is killed and
// delivery resumes within 10 s with nothing lost or doubled (the nodes
// lose their leases while JetStream elects a new leader, so their users
// connect again and catch up, as the page does).
func TestClusterOfProcesses(t *testing.T) {
	// A single node's SQLite history, migrated into the cluster's store.
	single := startProcess(t, t.TempDir())
	founder := joinWS(t, single.HTTPAddr, "founder")
	for _, text := range []string{"old.founder.0", "old.founder.1", "old.founder.2"} {
		founder.say(text)
		founder.expect("echo", isMessage("founder", text))
	}
	founder.say("/join #archive")
	founder.expect("#archive history", func(f frame) bool { return f.Type == "history" && f.Room == "archive" })
	founder.sendJSON(map[string]string{"type": "say", "room": "archive", "text": "kept in a room of its own"})
	founder.expect("echo", isMessage("founder", "kept in a room of its own"))
	singleHistory := messageIDs(historyAll(t, founder, "lobby"))
	must(t, single.stop(syscall.SIGTERM))
	store := postgresDatabase(t)
	out, err := exec.Command(binary(t), "migrate", "--from", singleDBPath(single), "--to", store).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied and verified") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	admins := filepath.Join(t.TempDir(), "admins")
	bossKey := newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	started := time.Now()
	c := startProcCluster(t, store, admins)
	t.Logf("three NATS servers, three nodes and nginx started in %v", time.Since(started))

	// Websocket clients through nginx from 127.0.0.21-23 land on nodes
	// 1-3; line-mode SSH clients through nginx from .24-.26 too.
	webs := []*wsClient{c.webJoin(21, "wone"), c.webJoin(22, "wtwo"), c.webJoin(23, "wthree")}
	webNicks := []string{"wone", "wtwo", "wthree"}

	t.Run("migrated history on every node", func(t *testing.T) {
		for i, wc := range webs {
			if got := messageIDs(historyAll(t, wc, "lobby")); !slices.Equal(got, singleHistory) {
				t.Fatalf("node %d's lobby history: %q, want the single node's %q", i+1, got, singleHistory)
			}
			reader := joinWS(t, c.nodes[i].HTTPAddr, fmt.Sprintf("reader%d", i+1))
			reader.say("/join #archive")
			h := reader.expect("#archive history", func(f frame) bool { return f.Type == "history" && f.Room == "archive" })
			if !strings.Contains(string(h.Raw), `"kept in a room of its own"`) {
				t.Fatalf("node %d's #archive history: %s", i+1, h.Raw)
			}
			reader.conn.Close()
		}
	})

	lines := []*lineClient{c.ssh(24, "lone"), c.ssh(25, "ltwo"), c.ssh(26, "lthree")}
	lineNicks := []string{"lone", "ltwo", "lthree"}
	// The terminal client connects to node 2 directly (the proxy's own
	// address may).
	pty := newPTYClient(t, c.nodes[1].SSHAddr, "tee", 120, 60)
	pty.waitScreen("tee │ #lobby")

	t.Run("one order across nodes and front-ends", func(t *testing.T) {
		// nginx passed the clients' addresses on: the SSH one in its PROXY
		// header.
		lines[0].send("/whois lone")
		if got := lines[0].expect("address "); !strings.HasSuffix(got, "address 127.0.0.24") {
			t.Fatalf("/whois through nginx's stream proxy: %q", got)
		}
		const perSender = 15
		var wg sync.WaitGroup
		for i, wc := range webs {
			wg.Go(func() {
				for n := range perSender {
					if err := wc.ws.Say("lobby", fmt.Sprintf("m.%s.%d", webNicks[i], n)); err != nil {
						t.Errorf("%s: %v", webNicks[i], err)
						return
					}
				}
			})
		}
		for i, lc := range lines {
			wg.Go(func() {
				for n := range perSender {
					if err := lc.line.Send(fmt.Sprintf("m.%s.%d", lineNicks[i], n)); err != nil {
						t.Errorf("%s: %v", lineNicks[i], err)
						return
					}
				}
			})
		}
		const fromTerminal = 5
		wg.Go(func() {
			for n := range fromTerminal {
				if _, err := fmt.Fprintf(pty.stdin, "m.tee.%d\r", n); err != nil {
					t.Errorf("tee: %v", err)
					return
				}
			}
		})
		wg.Wait()
		total := perSender*6 + fromTerminal
		reference := texts(wsMarkers(webs[0], "m", total))
		checkOnceInOrder(t, "wone", reference)
		for i, wc := range webs[1:] {
			if got := texts(wsMarkers(wc, "m", total)); !slices.Equal(got, reference) {
				t.Fatalf("%s's order differs from wone's:\n%q\n%q", webNicks[i+1], got, reference)
			}
		}
		for i, lc := range lines {
			if got := lineMarkers(lc, "m", total); !slices.Equal(got, reference) {
				t.Fatalf("%s's order differs from wone's:\n%q\n%q", lineNicks[i], got, reference)
			}
		}
		// The terminal shows the latest lines, in the same order.
		screen := pty.waitScreen("<" + strings.SplitN(reference[total-1], ".", 3)[1] + "> " + reference[total-1])
		shown := markerRx.FindAllString(screen, -1)
		var onScreen []string
		for _, s := range shown {
			if strings.HasPrefix(s, "m.") {
				onScreen = append(onScreen, s)
			}
		}
		if len(onScreen) < 10 || !slices.Equal(onScreen, reference[total-len(onScreen):]) {
			t.Fatalf("the terminal shows %q, want the end of %q", onScreen, reference)
		}
	})

	t.Run("ban within a second and a private message across nodes", func(t *testing.T) {
		boss := newLineClientFrom(t, "127.0.0.41", c.proxy.SSHAddr, "boss", keyAuth(bossKey)) // node 1
		boss.expect("-!- welcome boss")
		troll := c.webJoin(43, "troll") // node 3
		start := time.Now()
		boss.send("/ban troll spamming")
		took := closedWithin(t, troll, "ban")
		t.Logf("a /ban on node 1 closed the target's websocket on node 3 in %v", time.Since(start))
		var ce *websocket.CloseError
		if err := troll.closeErr(); !errors.As(err, &ce) || !strings.Contains(ce.Text, "banned by boss: spamming") {
			t.Fatalf("the target's websocket closed with %v", err)
		}
		if took > time.Second {
			t.Fatalf("the ban took %v to close the connection on node 3, want within 1 s", took)
		}
		webs[1].say("/msg wthree from node two to node three")
		if f := webs[2].expect("private message", func(f frame) bool { return f.Type == "private" }); f.From != "wtwo" || f.Text != "from node two to node three" {
			t.Fatalf("wthree got %+v", f.Frame)
		}
	})

	t.Run("fifty ask for one nick at once", func(t *testing.T) {
		var conns []*wsClient
		for i := range 50 {
			conns = append(conns, dialWSFrom(t, fmt.Sprintf("127.0.0.%d", 101+i), c.proxy.HTTPAddr))
		}
		var wg sync.WaitGroup
		for _, wc := range conns {
			wg.Go(func() { _ = wc.ws.Hello("highlander") })
		}
		wg.Wait()
		welcomed, perNode := 0, [3]int{}
		for i, wc := range conns {
			f := wc.expect("answer", func(f frame) bool { return f.Type == "welcome" || f.Type == "error" })
			switch {
			case f.Type == "welcome" && f.Nick == "highlander":
				welcomed++
			case f.Type == "error" && f.Code == "nick_taken":
			default:
				t.Errorf("connection %d: %+v", i, f.Frame)
			}
			perNode[nodeFor(101+i)]++
		}
		if welcomed != 1 {
			t.Fatalf("%d of 50 connections got the nick, want exactly 1", welcomed)
		}
		t.Logf("50 asked for one nick through nginx (per node %v): one got it", perNode)
		for _, wc := range conns {
			wc.conn.Close()
		}
	})

	t.Run("node killed", func(t *testing.T) {
		// Node 3 dies: wthree (web) and lthree (SSH) were on it.
		killed := time.Now()
		must(t, c.nodes[2].cmd.Process.Kill())
		<-c.nodes[2].exited
		var slowest time.Duration
		for _, w := range webs[:2] {
			parted := map[string]bool{}
			w.expect("wthree and lthree part", func(f frame) bool {
				if f.Type == "part" && f.Room == "lobby" && (f.Nick == "wthree" || f.Nick == "lthree") && f.Reason == "connection lost" {
					parted[f.Nick] = true
				}
				return len(parted) == 2
			})
			slowest = max(slowest, time.Since(killed))
		}
		t.Logf("the killed node's members parted on both other nodes %v after the kill", slowest)
		if slowest > 6*time.Second {
			t.Fatalf("the killed node's members parted %v after the kill, want within 6 s", slowest)
		}
		webs[0].say("said.wone.0")
		webs[0].expect("echo", isMessage("wone", "said.wone.0"))
		// They come back through nginx (to node 1, the next in its list),
		// under their nicks, to the whole history.
		back := c.webJoin(23, "wthree")
		if got, want := messageIDs(historyAll(t, back, "lobby")), messageIDs(historyAll(t, webs[0], "lobby")); !slices.Equal(got, want) {
			t.Fatalf("wthree's history after coming back differs from wone's:\n%q\n%q", got, want)
		}
		lines[2] = c.ssh(26, "lthree")
		webs[2] = back
		// Node 3 starts again, where nginx expects it.
		c.nodes[2] = c.startNode(2)
	})

	t.Run("node stopped for 15 s", func(t *testing.T) {
		c.stoppedNode(t, webs, lines)
	})

	t.Run("NATS server leading the buckets killed", func(t *testing.T) {
		c.natsFailover(t, webs, lines)
	})
}

// singleDBPath is the SQLite database of a process started by
// startProcess.
func singleDBPath(p *process) string {
	for i, a := range p.cmd.Args {
		if a == "--data" && i+1 < len(p.cmd.Args) {
			return filepath.Join(p.cmd.Args[i+1], "tertulia.db")
		}
	}
	return ""
}

// steadyClient is a websocket user who keeps reading the lobby through
// nginx the way the page does: when its connection is closed it connects
// again, under its nick, and asks the history after the last message it
// got. It sends a numbered message with a cid every tick until told to
// stop, once the one before is acknowledged; it sends again under the same
// cid a message refused (its node had no lease for a moment), and after a
// reconnection what was not acknowledged.
type steadyClient struct {
	c    *procCluster
	last int // its address, 127.0.0.last
	nick string
	wc   *wsClient

	got        []string      // tagged messages, in the order received
	lastID     uint64        // of the last message received
	caughtUp   uint64        // the last message of the history read after reconnecting
	reconnects int           // connections closed by the server
	refused    int           // says refused while its node had no lease
	refusedAt  [2]time.Time  // the first and last refusal
	retry      []string      // refused says to send again
	unacked    []string      // sent, not yet echoed
	lastAt     time.Time     // when the last message from another node came
	maxGap     time.Duration // the longest wait for one since the kill
}

// run drives the client until done: it sends every 50 ms until stop is
// closed, says on quiet when all it sent is acknowledged, and reads until
// it has want messages (sent on the channel once known). From killedAt
// on it notes the longest wait between two messages from other nodes.
func (s *steadyClient) run(t *testing.T, mu *sync.Mutex, killedAt *time.Time, stop <-chan struct{}, quiet chan<- string, want <-chan int) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	n, target := 0, -1
	deadline := time.After(60 * time.Second)
	stopped, told := false, false
	for target < 0 || len(s.got) < target {
		if stopped && !told && len(s.unacked) == 0 {
			told = true
			quiet <- s.nick
		}
		select {
		case <-tick.C:
			// Refused while the node had no lease: sent again, under
			// the same cid, until stored.
			for _, text := range s.retry {
				if slices.Contains(s.unacked, text) {
					_ = s.wc.ws.SendRaw(fmt.Appendf(nil, `{"type":"say","room":"lobby","text":%q,"cid":%q}`, text, text))
				}
			}
			s.retry = s.retry[:0]
			if stopped {
				continue
			}
			select {
			case <-stop:
				stopped = true
				continue
			default:
			}
			if len(s.unacked) > 0 {
				// One line at a time: a line refused while the node had no
				// lease is stored before any later one, so that each
				// sender's lines stay in the order sent.
				continue
			}
			text := fmt.Sprintf("f.%s.%d", s.nick, n)
			n++
			s.unacked = append(s.unacked, text)
			_ = s.wc.ws.SendRaw(fmt.Appendf(nil, `{"type":"say","room":"lobby","text":%q,"cid":%q}`, text, text))
		case f := <-s.wc.frames:
			if f.Type == "error" {
				// A node without its lease refuses to store (it sends again
				// once connected again); nothing else may be refused.
				if f.Code != "cluster_unavailable" {
					t.Errorf("%s: %s", s.nick, f.Raw)
				}
				s.refused++
				now := time.Now()
				if s.refusedAt[0].IsZero() {
					s.refusedAt[0] = now
				}
				s.refusedAt[1] = now
				if f.CID != "" {
					s.retry = append(s.retry, f.CID)
				}
			}
			if f.Type != "message" || f.Room != "lobby" || !strings.HasPrefix(f.Text, "f.") {
				continue
			}
			if f.ID <= s.caughtUp {
				continue // in the history read after reconnecting, and live too
			}
			if f.ID <= s.lastID {
				t.Errorf("%s got message %d (%q) after %d: a duplicate or out of order", s.nick, f.ID, f.Text, s.lastID)
				return
			}
			s.take(*f)
			if f.From != s.nick { // from another node
				mu.Lock()
				if !killedAt.IsZero() {
					s.maxGap = max(s.maxGap, time.Since(s.lastAt))
				}
				mu.Unlock()
				s.lastAt = time.Now()
			}
		case w := <-want:
			target = w
		case <-s.wc.closed:
			s.reconnects++
			t.Logf("%s's connection closed (%v); connecting again", s.nick, s.wc.closeErr())
			if !s.reconnect(t) {
				return
			}
		case <-deadline:
			t.Errorf("%s: still %d of %d messages after 60 s; unacknowledged %q", s.nick, len(s.got), target, s.unacked)
			return
		}
	}
}

func (s *steadyClient) take(f frame) {
	s.got = append(s.got, f.Text)
	s.lastID = f.ID
	if i := slices.Index(s.unacked, f.Text); i >= 0 && f.From == s.nick {
		s.unacked = slices.Delete(s.unacked, i, i+1)
	}
}

// reconnect connects again through nginx until welcomed (a node that lost
// its lease refuses until it holds it again), catches up with the history
// after the last message it got, and sends again what was not
// acknowledged (the cid makes a repeat harmless).
func (s *steadyClient) reconnect(t *testing.T) bool {
	until := time.Now().Add(waitTimeout)
	for {
		conn, _, err := dialWS(t, s.c.proxy.HTTPAddr, nil, &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
			return dialerFrom(fmt.Sprintf("127.0.0.%d", s.last)).Dial(network, addr)
		}})
		if err == nil {
			wc := wrapWS(t, conn)
			if wc.ws.Hello(s.nick) == nil {
				if f, ok := firstOf(wc, "welcome", "error"); ok && f.Type == "welcome" {
					s.wc = wc
					break
				} else if ok && f.Code != "cluster_unavailable" && f.Code != "nick_taken" {
					t.Errorf("%s connecting again: %+v", s.nick, f.Frame)
					return false
				}
			}
			conn.Close()
		}
		if time.Now().After(until) {
			t.Errorf("%s could not connect again within %v (%v)", s.nick, waitTimeout, err)
			return false
		}
	}
	for more := true; more; {
		s.wc.sendJSON(map[string]any{"type": "history", "room": "lobby", "after": s.lastID, "limit": 200})
		f, ok := firstOf(s.wc, "history")
		for ok && !strings.Contains(string(f.Raw), `"after"`) {
			f, ok = firstOf(s.wc, "history")
		}
		if !ok {
			t.Errorf("%s: no history after reconnecting", s.nick)
			return false
		}
		var page struct {
			More     bool    `json:"more"`
			Messages []frame `json:"messages"`
		}
		mustJSON(t, f.Raw, &page)
		for _, m := range page.Messages {
			if m.Type == "message" && m.ID > s.lastID && strings.HasPrefix(m.Text, "f.") {
				s.take(m)
			}
		}
		more = page.More
	}
	s.caughtUp = s.lastID
	s.maxGap = max(s.maxGap, time.Since(s.lastAt))
	s.lastAt = time.Now()
	for _, text := range s.unacked {
		_ = s.wc.ws.SendRaw(fmt.Appendf(nil, `{"type":"say","room":"lobby","text":%q,"cid":%q}`, text, text))
	}
	return true
}

// firstOf waits for the first frame of one of the types, skipping live
// messages the history will bring; ok is false if the connection closed
// or nothing came in time.
func firstOf(wc *wsClient, types ...string) (frame, bool) {
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case f := <-wc.frames:
			if slices.Contains(types, f.Type) {
				return *f, true
			}
		case <-wc.closed:
			return frame{}, false
		case <-timer.C:
			return frame{}, false
		}
	}
}

// natsFailover kills the NATS server leading the nodes' lease bucket while
// a user on every node sends: no connection is closed (the nodes refuse
// claims and messages, "try again", while JetStream elects a leader, and
// keep their sessions), delivery across nodes resumes within 10 s, and
// every user ends with every stored message once, in the store's order.
// The users connected before (webs and lines, websocket and SSH on every
// node) are still connected and can speak.
func (c *procCluster) natsFailover(t *testing.T, webs []*wsClient, lines []*lineClient) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := nats.Connect(natsURLs(c.nats))
	must(t, err)
	js, err := jetstream.New(nc)
	must(t, err)
	leaders := map[string]string{}
	for _, bucket := range []string{"tertulia_nodes", "tertulia_nicks", "tertulia_presence"} {
		s, err := js.Stream(ctx, "KV_"+bucket)
		must(t, err)
		info := s.CachedInfo()
		if info.Config.Replicas != 3 {
			t.Fatalf("bucket %s has %d replicas, want 3 with three NATS servers", bucket, info.Config.Replicas)
		}
		leaders[bucket] = info.Cluster.Leader
	}
	nc.Close()
	var victim *natsProc
	for _, n := range c.nats {
		if n.Name == leaders["tertulia_nodes"] {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("no NATS server named %q", leaders["tertulia_nodes"])
	}
	t.Logf("bucket leaders %v: killing %s, the leases' leader", leaders, victim.Name)

	var clients []*steadyClient
	for i, nick := range []string{"sone", "stwo", "sthree"} {
		last := 51 + i // nodes 1, 2, 3
		clients = append(clients, &steadyClient{c: c, last: last, nick: nick, wc: c.webJoin(last, nick)})
	}
	var mu sync.Mutex
	var killedAt time.Time
	stop := make(chan struct{})
	wants := []chan int{make(chan int, 1), make(chan int, 1), make(chan int, 1)}
	quiet := make(chan string, 3)
	watcher := c.webJoin(54, "watcher") // node 1
	var wg sync.WaitGroup
	for i, s := range clients {
		s.lastAt = time.Now()
		wg.Go(func() { s.run(t, &mu, &killedAt, stop, quiet, wants[i]) })
	}
	// A check failing below ends the test while the users still read:
	// they are told to stop first, so that none reports after the test
	// has ended (which would abort every other test).
	defer func() {
		if t.Failed() {
			for _, w := range wants {
				select {
				case w <- 0:
				default:
				}
			}
			wg.Wait()
		}
	}()
	// Messages flow between the nodes before the kill.
	wsMarkers(watcher, "f", 30)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	must(t, victim.cmd.Process.Kill())
	<-victim.exited
	// Keep sending through the whole time a lease may go unrenewed and
	// JetStream elects new leaders (4 to 9 s).
	<-time.After(time.Until(killedAt.Add(12 * time.Second)))
	close(stop)
	for range clients {
		select {
		case <-quiet:
		case <-time.After(waitTimeout):
			for _, w := range wants {
				w <- 0
			}
			wg.Wait()
			t.Fatal("a user's messages were not all acknowledged")
		}
	}
	// Everything said is stored once; the store's lobby is what every user
	// must have got.
	var stored []string
	for _, f := range historyAll(t, c.webJoin(57, "auditor"), "lobby") {
		if f.Type == "message" && strings.HasPrefix(f.Text, "f.") {
			stored = append(stored, f.Text)
		}
	}
	checkOnceInOrder(t, "the store", stored)
	for _, w := range wants {
		w <- len(stored)
	}
	wg.Wait()
	for _, s := range clients {
		if !slices.Equal(s.got, stored) {
			t.Fatalf("%s got %d messages, not the store's %d in its order", s.nick, len(s.got), len(stored))
		}
		t.Logf("%s: %d messages; %d says refused (no lease) over %v; connection closed %d times; longest wait for a message from another node after the kill %v",
			s.nick, len(s.got), s.refused, s.refusedAt[1].Sub(s.refusedAt[0]), s.reconnects, s.maxGap)
		if s.maxGap > 10*time.Second {
			t.Errorf("%s waited %v for a message after the NATS leader was killed, want delivery back within 10 s", s.nick, s.maxGap)
		}
		if s.reconnects > 0 {
			t.Errorf("%s's connection was closed %d times when a NATS server died, want never", s.nick, s.reconnects)
		}
	}
	for _, wc := range append([]*wsClient{watcher}, webs...) {
		select {
		case <-wc.closed:
			t.Fatalf("a websocket connected before the NATS server died was closed: %v", wc.closeErr())
		default:
		}
	}
	for i, lc := range lines {
		select {
		case <-lc.closed:
			t.Fatalf("the SSH session of %s was closed when the NATS server died", []string{"lone", "ltwo", "lthree"}[i])
		default:
		}
	}
	for i, wc := range webs {
		text := fmt.Sprintf("after.nats.w%d", i+1)
		wc.say(text)
		wc.expect("echo of "+text, func(f frame) bool { return f.Type == "message" && f.Text == text })
	}
	for i, lc := range lines {
		text := fmt.Sprintf("after.nats.l%d", i+1)
		lc.send(text)
		lc.expect(text)
	}
	t.Logf("%d messages sent during the failover, each stored once and received once, in one order, by every user", len(stored))
}

// stoppedNode stops node 2 for 15 s (SIGSTOP, then SIGCONT): the others
// see its members leave and give their nicks away; when it resumes it
// closes its clients rather than hold those nicks too, and serves them
// again.
func (c *procCluster) stoppedNode(t *testing.T, webs []*wsClient, lines []*lineClient) {
	stopped := c.nodes[1]
	must(t, stopped.cmd.Process.Signal(syscall.SIGSTOP))
	resumeAt := time.Now().Add(15 * time.Second)
	cont := func() { _ = stopped.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(cont)
	webs[0].expect("wtwo leaves with the stopped node", func(f frame) bool {
		return f.Type == "part" && f.Room == "lobby" && f.Nick == "wtwo"
	})
	// Someone else takes wtwo's nick on node 1 while node 2 is stopped;
	// node 3 sees one wtwo.
	other := joinWS(t, c.nodes[0].HTTPAddr, "wtwo")
	// (Directly: nginx may still count node 3, started again, as down
	// and send the client to a backup, which may be the stopped node.)
	onThree := joinWS(t, c.nodes[2].HTTPAddr, "watchthree")
	oneWtwo := func(when string) {
		t.Helper()
		onThree.say("/whois wtwo")
		f := onThree.expect("whois", func(f frame) bool { return f.Type == "notice" && strings.HasPrefix(f.Text, "wtwo ") })
		if n := strings.Count(f.Text, "connected since"); n != 1 {
			t.Fatalf("/whois wtwo on node 3 %s: %d sessions: %q", when, n, f.Text)
		}
	}
	oneWtwo("while node 2 is stopped")
	// The stopped node's client says something it cannot say once the
	// nick is someone else's.
	webs[1].say("stale.wtwo.0")
	// The stop lasts 15 s: the fault, not a synchronisation.
	time.Sleep(time.Until(resumeAt))
	cont()
	took := closedWithin(t, webs[1], "the stopped node's client after SIGCONT")
	var ce *websocket.CloseError
	if err := webs[1].closeErr(); !errors.As(err, &ce) || ce.Text != "cluster connection lost" {
		t.Fatalf("the stopped node's client closed with %v, want cluster connection lost", err)
	}
	t.Logf("the resumed node closed its client %v after SIGCONT", took)
	lineClosed(t, lines[1], "the stopped node's SSH client after SIGCONT")
	// Nothing was said under the nick held on node 1 by its old holder:
	// a message sent after the close arrives with nothing of it before.
	webs[0].say("after.wone.0")
	f := webs[0].expect("after the resume", func(f frame) bool {
		return f.Type == "message" && (f.Text == "after.wone.0" || strings.HasPrefix(f.Text, "stale."))
	})
	if f.Text != "after.wone.0" {
		t.Fatalf("a message from the stopped node's old wtwo reached node 1 while another held the nick: %+v", f.Frame)
	}
	oneWtwo("once node 2 resumed")
	// The old wtwo comes back (to node 2 again) once the nick is free.
	other.conn.Close()
	webs[0].expect("the other wtwo leaves", func(f frame) bool { return f.Type == "part" && f.Nick == "wtwo" })
	for {
		wc, f := c.web(22, "wtwo")
		if f.Type == "welcome" {
			wc.say("back.wtwo.0")
			webs[0].expect("wtwo back", isMessage("wtwo", "back.wtwo.0"))
			webs[1] = wc
			break
		}
		// The resumed node refuses until it holds its lease again.
		if f.Code != "cluster_unavailable" || time.Now().After(resumeAt.Add(waitTimeout)) {
			t.Fatalf("wtwo coming back: %+v", f.Frame)
		}
		wc.conn.Close()
	}
	lines[1] = c.ssh(25, "ltwo")
}
