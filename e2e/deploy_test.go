package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/health"
)

const systemdUnit = "../deploy/systemd/tertulia.service"

func systemdAnalyze(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: run ./scripts/test, which installs systemd")
	}
	return p
}

// unitWithBinary copies the real unit into a temporary folder with its
// ExecStart pointing at the freshly built binary (verify requires that the
// binary exists); nothing else changes.
func unitWithBinary(t *testing.T) (path, content string) {
	t.Helper()
	raw, err := os.ReadFile(systemdUnit)
	must(t, err)
	content = string(raw)
	if n := strings.Count(content, "ExecStart=/usr/local/bin/tertulia "); n != 1 {
		t.Fatalf("%s: %d ExecStart=/usr/local/bin/tertulia lines, want 1", systemdUnit, n)
	}
	path = filepath.Join(t.TempDir(), "tertulia.service")
	unit := strings.Replace(content, "ExecStart=/usr/local/bin/tertulia ", "ExecStart="+binary(t)+" ", 1)
	must(t, os.WriteFile(path, []byte(unit), 0o644))
	return path, content
}

// unitValues maps each directive of the unit to its values, in order.
func unitValues(content string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// systemd accepts deploy/systemd/tertulia.service, which runs the chat
// hardened, on port 22, with its state in /var/lib/tertulia.
func TestSystemdUnit(t *testing.T) {
	sa := systemdAnalyze(t)
	path, content := unitWithBinary(t)

	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "tertulia.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	vals := unitValues(content)
	for k, want := range map[string]string{
		"Restart":                 "on-failure",
		"DynamicUser":             "yes",
		"StateDirectory":          "tertulia",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"KillSignal":              "SIGTERM",
		"WantedBy":                "multi-user.target",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := vals[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}

	// The flags it passes exist, and put the state under /var/lib/tertulia.
	help, err := exec.Command(binary(t), "--help").CombinedOutput()
	must(t, err)
	flags := map[string]string{}
	for _, arg := range strings.Fields(vals["ExecStart"][0])[1:] {
		name, val, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		flags[name] = val
	}
	for _, env := range vals["Environment"] {
		k, v, _ := strings.Cut(env, "=")
		if k == "GOMEMLIMIT" { // the Go runtime's own, paired with MemoryHigh
			continue
		}
		if !strings.HasPrefix(k, "TERTULIA_") {
			t.Errorf("Environment=%s is not a TERTULIA_ flag", env)
			continue
		}
		flags[strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "TERTULIA_")), "_", "-")] = v
	}
	for name := range flags {
		if !strings.Contains(string(help), "  -"+name+" ") {
			t.Errorf("the unit sets --%s, which tertulia --help does not list", name)
		}
	}
	for name, want := range map[string]string{
		"ssh-addr": ":22", "http-addr": "127.0.0.1:8080",
		"data": "/var/lib/tertulia/data", "hostkeys": "/var/lib/tertulia/hostkeys",
	} {
		if flags[name] != want {
			t.Errorf("--%s=%q in the unit, want %q", name, flags[name], want)
		}
	}

	// Memory, tasks and descriptors are capped, so one process's trouble
	// stays its own; descriptors leave room for every connection the caps
	// admit.
	for _, d := range []string{"MemoryMax", "MemoryHigh", "TasksMax", "LimitNOFILE"} {
		if len(vals[d]) == 0 {
			t.Errorf("the unit sets no %s=", d)
		}
	}
	if n, err := strconv.Atoi(strings.Join(vals["LimitNOFILE"], "")); err != nil || n <= app.DefaultConfig().Conns.Total {
		t.Errorf("LimitNOFILE=%v must exceed the default --max-conns (%d)", vals["LimitNOFILE"], app.DefaultConfig().Conns.Total)
	}

	// systemd must wait longer than the server's own shutdown bound.
	shutdown := app.DefaultShutdownTimeout
	if v, ok := flags["shutdown-timeout"]; ok {
		shutdown, err = time.ParseDuration(v)
		must(t, err)
	}
	stop, err := time.ParseDuration(strings.Join(vals["TimeoutStopSec"], ""))
	if err != nil || stop <= shutdown {
		t.Errorf("TimeoutStopSec=%v must exceed the shutdown timeout %v", vals["TimeoutStopSec"], shutdown)
	}

	// And systemd rates its sandbox as well hardened.
	out, err = exec.Command(sa, "security", "--offline=yes", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for tertulia\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.5 {
		t.Errorf("exposure level %v, want at most 2.5:\n%s", score, out)
	}
}

