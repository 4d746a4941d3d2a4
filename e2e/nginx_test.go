package e2e

import (
	"bufio"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/webchat"
)

const nginxSite = "../deploy/nginx/tertulia.conf"

// nginxPath finds Debian's nginx; a missing nginx fails the test.
func nginxPath(t testing.TB) string {
	t.Helper()
	return daemonPath(t, "nginx", "nginx-light")
}

// nginxTempPaths makes the temporary folders nginx writes request bodies
// and proxied responses to under dir, and returns the http block's
// directives that point there (the defaults are under /var/lib/nginx).
func nginxTempPaths(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	for i, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		path := filepath.Join(dir, "tmp", strings.TrimPrefix(d, "client_"))
		must(t, os.MkdirAll(path, 0o700))
		if i > 0 {
			b.WriteString("\n    ")
		}
		fmt.Fprintf(&b, "%s_temp_path %s;", d, path)
	}
	return b.String()
}

// daemonPath finds a Debian daemon on PATH or in /usr/sbin (root's PATH
// may lack it); a missing one fails the test, naming the package
// ./scripts/test installs.
func daemonPath(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	t.Fatalf("%s not found: run ./scripts/test, which installs %s", name, pkg)
	return ""
}

// proxy is a real nginx running deploy/nginx/tertulia.conf in a temporary
// prefix, with its ports, upstream and certificate substituted.
type proxy struct {
	HTTPAddr  string // the plain-HTTP server (redirects)
	HTTPSAddr string // the TLS server in front of Tertulia
	Roots     *x509.CertPool
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and returns the pool that trusts it.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chat.example.com"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "chat.example.com"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// substitute replaces every match of re in s, failing the test when there
// are not exactly n: the test must notice when the real file changes shape.
func substitute(t testing.TB, s, re, repl string, n int) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	if got := len(rx.FindAllStringIndex(s, -1)); got != n {
		t.Fatalf("%s: %d matches of %q, want %d", nginxSite, got, re, n)
	}
	return rx.ReplaceAllLiteralString(s, repl)
}

// startNginx runs nginx with the real site file in front of backend, with
// proxy_read_timeout on /ws set to readTimeout.
func startNginx(t testing.TB, backend, readTimeout string) *proxy {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	site, err := os.ReadFile(nginxSite)
	must(t, err)
	certFile, keyFile, roots := selfSigned(t, dir)
	p := &proxy{HTTPAddr: freePort(t), HTTPSAddr: freePort(t), Roots: roots}
	webroot := filepath.Join(dir, "www")
	must(t, os.MkdirAll(webroot, 0o755))

	conf := string(site)
	conf = substitute(t, conf, `(?m)^\s*listen \[::\]:\d+[^;]*;\n`, "", 2) // no IPv6 needed here
	conf = substitute(t, conf, `listen 80;`, "listen "+p.HTTPAddr+";", 1)
	conf = substitute(t, conf, `listen 443 ssl;`, "listen "+p.HTTPSAddr+" ssl;", 1)
	conf = substitute(t, conf, `server 127\.0\.0\.1:8080;`, "server "+backend+";", 1)
	conf = substitute(t, conf, `/etc/letsencrypt/live/chat\.example\.com/fullchain\.pem`, certFile, 1)
	conf = substitute(t, conf, `/etc/letsencrypt/live/chat\.example\.com/privkey\.pem`, keyFile, 1)
	conf = substitute(t, conf, `root /var/www/html;`, "root "+webroot+";", 1)
	conf = substitute(t, conf, `proxy_read_timeout \d+s;`, "proxy_read_timeout "+readTimeout+";", 1)
	must(t, os.WriteFile(filepath.Join(dir, "tertulia.conf"), []byte(conf), 0o600))

	temps := nginxTempPaths(t, dir)
	main := fmt.Sprintf(`# written by e2e/nginx_test.go
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    %[2]s
    include %[1]s/tertulia.conf;
}
`, dir, temps)
	must(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600))

	runNginxConf(t, bin, dir, filepath.Join(dir, "nginx.conf"), "pid "+filepath.Join(dir, "nginx.pid")+";")
	return p
}

