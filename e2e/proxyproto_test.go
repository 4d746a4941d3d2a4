package e2e

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

// dialSSHBehindProxy connects as a balancer would: a PROXY protocol v1
// header naming client, then SSH as a guest.
func dialSSHBehindProxy(t *testing.T, addr, client, user string) (*gossh.Client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	server := conn.RemoteAddr().(*net.TCPAddr)
	header := proxyproto.HeaderProxyFromAddrs(1, &net.TCPAddr{IP: net.ParseIP(client), Port: 40000}, server)
	_, err = header.WriteTo(conn)
	must(t, err)
	conn.SetDeadline(time.Now().Add(waitTimeout))
	c, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{User: user, Auth: guestAuth(), HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitTimeout})
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	client_ := gossh.NewClient(c, chans, reqs)
	t.Cleanup(func() { client_.Close() })
	return client_, nil
}

// whoisAddress asks the server, in line mode, for the address it sees.
func whoisAddress(t *testing.T, c *gossh.Client, nick string) string {
	t.Helper()
	sess, err := c.NewSession()
	must(t, err)
	stdin, err := sess.StdinPipe()
	must(t, err)
	stdout, err := sess.StdoutPipe()
	must(t, err)
	must(t, sess.Shell())
	_, err = stdin.Write([]byte("/whois " + nick + "\n"))
	must(t, err)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, addr, ok := strings.Cut(sc.Text(), "address "); ok {
				found <- addr
				return
			}
		}
		close(found)
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(waitTimeout):
		t.Fatal("no address in /whois")
		return ""
	}
}

// Behind HAProxy or nginx's stream module (--ssh-proxy-protocol), the
// server takes the client's address from the PROXY header of a trusted
// proxy; a peer that is not a trusted proxy cannot claim an address.
func TestSSHProxyProtocolFromTrustedProxiesOnly(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.SSH.ProxyProtocol = true })
	c, err := dialSSHBehindProxy(t, srv.SSHAddr, "203.0.113.7", "carol")
	must(t, err)
	if got := whoisAddress(t, c, "carol"); got != "203.0.113.7" {
		t.Fatalf("address behind the proxy: %q", got)
	}
	// The proxy host itself may still connect directly.
	direct := dialSSH(t, srv.SSHAddr, "dave", guestAuth())
	if got := whoisAddress(t, direct, "dave"); got != "127.0.0.1" {
		t.Fatalf("direct address: %q", got)
	}

	untrusted := startServer(t, func(c *app.Config) {
		c.SSH.ProxyProtocol = true
		c.Web.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	assertHeaderNotBelieved(t, untrusted.SSHAddr)
	plain := dialSSH(t, untrusted.SSHAddr, "erin", guestAuth())
	if got := whoisAddress(t, plain, "erin"); got != "127.0.0.1" {
		t.Fatalf("address without a proxy: %q", got)
	}
}

// Without --ssh-proxy-protocol no header is read from anyone.
func TestSSHProxyProtocolOffByDefault(t *testing.T) {
	srv := startServer(t)
	assertHeaderNotBelieved(t, srv.SSHAddr)
}

// assertHeaderNotBelieved: a PROXY header from this peer either fails the
// handshake or is skipped (SSH lets a peer send lines before its version),
// and the address the server sees stays the peer's own.
func assertHeaderNotBelieved(t *testing.T, addr string) {
	t.Helper()
	c, err := dialSSHBehindProxy(t, addr, "203.0.113.7", "mallory")
	if err != nil {
		// Refused: the server must still be serving plain connections.
		if got := whoisAddress(t, dialSSH(t, addr, "plain", guestAuth()), "plain"); got != "127.0.0.1" {
			t.Fatalf("after a refused header, a plain connection is seen from %q", got)
		}
		return
	}
	if got := whoisAddress(t, c, "mallory"); got != "127.0.0.1" {
		t.Fatalf("a PROXY header from a peer that is not a trusted proxy set the address to %q", got)
	}
}