// GET /healthz answers while the process runs; GET /readyz reflects every
// readiness check, the built-in ones and those added through Config.
func TestHealthAndReadiness(t *testing.T) {
	var upstreamDown atomic.Bool
	srv := startServer(t, func(c *app.Config) {
		c.ReadyChecks = append(c.ReadyChecks, health.Check{Name: "upstream", Func: func(context.Context) error {
			if upstreamDown.Load() {
				return errors.New("upstream unreachable")
			}
			return nil
		}})
	})
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := (&http.Client{Timeout: waitTimeout}).Get("http://" + srv.HTTPAddr + path)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body := get("/readyz")
	if code != 200 {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	for _, want := range []string{"ok ssh\n", "ok http\n", "ok running\n", "ok store\n", "ok upstream\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body %q lacks %q", body, want)
		}
	}
	upstreamDown.Store(true)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "fail upstream: upstream unreachable") {
		t.Fatalf("/readyz with the upstream down: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz must not depend on readiness: %d", code)
	}
	upstreamDown.Store(false)
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz after the upstream is back: %d %q", code, body)
	}
	// The page is still served beside the probes.
	if code, body := get("/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("GET /: %d", code)
	}
}

// SIGTERM while clients are chatting: every client is told the server is
// stopping, and the process exits 0 within the shutdown bound. Connections
// that never became sessions (an SSH handshake never begun, a half-sent
// HTTP request) do not hold the exit until the deadline: they are cut a
// short grace after the last session left.
//
// After a restart on the same data, every message a sender saw echoed is
// in the room's history: no stored message is lost.
func TestSIGTERMDuringTraffic(t *testing.T) {
	const shutdown = 8 * time.Second
	dir := t.TempDir()
	p := startProcess(t, dir, "--shutdown-timeout", shutdown.String())

	// Connections stuck before a session: an SSH client that never speaks
	// and an HTTP client that never finishes its request.
	stuckSSH, err := net.Dial("tcp", p.SSHAddr)
	must(t, err)
	defer stuckSSH.Close()
	stuckHTTP, err := net.Dial("tcp", p.HTTPAddr)
	must(t, err)
	defer stuckHTTP.Close()
	_, err = io.WriteString(stuckHTTP, "GET / HTTP/1.1\r\nHost: x\r\n")
	must(t, err)

	watcherSSH := newLineClient(t, p.SSHAddr, "watchssh")
	watcherSSH.expect("welcome watchssh")
	watcherWeb := joinWS(t, p.HTTPAddr, "watchweb")

	// Senders talk in closed loops (send, wait for the echo, send again)
	// until the server stops; each reports whether it got the notice.
	var senders []*trafficSender
	for i := range 2 {
		s := newTrafficSender(fmt.Sprintf("sshsend%d", i))
		senders = append(senders, s)
		lc := newLineClient(t, p.SSHAddr, s.name)
		go s.run(func(text string) error {
			_, err := io.WriteString(lc.stdin, text+"\n")
			return err
		}, lc.lines, lc.closed)
	}
	for i := range 2 {
		s := newTrafficSender(fmt.Sprintf("websend%d", i))
		senders = append(senders, s)
		wc := joinWS(t, p.HTTPAddr, s.name)
		// Frames as lines: "-!- notice" and "<nick> text".
		lines, closed := make(chan string, 100000), make(chan struct{})
		go func() {
			render := func(f frame) string {
				if f.Type == "notice" {
					return "-!- " + f.Text
				}
				return "<" + f.From + "> " + f.Text
			}
			for {
				select {
				case f := <-wc.frames:
					lines <- render(*f)
				case <-wc.closed:
					for {
						select {
						case f := <-wc.frames:
							lines <- render(*f)
						default:
							close(closed)
							return
						}
					}
				}
			}
		}()
		go s.run(func(text string) error {
			return wc.conn.WriteJSON(map[string]string{"type": "say", "text": text})
		}, lines, closed)
	}
	for _, s := range senders {
		select {
		case <-s.warm:
		case <-time.After(waitTimeout):
			t.Fatalf("%s did not get going", s.name)
		}
	}

	start := time.Now()
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM during traffic: %v (want status 0)", err)
	}
	took := time.Since(start)
	if took > shutdown+2*time.Second {
		t.Fatalf("the process took %v to exit, beyond --shutdown-timeout %v", took, shutdown)
	}
	if took > shutdown/2 {
		t.Fatalf("the process took %v to exit: connections without a session held it towards the %v deadline", took, shutdown)
	}
	t.Logf("exited in %v", took)

	for _, s := range senders {
		select {
		case <-s.done:
		case <-time.After(waitTimeout):
			t.Fatalf("%s never saw the end", s.name)
		}
		if !s.stopped.Load() {
			t.Errorf("%s (after %d messages) was not told the server is stopping", s.name, s.sent.Load())
		}
	}
	watcherSSH.expect("-!- The server is stopping")
	watcherWeb.expect("stopping notice", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "stopping") })
	select {
	case <-watcherWeb.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the websocket was not closed")
	}
	var ce *websocket.CloseError
	if err := watcherWeb.closeErr(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("websocket closed with %v, want 1001 going away", err)
	}

	// Restart on the same data: the history holds every echoed message.
	p2 := startProcess(t, dir)
	checker := joinWS(t, p2.HTTPAddr, "checker")
	stored := map[string]bool{}
	for _, f := range historyAll(t, checker, "lobby") {
		stored[f.From+" "+f.Text] = true
	}
	total := 0
	for _, s := range senders {
		for _, text := range s.acked {
			total++
			if !stored[s.name+" "+text] {
				t.Errorf("%s saw %q echoed, but it is not in the history after the restart", s.name, text)
			}
		}
	}
	if total == 0 {
		t.Fatal("no message was acknowledged before the stop")
	}
	t.Logf("%d acknowledged messages all in the history after the restart", total)
}