// runNginxConf runs nginx on conf, one process without workers, until the
// test ends; it returns once nginx has bound its listeners.
func runNginxConf(t testing.TB, bin, dir, conf, pidOpt string) {
	t.Helper()
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", "stderr", "-g", "daemon off; master_process off; "+pidOpt)
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	exited, listening := make(chan struct{}), make(chan struct{})
	var early []string
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			t.Log("nginx: " + line)
			if signalled {
				continue
			}
			early = append(early, line)
			// nginx reports the OS limits right after it has bound its
			// listening sockets.
			if strings.Contains(line, "getrlimit(RLIMIT_NOFILE)") {
				signalled = true
				close(listening)
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-listening:
	case <-exited:
		t.Fatalf("nginx exited at start:\n%s", strings.Join(early, "\n"))
	case <-time.After(waitTimeout):
		t.Fatal("nginx did not start in time")
	}
}

// dialerFrom dials from a given loopback address, so that the client is
// not 127.0.0.1 like nginx is.
func dialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: waitTimeout}
}

func (p *proxy) httpsClient(from string) *http.Client {
	d := dialerFrom(from)
	return &http.Client{
		Timeout: waitTimeout,
		Transport: &http.Transport{
			DialContext:        d.DialContext,
			TLSClientConfig:    &tls.Config{RootCAs: p.Roots},
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// expectLogWhere waits for a log record with msg for which ok holds.
func (p *process) expectLogWhere(msg string, ok func(map[string]any) bool) map[string]any {
	p.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case rec := <-p.logs:
			if rec["msg"] == msg && ok(rec) {
				return rec
			}
		case <-p.exited:
			p.t.Fatalf("process exited (%v) before logging %q", p.exitErr, msg)
		case <-timer.C:
			p.t.Fatalf("timed out waiting for log %q", msg)
		}
	}
}

// The real site file: the websocket waits longer than the ping interval.
func TestNginxSiteReadTimeoutExceedsPing(t *testing.T) {
	site, err := os.ReadFile(nginxSite)
	must(t, err)
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(string(site))
	if m == nil {
		t.Fatalf("%s sets no proxy_read_timeout in seconds", nginxSite)
	}
	d, err := time.ParseDuration(m[1] + "s")
	must(t, err)
	if d <= webchat.DefaultPingInterval {
		t.Fatalf("proxy_read_timeout %v must exceed the ping interval %v", d, webchat.DefaultPingInterval)
	}
	for _, want := range []string{
		"map $http_upgrade $connection_upgrade",
		"proxy_http_version 1.1;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
		"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
		"proxy_set_header X-Real-IP $remote_addr;",
		"proxy_set_header X-Forwarded-Proto $scheme;",
		"return 301 https://",
	} {
		if !strings.Contains(string(site), want) {
			t.Errorf("%s lacks %q", nginxSite, want)
		}
	}
}

// Debian's nginx with deploy/nginx/tertulia.conf in front of the server:
// HTTP redirects to HTTPS, the page is compressed, a websocket through TLS
// chats with an SSH client, the server sees the client's address (not
// nginx's, not a forged one), and a connection idle for longer than nginx's
// proxy_read_timeout stays open thanks to the server's pings.
func TestThroughNginx(t *testing.T) {
	srv := startProcess(t, t.TempDir(), "--ws-ping-interval", "500ms", "--trusted-proxies", "127.0.0.1/32")
	const readTimeout = 2 * time.Second
	ngx := startNginx(t, srv.HTTPAddr, "2s")

	t.Run("http redirects to https", func(t *testing.T) {
		c := &http.Client{Timeout: waitTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get("http://" + ngx.HTTPAddr + "/some/page?x=1")
		must(t, err)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://") || !strings.HasSuffix(loc, "/some/page?x=1") {
			t.Fatalf("GET over HTTP: %d Location %q, want 301 to https://.../some/page?x=1", resp.StatusCode, loc)
		}
	})

	t.Run("page over TLS, compressed", func(t *testing.T) {
		c := ngx.httpsClient("127.0.0.1")
		for _, path := range []string{"/", "/app.js", "/style.css"} {
			req, _ := http.NewRequest("GET", "https://"+ngx.HTTPSAddr+path, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := c.Do(req)
			must(t, err)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
				resp.Body.Close()
				t.Fatalf("GET %s: %d, Content-Encoding %q; want 200 gzip", path, resp.StatusCode, resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(resp.Body)
			must(t, err)
			body, err := io.ReadAll(zr)
			resp.Body.Close()
			must(t, err)
			if len(body) < 100 {
				t.Fatalf("GET %s: %d bytes after gunzip", path, len(body))
			}
			if path == "/" {
				if !strings.Contains(string(body), "<html") {
					t.Fatalf("GET / is not the page: %.200q", body)
				}
				if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("Content-Security-Policy") == "" {
					t.Fatalf("GET / headers lack HSTS or the server's CSP: %v", resp.Header)
				}
			}
		}
	})

	t.Run("probes only from the host", func(t *testing.T) {
		resp, err := ngx.httpsClient("127.0.0.1").Get("https://" + ngx.HTTPSAddr + "/readyz")
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "ok ssh") {
			t.Fatalf("/readyz from the host: %d %q", resp.StatusCode, body)
		}
		resp, err = ngx.httpsClient("127.0.0.2").Get("https://" + ngx.HTTPSAddr + "/healthz")
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("/healthz from elsewhere: %d, want 403", resp.StatusCode)
		}
	})

	// The browser's path: wss:// through nginx, from 127.0.0.2, with a
	// forged X-Forwarded-For that must not be believed.
	d := dialerFrom("127.0.0.2")
	wsd := &websocket.Dialer{
		NetDialContext:   d.DialContext,
		TLSClientConfig:  &tls.Config{RootCAs: ngx.Roots},
		HandshakeTimeout: waitTimeout,
	}
	hdr := http.Header{"X-Forwarded-For": {"203.0.113.66"}, "X-Real-Ip": {"203.0.113.66"}}
	conn, resp, err := wsd.Dial("wss://"+ngx.HTTPSAddr+"/ws", hdr)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("websocket through nginx: %v (%d %s)", err, resp.StatusCode, b)
		}
		t.Fatalf("websocket through nginx: %v", err)
	}
	web := wrapWS(t, conn)
	web.sendJSON(map[string]string{"type": "hello", "nick": "webby"})
	web.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	rec := srv.expectLogWhere("connect", func(r map[string]any) bool { return r["nick"] == "webby" })
	if rec["remote"] != "127.0.0.2" {
		t.Fatalf("server saw the web client as remote=%v, want 127.0.0.2 (the client, not nginx or the forged header)", rec["remote"])
	}

	ssh := newLineClient(t, srv.SSHAddr, "sshy")
	ssh.expect("welcome sshy")
	web.expect("sshy joins", func(f frame) bool { return f.Type == "join" && f.Nick == "sshy" })
	web.say("hello through nginx")
	ssh.expect("#lobby <webby> hello through nginx")
	ssh.send("hello back")
	web.expect("ssh message", isMessage("sshy", "hello back"))

	// Idle for longer than nginx's proxy_read_timeout: the idle time is
	// what is under test, so this wait is a timer by design. The server's
	// pings keep nginx from timing the connection out.
	idle := time.NewTimer(readTimeout + time.Second)
	defer idle.Stop()
	select {
	case <-idle.C:
	case <-web.closed:
		t.Fatalf("websocket closed while idle (%v): nginx timed it out", web.closeErr())
	case f := <-web.frames:
		t.Fatalf("unexpected frame while idle: %s", f.Raw)
	}
	web.say("still here")
	ssh.expect("#lobby <webby> still here")
	ssh.send("and so am I")
	web.expect("message after idling", isMessage("sshy", "and so am I"))

	// Straight to the server from an address it does not trust: forged
	// headers are ignored there too.
	direct := &websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: waitTimeout}
	conn2, _, err := direct.Dial("ws://"+srv.HTTPAddr+"/ws", hdr)
	must(t, err)
	spoofer := wrapWS(t, conn2)
	spoofer.sendJSON(map[string]string{"type": "hello", "nick": "spoofer"})
	spoofer.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	rec = srv.expectLogWhere("connect", func(r map[string]any) bool { return r["nick"] == "spoofer" })
	if rec["remote"] != "127.0.0.2" {
		t.Fatalf("a direct client with forged headers was seen as %v, want 127.0.0.2", rec["remote"])
	}
}
