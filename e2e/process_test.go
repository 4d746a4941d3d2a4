package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	buildPath string
	buildErr  error
)

// TestMain removes the binary that binary built, if a test asked for one.
func TestMain(m *testing.M) {
	code := m.Run()
	stopPostgres()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds cmd/tertulia once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tertulia-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		buildPath = filepath.Join(dir, "tertulia")
		out, err := exec.Command("go", "build", "-o", buildPath, "../cmd/tertulia").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return buildPath
}

// process is a tertulia binary running as its own process.
type process struct {
	t        testing.TB
	cmd      *exec.Cmd
	SSHAddr  string
	HTTPAddr string
	logs     chan map[string]any
	exited   chan struct{}
	exitErr  error
}

// startProcess runs the binary with JSON logs on free ports and waits for
// its start line.
func startProcess(t testing.TB, dir string, extra ...string) *process {
	t.Helper()
	return startProcessUnder(t, nil, dir, extra...)
}

// startProcessUnder is startProcess with the binary run by the command
// prefix (which must exec it, so that the process is the server), e.g.
// in a mount namespace of its own.
func startProcessUnder(t testing.TB, prefix []string, dir string, extra ...string) *process {
	t.Helper()
	args := append([]string{
		"--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--hostkeys", filepath.Join(dir, "hostkeys"), "--data", filepath.Join(dir, "data"),
		"--log-format", "json",
		// Tests send as fast as they can; the limits have tests of their own.
		"--rate-burst", "1000000", "--rate", "1000000",
		"--max-conns-per-addr", "-1", "--conn-rate", "-1", // all test clients share 127.0.0.1
	}, extra...)
	argv := append(append(append([]string(nil), prefix...), binary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	p := &process{t: t, cmd: cmd, logs: make(chan map[string]any, 10000), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": "unparsed", "line": sc.Text()}
			}
			t.Log(sc.Text())
			select {
			case p.logs <- rec:
			default: // nobody reads this many: never stall the server's stderr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	start := p.expectLog("start")
	p.SSHAddr, _ = start["ssh"].(string)
	p.HTTPAddr, _ = start["http"].(string)
	return p
}

// expectLog waits for a log record with the given msg.
func (p *process) expectLog(msg string) map[string]any {
	p.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case rec := <-p.logs:
			if rec["msg"] == msg {
				return rec
			}
		case <-p.exited:
			p.t.Fatalf("process exited (%v) before logging %q", p.exitErr, msg)
		case <-timer.C:
			p.t.Fatalf("timed out waiting for log %q", msg)
		}
	}
}

// stop sends sig and waits for the process to exit, returning its error.
func (p *process) stop(sig os.Signal) error {
	p.t.Helper()
	must(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(waitTimeout):
		p.t.Fatal("process did not exit in time")
		return nil
	}
}

func hostKeyOf(t testing.TB, addr string) string {
	t.Helper()
	var fp string
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User: "probe",
		Auth: guestAuth(),
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			fp = gossh.FingerprintSHA256(key)
			return nil
		},
		HostKeyAlgorithms: []string{gossh.KeyAlgoED25519},
		Timeout:           waitTimeout,
	})
	must(t, err)
	c.Close()
	return fp
}

// A restart keeps the host key, stored 0600.
func TestHostKeySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p1 := startProcess(t, dir)
	first := hostKeyOf(t, p1.SSHAddr)
	if err := p1.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, "hostkeys", "ssh_host_ed25519_key"))
	must(t, err)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode = %v, want 0600", info.Mode().Perm())
	}
	p2 := startProcess(t, dir)
	if second := hostKeyOf(t, p2.SSHAddr); second != first {
		t.Fatalf("host key changed across restart: %s then %s", first, second)
	}
}

// SIGTERM and SIGINT stop the server cleanly: sessions are told, and the
// process exits 0.
func TestSignalsStopCleanly(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, t.TempDir())
			ssh := newLineClient(t, p.SSHAddr, "alice")
			ssh.expect("welcome alice")
			web := joinWS(t, p.HTTPAddr, "bob")
			ssh.expect("bob joined")
			p.expectLog("connect")
			if err := p.stop(sig); err != nil {
				t.Fatalf("exit: %v", err)
			}
			ssh.expect("-!- The server is stopping")
			web.expect("stopping notice", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "stopping") })
		})
	}
}

// --help explains every flag.
func TestHelpListsFlags(t *testing.T) {
	out, err := exec.Command(binary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, flag := range []string{"-ssh-addr", "-http-addr", "-hostkeys", "-data", "TERTULIA_"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not mention %s:\n%s", flag, out)
		}
	}
}

// Flags can come from TERTULIA_<NAME> environment variables.
func TestFlagsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary(t), "--log-format", "json")
	cmd.Env = append(os.Environ(),
		"TERTULIA_SSH_ADDR=127.0.0.1:0", "TERTULIA_HTTP_ADDR=127.0.0.1:0",
		"TERTULIA_HOSTKEYS="+filepath.Join(dir, "keys-from-env"), "TERTULIA_DATA="+filepath.Join(dir, "data"))
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "start" {
			if _, err := os.Stat(filepath.Join(dir, "keys-from-env", "ssh_host_ed25519_key")); err != nil {
				t.Fatalf("TERTULIA_HOSTKEYS was not used: %v", err)
			}
			return
		}
	}
	t.Fatal("no start line")
}
