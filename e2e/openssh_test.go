package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux drives a real terminal session for the OpenSSH client.
type tmux struct {
	t      testing.TB
	socket string
	target string
}

func newTmux(t testing.TB, width, height int, command string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed: run scripts/test, which installs it")
	}
	tm := &tmux{t: t, socket: fmt.Sprintf("tertulia-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()), target: "chat"}
	tm.run("new-session", "-d", "-s", tm.target, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (tm *tmux) capture() string { return tm.run("capture-pane", "-p", "-t", tm.target) }

// waitFor polls the pane until it shows every want: tmux has no change
// notification for a pane, so polling with a deadline is the event wait.
func (tm *tmux) waitFor(want ...string) string {
	tm.t.Helper()
	return tm.waitForFunc(fmt.Sprintf("%q", want), func(screen string) bool {
		for _, w := range want {
			if !strings.Contains(screen, w) {
				return false
			}
		}
		return true
	})
}

func (tm *tmux) waitForFunc(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		screen := tm.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("pane never showed %s; pane:\n%s", what, screen)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not synchronisation
	}
}

// The real OpenSSH client in tmux joins as alice, sees a web message, and
// what is typed there reaches the web client.
func TestOpenSSHClientInTmux(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webby")
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "alice", 100, 24)

	tm.waitFor("alice │ #lobby │ 2 members")
	web.expect("alice joins", func(f frame) bool { return f.Type == "join" && f.Nick == "alice" && f.Via == "ssh" })

	web.say("hello alice, from the web")
	tm.waitFor("<webby> hello alice, from the web")

	tm.run("send-keys", "-t", tm.target, "-l", "hi webby, typed in a real terminal")
	tm.run("send-keys", "-t", tm.target, "Enter")
	web.expect("alice's message", isMessage("alice", "hi webby, typed in a real terminal"))
	tm.waitFor("<alice> hi webby, typed in a real terminal")

	// Resizing the terminal reflows the interface: the status line moves to
	// the new second-to-last row.
	tm.run("resize-window", "-t", tm.target, "-x", "60", "-y", "16")
	tm.waitForFunc("status line on row 15 of 16", func(screen string) bool {
		rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return len(rows) >= 15 && strings.Contains(rows[14], "alice │ #lobby")
	})

	tm.run("send-keys", "-t", tm.target, "-l", "/quit")
	tm.run("send-keys", "-t", tm.target, "Enter")
	web.expect("alice leaves", func(f frame) bool { return f.Type == "part" && f.Nick == "alice" && f.Reason == "quit" })
}

// newOpenSSHInTmux runs the real OpenSSH client, with a key of its own as
// a regular's would be, as user in a tmux pane of width × height.
func newOpenSSHInTmux(t testing.TB, sshAddr, user string, width, height int) *tmux {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run scripts/test, which installs it")
	}
	host, port := splitAddr(t, sshAddr)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	sshCmd := fmt.Sprintf("ssh -tt -p %s -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=%s/known_hosts -o LogLevel=error %s@%s",
		port, key, dir, user, host)
	return newTmux(t, width, height, sshCmd)
}

func splitAddr(t testing.TB, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}
