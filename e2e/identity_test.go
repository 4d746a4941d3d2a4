package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// forgedSigner offers a real public key but cannot sign: an attacker who
// copied alice's public key, not her private one.
type forgedSigner struct{ pub gossh.PublicKey }

func (f forgedSigner) PublicKey() gossh.PublicKey { return f.pub }
func (f forgedSigner) Sign(io.Reader, []byte) (*gossh.Signature, error) {
	return &gossh.Signature{Format: f.pub.Type(), Blob: make([]byte, 64)}, nil
}

func newSigner(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	s, err := gossh.NewSignerFromKey(priv)
	must(t, err)
	return s
}

// The key fingerprint is attached only after the client proved it holds
// the key; offering someone's public key and then logging in another way
// gives no fingerprint.
func TestFingerprintOnlyFromProvenKey(t *testing.T) {
	p := startProcess(t, t.TempDir())
	alice := newSigner(t)

	c := dialSSH(t, p.SSHAddr, "alice", []gossh.AuthMethod{gossh.PublicKeys(alice)})
	s, err := c.NewSession()
	must(t, err)
	_, _ = s.StdinPipe()
	must(t, s.Shell())
	rec := p.expectLog("connect")
	if got, want := rec["key"], gossh.FingerprintSHA256(alice.PublicKey()); got != want {
		t.Fatalf("proven key: logged fingerprint %v, want %v", got, want)
	}

	// A forged signature over alice's key ends the handshake.
	_, err = gossh.Dial("tcp", p.SSHAddr, &gossh.ClientConfig{
		User:            "mallory",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(forgedSigner{alice.PublicKey()}), guestAuth()[0]},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         waitTimeout,
	})
	if err == nil {
		t.Fatal("a forged signature was accepted")
	}

	// OpenSSH holding only alice's public key offers it (the server's
	// callback sees and accepts the offer), cannot sign, and falls back to
	// keyboard-interactive: it must arrive as a guest.
	dir := t.TempDir()
	pubOnly := filepath.Join(dir, "alice_pub_only")
	must(t, os.WriteFile(pubOnly, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600))
	host, port := splitAddr(t, p.SSHAddr)
	cmd := exec.Command("ssh", "-T", "-p", port, "-i", pubOnly, "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error",
		"-o", "PreferredAuthentications=publickey,keyboard-interactive", "mallory@"+host)
	cmd.Stdin = strings.NewReader("/quit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "welcome mallory") {
		t.Fatalf("openssh output: %s", out)
	}
	rec = p.expectLog("connect")
	if rec["nick"] != "mallory" || rec["key"] != "" {
		t.Fatalf("attacker connected as %v with key %q; want mallory with no key", rec["nick"], rec["key"])
	}
}

// /help lists only what the caller can use: a web guest is not shown the
// commands of keys, an SSH session with a key is.
func TestHelpListsKeyCommandsOnlyToKeys(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "guest")
	web.say("/help")
	help := web.expect("help", func(f frame) bool { return f.Type == "notice" && strings.HasPrefix(f.Text, "Commands:") })
	keyed := newLineClient(t, srv.SSHAddr, "regular", gossh.PublicKeys(newSigner(t)))
	keyed.expect("-!- welcome regular")
	keyed.send("/help")
	keyed.expect("-!- Commands:")
	keyHelp := map[string]bool{}
	for range 60 {
		l := keyed.expectFunc("a help line", func(string) bool { return true })
		if !strings.HasPrefix(l, "-!-   /") {
			break
		}
		keyHelp[strings.Fields(l)[1]] = true
	}
	for _, cmd := range []string{"/register", "/weblogin", "/sessions", "/logout-all"} {
		if strings.Contains(help.Text, "\n  "+cmd+" ") {
			t.Errorf("a web guest's /help lists %s:\n%s", cmd, help.Text)
		}
		if !keyHelp[cmd] {
			t.Errorf("an SSH key's /help does not list %s", cmd)
		}
		web.say(cmd)
		if f := web.expect("needs_key", func(f frame) bool { return f.Type == "error" }); f.Code != "needs_key" {
			t.Errorf("%s by a web guest: %+v", cmd, f)
		}
	}
}