// A bad --trusted-proxies value stops the binary with a clear message.
func TestTrustedProxiesFlagIsChecked(t *testing.T) {
	out, err := exec.Command(binary(t), "--trusted-proxies", "10.0.0.0/99", "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--hostkeys", filepath.Join(t.TempDir(), "k"), "--data", filepath.Join(t.TempDir(), "d")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--trusted-proxies") {
		t.Fatalf("bad --trusted-proxies: err %v, output %q", err, out)
	}
}

// trafficSender chats in a closed loop until the server stops.
type trafficSender struct {
	name    string
	warm    chan struct{} // closed after a few round trips
	done    chan struct{}
	stopped atomic.Bool // saw the stopping notice
	sent    atomic.Int64
	acked   []string // texts echoed back; read only after done
}

func newTrafficSender(name string) *trafficSender {
	return &trafficSender{name: name, warm: make(chan struct{}), done: make(chan struct{})}
}

// run sends a message, waits for its echo among lines, and again, until
// the connection ends; then it reads what is left for the stopping notice.
func (s *trafficSender) run(send func(string) error, lines <-chan string, closed <-chan struct{}) {
	defer close(s.done)
	isNotice := func(l string) bool { return strings.Contains(l, "-!- The server is stopping") }
	rest := func() {
		timer := time.NewTimer(waitTimeout)
		defer timer.Stop()
		for {
			select {
			case l := <-lines:
				if isNotice(l) {
					s.stopped.Store(true)
					return
				}
			case <-closed:
				for {
					select {
					case l := <-lines:
						if isNotice(l) {
							s.stopped.Store(true)
							return
						}
					default:
						return
					}
				}
			case <-timer.C:
				return
			}
		}
	}
	for n := 0; ; n++ {
		if n == 3 {
			close(s.warm)
		}
		text := fmt.Sprintf("%s says %d", s.name, n)
		if send(text) != nil {
			rest()
			return
		}
		for echoed := false; !echoed; {
			select {
			case l := <-lines:
				if isNotice(l) {
					s.stopped.Store(true)
					return
				}
				echoed = strings.HasSuffix(l, "<"+s.name+"> "+text)
			case <-closed:
				rest()
				return
			}
		}
		s.acked = append(s.acked, text)
		s.sent.Add(1)
	}
}
