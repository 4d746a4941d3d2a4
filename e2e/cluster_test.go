package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
	gossh "golang.org/x/crypto/ssh"
)

// clusterNodes starts n servers sharing one PostgreSQL database and one
// NATS server, as nodes of one cluster.
func clusterNodes(t *testing.T, n int) []*server {
	t.Helper()
	return clusterNodesWith(t, n, func(*app.Config) {})
}

// clusterNodesWithOperator starts two cluster nodes whose operators file
// lists the returned key.
func clusterNodesWithOperator(t *testing.T) ([]*server, gossh.Signer) {
	t.Helper()
	admins := filepath.Join(t.TempDir(), "admins")
	bossKey := newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	return clusterNodesWith(t, 2, func(c *app.Config) { c.Files.Admins = admins }), bossKey
}

func clusterNodesWith(t *testing.T, n int, configure func(*app.Config)) []*server {
	t.Helper()
	url, bus := postgresDatabase(t), natstest.Start(t)
	var nodes []*server
	for i := range n {
		nodes = append(nodes, startServer(t, func(c *app.Config) {
			c.Store, c.Cluster, c.NodeID = url, bus.URL(), fmt.Sprintf("node-%d", i+1)
			configure(c)
		}))
	}
	return nodes
}

// lobbyMessages collects n lobby messages a client receives, in order.
func lobbyMessages(wc *wsClient, n int) []frame {
	var got []frame
	for len(got) < n {
		got = append(got, wc.expect(fmt.Sprintf("message %d of %d", len(got)+1, n), func(f frame) bool {
			return f.Type == "message" && f.Room == "lobby"
		}))
	}
	return got
}

// Two nodes share the lobby: with senders on both at once, every client on
// either node gets every message once, all in the same order (the store's);
// a topic set on one node reaches the other; /readyz checks the cluster.
func TestClusterOneOrderAcrossNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	clients := []*wsClient{
		joinWS(t, nodes[0].HTTPAddr, "alice"), joinWS(t, nodes[0].HTTPAddr, "bob"),
		joinWS(t, nodes[1].HTTPAddr, "carol"), joinWS(t, nodes[1].HTTPAddr, "dave"),
	}
	for _, c := range clients {
		c.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	}
	const perSender = 25
	senders := []struct {
		wc   *wsClient
		nick string
	}{{clients[0], "alice"}, {clients[2], "carol"}, {clients[3], "dave"}}
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if err := s.wc.ws.Say("lobby", fmt.Sprintf("%s %d", s.nick, i)); err != nil {
					t.Errorf("%s: %v", s.nick, err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := perSender * len(senders)
	var first []string
	for i, c := range clients {
		got := lobbyMessages(c, total)
		var order []string
		seen := map[string]bool{}
		var last uint64
		for _, f := range got {
			if seen[f.Text] {
				t.Fatalf("client %d got %q twice", i, f.Text)
			}
			if f.ID <= last {
				t.Fatalf("client %d: id %d after %d", i, f.ID, last)
			}
			seen[f.Text], last = true, f.ID
			order = append(order, fmt.Sprintf("%d %s", f.ID, f.Text))
		}
		if first == nil {
			first = order
		} else if !slices.Equal(order, first) {
			t.Fatalf("client %d's order differs:\n%v\nfirst client's:\n%v", i, order, first)
		}
	}
	// Each sender's own messages came in the order sent.
	for _, s := range senders {
		next := 0
		for _, line := range first {
			if _, text, _ := strings.Cut(line, " "); strings.HasPrefix(text, s.nick+" ") {
				if text != fmt.Sprintf("%s %d", s.nick, next) {
					t.Fatalf("%s's messages out of order: %q, want number %d", s.nick, text, next)
				}
				next++
			}
		}
	}

	clients[0].say("/topic shared plans")
	for _, c := range clients[2:] {
		c.expect("topic from node 1", func(f frame) bool {
			return f.Type == "topic" && f.Room == "lobby" && strings.Contains(string(f.Raw), "shared plans")
		})
	}
	erin := joinWS(t, nodes[1].HTTPAddr, "erin")
	erin.expect("topic at join", func(f frame) bool {
		return f.Type == "topic" && strings.Contains(string(f.Raw), "shared plans")
	})

	// A room made on node 1 is joined on node 2 with its history, and
	// followed from then on.
	alice := clients[0]
	alice.say("/join #side")
	alice.expect("#side history", func(f frame) bool { return f.Type == "history" && f.Room == "side" })
	alice.sendJSON(map[string]string{"type": "say", "room": "side", "text": "before carol"})
	alice.expect("echo", isMessage("alice", "before carol"))
	carol := clients[2]
	carol.say("/join #side")
	h := carol.expect("#side history", func(f frame) bool { return f.Type == "history" && f.Room == "side" })
	if !strings.Contains(string(h.Raw), `"before carol"`) {
		t.Fatalf("carol's #side history: %s", h.Raw)
	}
	carol.sendJSON(map[string]string{"type": "say", "room": "side", "text": "hi from node 2"})
	alice.expect("carol's message", isMessage("carol", "hi from node 2"))

	if code, body := getReadyz(t, nodes[1].HTTPAddr); code != 200 || !strings.Contains(body, "ok cluster\n") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
}

// A nick connected on one node is refused on the other (a guest over SSH
// gets the alternative nick); once the first node stops, its nicks are
// free on the other at once.
func TestClusterNickUniqueAcrossNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	joinLobby(t, nodes[0].HTTPAddr, "alice")

	web := newWSClient(t, nodes[1].HTTPAddr)
	web.sendJSON(map[string]string{"type": "hello", "nick": "Alice"})
	if f := web.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "nick_taken" {
		t.Fatalf("hello Alice on node 2: %+v", f)
	}
	guest := newLineClient(t, nodes[1].SSHAddr, "alice")
	guest.expect("-!- welcome alice_2")
	guest.expect("The nick alice is taken; you are alice_2")
	guest.send("/nick ALICE")
	guest.expect("-!- error: the nick ALICE is already in use")

	nodes[0].Stop()
	web.sendJSON(map[string]string{"type": "hello", "nick": "alice"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "welcome" || f.Type == "error" }); f.Type != "welcome" || f.Nick != "alice" {
		t.Fatalf("hello alice once node 1 stopped: %+v", f)
	}
}

func getReadyz(t *testing.T, httpAddr string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitTimeout}).Get("http://" + httpAddr + "/readyz")
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A node cut off from NATS cannot keep its lease: once it has gone
// without a renewal for two thirds of the lease, it closes its sessions
// (the other nodes may give their nicks away) and says it is not ready.
func TestClusterNodeFencesItselfWithoutNATS(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.Start(t)
	node := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URL(), "node-1" })
	alice := joinLobby(t, node.HTTPAddr, "alice")

	bus.Shutdown()
	select {
	case <-alice.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the session was not closed once the lease was lost")
	}
	var ce *websocket.CloseError
	if err := alice.closeErr(); !errors.As(err, &ce) || ce.Text != "cluster connection lost" {
		t.Fatalf("websocket closed with %v, want reason cluster connection lost", err)
	}
	if code, body := getReadyz(t, node.HTTPAddr); code != http.StatusServiceUnavailable || !strings.Contains(body, "cluster") {
		t.Fatalf("/readyz without the lease: %d %q", code, body)
	}
}

// A node whose lease cannot be written while NATS answers it (as while
// JetStream elects a leader after a NATS server's death) keeps its
// websocket and SSH sessions; it refuses to store lines meanwhile. If its
// lease expires, the other node sees its members leave and may give their
// nicks away; when it has its lease again it closes only the session whose
// nick was given away (saying so), claims the others again and shows them
// to the other node again.
func TestClusterNodeKeepsSessionsWhileOnlyItsLeaseFails(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.StartUsers(t, "n1", "n2")
	node1 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n1"), "node-1" })
	node2 := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URLFor("n2"), "node-2" })
	carol := joinWS(t, node2.HTTPAddr, "carol")
	carol.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	alice := joinWS(t, node1.HTTPAddr, "alice")
	bob := joinWS(t, node1.HTTPAddr, "bob")
	dave := newLineClient(t, node1.SSHAddr, "dave")
	dave.expect("-!- welcome dave")
	for _, nick := range []string{"alice", "bob", "dave"} {
		carol.expect(nick+" joins from node 1", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == nick })
	}

	must(t, bus.Deny("n1", "$KV.tertulia_nodes.node-1"))
	parted := map[string]bool{}
	carol.expect("node 1's members leave once its lease expires", func(f frame) bool {
		if f.Type == "part" && f.Room == "lobby" && f.Reason == "connection lost" {
			parted[f.Nick] = true
		}
		return len(parted) == 3
	})
	bob.say("said.while.unleased")
	if f := bob.expect("refusal", func(f frame) bool { return f.Type == "error" || f.Type == "message" }); f.Code != "cluster_unavailable" {
		t.Fatalf("a line said on a node without its lease: %+v", f.Frame)
	}
	// Someone takes alice's nick on node 2 meanwhile.
	other := joinWS(t, node2.HTTPAddr, "alice")

	must(t, bus.Deny("n1"))
	closedWithin(t, alice, "the session whose nick node 2 gave away")
	var ce *websocket.CloseError
	if err := alice.closeErr(); !errors.As(err, &ce) || ce.Text != "your nick was taken on another node while the cluster recovered" {
		t.Fatalf("alice's websocket closed with %v", err)
	}
	back := map[string]bool{}
	carol.expect("bob and dave shown again", func(f frame) bool {
		if f.Type == "join" && f.Room == "lobby" && (f.Nick == "bob" || f.Nick == "dave") {
			back[f.Nick] = true
		}
		return len(back) == 2
	})
	awaitReady(t, node1.HTTPAddr)
	select {
	case <-bob.closed:
		t.Fatalf("bob's websocket was closed: %v", bob.closeErr())
	case <-dave.closed:
		t.Fatal("dave's SSH session was closed")
	default:
	}
	bob.say("said.after.recovery")
	carol.expect("bob's line", isMessage("bob", "said.after.recovery"))
	dave.send("said.by.dave")
	carol.expect("dave's line", isMessage("dave", "said.by.dave"))
	// The nicks kept are still node 1's: node 2 refuses them; alice is
	// the other's.
	for _, nick := range []string{"bob", "dave"} {
		wc := newWSClient(t, node2.HTTPAddr)
		must(t, wc.ws.Hello(nick))
		if f, ok := firstOf(wc, "welcome", "error"); !ok || f.Type != "error" || f.Code != "nick_taken" {
			t.Fatalf("%s on node 2 while node 1 holds it: %+v", nick, f.Frame)
		}
		wc.conn.Close()
	}
	other.say("still.alice")
	carol.expect("the new alice's line", isMessage("alice", "still.alice"))
}

// listsNick tells whether a members frame lists nick.
func listsNick(f frame, nick string) bool {
	return slices.ContainsFunc(f.Members, func(m memberFrame) bool { return m.Nick == nick })
}

// Presence is shared: a member on one node is listed on the other and its
// members see them join once and part; the lists of a joiner show both
// nodes' members. When a node stops, its members part everywhere within
// the lease time and their nicks are free.
func TestClusterPresenceAcrossNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	carol := joinWS(t, nodes[1].HTTPAddr, "carol")
	carol.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })

	alice := joinWS(t, nodes[0].HTTPAddr, "alice")
	// Node 2 writes carol within a fifth of a second: alice's list shows
	// her, or she joins just after.
	list := alice.expect("alice's list", func(f frame) bool { return f.Type == "members" && f.Room == "lobby" })
	if !listsNick(list, "alice") {
		t.Fatalf("alice's list: %+v", list.Members)
	}
	if !listsNick(list, "carol") {
		alice.expect("carol from node 2", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "carol" })
	}
	alice.say("hello from node 1")
	// Presence and messages travel apart: the join may come after the
	// message, but comes once.
	joins := 0
	countJoins := func(f frame) {
		if f.Type == "join" && f.Room == "lobby" && f.Nick == "alice" {
			joins++
			if f.Count != 2 {
				t.Errorf("alice's join on node 2 counts %d members, want 2", f.Count)
			}
		}
	}
	said := false
	carol.expect("alice's join and message", func(f frame) bool {
		countJoins(f)
		said = said || isMessage("alice", "hello from node 1")(f)
		return said && joins > 0
	})
	carol.say("/names")
	carol.expect("/names on node 2 lists alice", func(f frame) bool {
		countJoins(f)
		return f.Type == "members" && f.Room == "lobby" && listsNick(f, "alice") && listsNick(f, "carol") && len(f.Members) == 2
	})
	if joins != 1 {
		t.Fatalf("carol saw alice join %d times, want once", joins)
	}

	// A second room: alice joins and parts, carol on node 2 sees both.
	carol.say("/join #side")
	carol.expect("#side history", func(f frame) bool { return f.Type == "history" && f.Room == "side" })
	alice.say("/join #side")
	carol.expect("alice joins #side", func(f frame) bool { return f.Type == "join" && f.Room == "side" && f.Nick == "alice" })
	alice.say("/part #side")
	carol.expect("alice parts #side", func(f frame) bool { return f.Type == "part" && f.Room == "side" && f.Nick == "alice" })

	// Node 1 stops (a clean stop: its lease and entries are given back;
	// its last list may come first, without alice, so the part may have
	// no reason).
	start := time.Now()
	nodes[0].Stop()
	part := carol.expect("alice leaves with node 1", func(f frame) bool {
		return f.Type == "part" && f.Room == "lobby" && f.Nick == "alice"
	})
	gone := time.Since(start)
	t.Logf("alice parted on node 2 %v after node 1 was told to stop (reason %q)", gone, part.Reason)
	if gone > 6*time.Second {
		t.Fatalf("alice parted %v after node 1 stopped, want within the lease (6 s)", gone)
	}
	carol.say("/names")
	carol.expect("/names without alice", func(f frame) bool {
		return f.Type == "members" && f.Room == "lobby" && !listsNick(f, "alice") && listsNick(f, "carol")
	})
	again := joinWS(t, nodes[1].HTTPAddr, "alice")
	again.expect("alice's nick free on node 2", func(f frame) bool { return f.Type == "members" && listsNick(f, "alice") })
}

// A node that dies (its process killed: no part, no lease given back):
// its members part on the other node with "connection lost" once its
// lease runs out, within the lease time of 6 s after its last renewal,
// and their nicks are free there.
func TestClusterDeadNodesMembersLeave(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.Start(t)
	doomed := startProcess(t, t.TempDir(), "--store", url, "--cluster", bus.URL(), "--node-id", "node-1")
	live := startServer(t, func(c *app.Config) { c.Store, c.Cluster, c.NodeID = url, bus.URL(), "node-2" })
	carol := joinWS(t, live.HTTPAddr, "carol")
	carol.expect("lobby history", func(f frame) bool { return f.Type == "history" && f.Room == "lobby" })
	joinWS(t, doomed.HTTPAddr, "alice")
	carol.expect("alice joins from node 1", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "alice" })

	killed := time.Now()
	must(t, doomed.cmd.Process.Kill())
	<-doomed.exited
	carol.expect("alice leaves with node 1", func(f frame) bool {
		return f.Type == "part" && f.Room == "lobby" && f.Nick == "alice" && f.Reason == "connection lost"
	})
	took := time.Since(killed)
	t.Logf("alice parted on node 2 %v after node 1 was killed", took)
	// The lease runs 6 s from the last renewal, at most 2 s before the kill.
	if took > 9*time.Second {
		t.Fatalf("alice parted %v after node 1 died, want within its lease", took)
	}
	again := joinWS(t, live.HTTPAddr, "alice")
	again.expect("alice's nick free on node 2", func(f frame) bool { return f.Type == "members" && listsNick(f, "alice") })
}

// A private message from node 2 reaches its recipient on node 1, and the
// sender's connection gets its copy with its cid and the same id; the
// recipient's /reply goes back across; /whois of a nick on the other node
// is answered there; a nick connected nowhere is refused.
func TestClusterPrivateMessagesAndWhoisAcrossNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	alice := joinLobby(t, nodes[0].HTTPAddr, "alice")
	bob := joinLobby(t, nodes[1].HTTPAddr, "bob")

	start := time.Now()
	bob.sendJSON(map[string]string{"type": "say", "room": "lobby", "text": "/msg alice across the cluster", "cid": "pm1"})
	echo := bob.expect("bob's copy", func(f frame) bool { return f.Type == "private" })
	got := alice.expect("bob's message", func(f frame) bool { return f.Type == "private" })
	t.Logf("private message across nodes delivered and echoed in %v", time.Since(start))
	if echo.CID != "pm1" || echo.To != "alice" || echo.Text != "across the cluster" || echo.ID == 0 {
		t.Fatalf("bob's copy: %+v", echo.Frame)
	}
	if got.From != "bob" || got.Text != "across the cluster" || got.CID != "" || got.ID != echo.ID {
		t.Fatalf("alice got %+v, want bob's message %d without a cid", got.Frame, echo.ID)
	}

	alice.say("/reply and back")
	if f := bob.expect("alice's reply", func(f frame) bool { return f.Type == "private" }); f.From != "alice" || f.Text != "and back" {
		t.Fatalf("bob got %+v, want alice's reply", f.Frame)
	}

	bob.say("/whois alice")
	if f := bob.expect("whois", func(f frame) bool { return f.Type == "notice" && strings.HasPrefix(f.Text, "alice ") }); !strings.Contains(f.Text, "connected since") {
		t.Fatalf("/whois alice from node 2 = %q", f.Text)
	}
	bob.say("/msg nobody hello")
	if f := bob.expect("refusal", func(f frame) bool { return f.Type == "error" }); f.Code != "no_such_nick" {
		t.Fatalf("/msg nobody: %+v", f.Frame)
	}
}

// An operator on node 1 kicks a user connected to node 2 (and hears it
// was done), and bans another by nick (a guest: its address is banned):
// that user's connection to node 2 closes within a second or so, with the
// ban's reason, and node 2 refuses the address from then on.
func TestClusterKickAndBanAcrossNodes(t *testing.T) {
	nodes, bossKey := clusterNodesWithOperator(t)
	boss := newLineClientFrom(t, "127.0.0.2", nodes[0].SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	join := func(local, nick string) *wsClient {
		wc := dialWSFrom(t, local, nodes[1].HTTPAddr)
		wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
		wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
		return wc
	}
	mallory, troll := join("127.0.0.3", "mallory"), join("127.0.0.4", "troll")

	closedWith := func(wc *wsClient, what, want string) time.Duration {
		t.Helper()
		start := time.Now()
		select {
		case <-wc.closed:
		case <-time.After(waitTimeout):
			t.Fatalf("%s: the connection on node 2 was not closed", what)
		}
		took := time.Since(start)
		var ce *websocket.CloseError
		if err := wc.closeErr(); !errors.As(err, &ce) || !strings.Contains(ce.Text, want) {
			t.Fatalf("%s: closed with %v, want %q", what, err, want)
		}
		return took
	}

	boss.send("/kick mallory too loud")
	closedWith(mallory, "kick", "kicked by boss: too loud")
	boss.expect("Kicked mallory")

	start := time.Now()
	boss.send("/ban troll spamming")
	closedWith(troll, "ban", "banned by boss: spamming")
	took := time.Since(start)
	t.Logf("a ban made on node 1 closed the connection on node 2 in %v", took)
	if took > 3*time.Second {
		t.Fatalf("the ban took %v to reach node 2", took)
	}
	// Node 2 now refuses the banned address outright.
	d := &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
		return nd.Dial(network, addr)
	}}
	conn, resp, err := dialWS(t, nodes[1].HTTPAddr, nil, d)
	if err == nil {
		conn.Close()
		t.Fatal("node 2 let the banned address connect again")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the banned address connecting to node 2 again: %v %+v", err, resp)
	}
}

// An operator on node 1 makes a keyed user connected to node 2 an
// operator (/op of a nick on another node binds its key), who may then set
// the topic of a +t room from node 2 while a guest there may not; /deop
// from node 1 takes it away again. The new operator is told in their room
// on node 2.
func TestClusterOperatorsAcrossNodes(t *testing.T) {
	nodes, bossKey := clusterNodesWithOperator(t)
	boss := newLineClient(t, nodes[0].SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	carol := newLineClient(t, nodes[1].SSHAddr, "carol", keyAuth(newSigner(t)))
	carol.expect("welcome carol")
	guest := joinLobby(t, nodes[1].HTTPAddr, "guest")

	boss.send("/op guest")
	boss.expect("guest has no key; operator status is bound to a key")
	boss.send("/op carol")
	boss.expect("carol is now an operator (by boss)")
	carol.expect("carol is now an operator (by boss)")
	boss.send("/mode #lobby +t")
	boss.expect("boss set mode +t on #lobby")
	carol.expect("boss set mode +t on #lobby")

	guest.say("/topic guests' plans")
	if f := guest.expect("refusal", func(f frame) bool { return f.Type == "error" }); !strings.Contains(f.Text, "only operators") {
		t.Fatalf("a guest's /topic under +t: %+v", f.Frame)
	}
	carol.send("/topic carol's plans")
	boss.expect("carol's plans")

	boss.send("/deop carol")
	boss.expect("carol is no longer an operator (by boss)")
	carol.expect("carol is no longer an operator (by boss)")
	carol.send("/topic again")
	carol.expect("only operators set its topic")
	boss.send("/op nobody")
	boss.expect("nobody is not connected")
}

// One registered key on two nodes, an SSH session on node 1 and a browser
// signed in on node 2 with a code issued on node 1, is one person: one
// nick, held while either device is connected; bob on node 2 sees alice
// join once and listed once; private messages to her reach both devices,
// from either node, and those she sends reach both too; her /part on
// node 1 parts her on both nodes, and her /join there joins her on both.
func TestClusterOneKeyOnTwoNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	bob := joinLobby(t, nodes[1].HTTPAddr, "bob")
	line, web := aliceOnTwoNodes(t, nodes, bob)

	noAlicePart := func(f frame) {
		if (f.Type == "join" || f.Type == "part") && f.Nick == "alice" {
			t.Fatalf("bob saw alice %s again: %s", f.Type, f.Raw)
		}
	}
	bob.say("/who")
	who := bob.expect("bob's /who", func(f frame) bool { noAlicePart(f); return f.Type == "members" })
	if len(who.Members) != 2 || strings.Count(string(who.Raw), `"nick":"alice"`) != 1 {
		t.Fatalf("bob's /who with alice on both nodes: %s", who.Raw)
	}
	// bob's private message reaches her devices on both nodes, with one id.
	bob.say("/msg alice to every device")
	pm := web.expect("the message in her browser", func(f frame) bool { return f.Type == "private" })
	if pm.From != "bob" || pm.Text != "to every device" || pm.ID == 0 {
		t.Fatalf("alice's browser got %+v", pm.Frame)
	}
	line.expect("[pm] bob -> alice: to every device")
	// And one sent from node 1 to her reaches both too.
	dora := joinWS(t, nodes[0].HTTPAddr, "dora")
	dora.say("/msg alice from node 1")
	line.expect("[pm] dora -> alice: from node 1")
	if f := web.expect("dora's message in her browser", func(f frame) bool { return f.Type == "private" }); f.From != "dora" {
		t.Fatalf("alice's browser got %+v", f.Frame)
	}

	// One she sends from node 1 reaches her browser on node 2 too.
	line.send("/msg dora from my terminal")
	if f := web.expect("her own message in her browser", func(f frame) bool { return f.Type == "private" }); f.From != "alice" || f.To != "dora" || f.Text != "from my terminal" {
		t.Fatalf("alice's browser got %+v", f.Frame)
	}

	// The nick stays alice's on node 1 too.
	guest := newWSClient(t, nodes[0].HTTPAddr)
	guest.sendJSON(map[string]string{"type": "hello", "nick": "alice"})
	if f := guest.expect("refusal", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Type != "error" {
		t.Fatalf("a guest asking for alice on node 1: %+v", f.Frame)
	}

	// Her /part on node 1 parts her on node 2 too, as on one node: her
	// browser there gets its part, bob sees her part, and she is listed
	// nowhere.
	line.send("/part")
	line.expect("#lobby <-- alice left")
	web.expect("her browser's part", func(f frame) bool { return f.Type == "part" && f.Room == "lobby" && f.Nick == "alice" })
	bob.expect("alice parts", func(f frame) bool { return f.Type == "part" && f.Nick == "alice" })
	bob.say("/who")
	who = bob.expect("bob's /who", func(f frame) bool { return f.Type == "members" })
	if listsNick(who, "alice") {
		t.Fatalf("bob's /who once alice parted on node 1: %s", who.Raw)
	}

	// Her /join on node 1 puts her back on node 2 too, as on one node:
	// her browser there joins, bob sees her join, and she is listed once.
	line.send("/join lobby")
	line.expect("#lobby --> alice joined")
	web.expect("her browser's join", func(f frame) bool { return f.Type == "join" && f.Room == "lobby" && f.Nick == "alice" })
	bob.expect("alice joins", func(f frame) bool { return f.Type == "join" && f.Nick == "alice" })
	bob.say("/who")
	who = bob.expect("bob's /who", func(f frame) bool { return f.Type == "members" })
	if strings.Count(string(who.Raw), `"nick":"alice"`) != 1 {
		t.Fatalf("bob's /who once alice joined again on node 1: %s", who.Raw)
	}
}

// A room big only once both nodes' members are counted (above
// --presence-summary-above) is paged with every node's members: the
// member count covers both nodes, and paging with names from either node
// lists each member once, in one order.
func TestClusterBigRoomPagesAcrossNodes(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.Start(t)
	var nodes []*server
	for i := range 2 {
		nodes = append(nodes, startServer(t, func(c *app.Config) {
			c.Store, c.Cluster, c.NodeID = url, bus.URL(), fmt.Sprintf("node-%d", i+1)
			c.Room.PresenceSummaryAbove = 3
		}))
	}
	var clients []*wsClient
	for _, nick := range []string{"ana", "bea"} {
		clients = append(clients, joinWS(t, nodes[0].HTTPAddr, nick))
	}
	for _, nick := range []string{"cai", "dan", "eva"} {
		clients = append(clients, joinWS(t, nodes[1].HTTPAddr, nick))
	}
	want := []string{"ana", "bea", "cai", "dan", "eva"}
	for i, c := range clients {
		// Each node learns the other's members within a fifth of a
		// second: the first page, or a presence summary after it, counts
		// all five.
		c.expect(fmt.Sprintf("%s counts five", want[i]), func(f frame) bool {
			return f.Type == "members" && f.Total == len(want) || f.Type == "presence" && f.Count == len(want)
		})
	}
	for i, c := range []*wsClient{clients[0], clients[4]} {
		var listed []string
		cursor := ""
		for page := 0; page < len(want); page++ {
			c.sendJSON(map[string]any{"type": "names", "room": "lobby", "cursor": cursor, "limit": 2})
			// A lagging client may be sent the whole list again (no
			// cursor, more than a page): not the answer to this request.
			f := c.expect("a page", func(f frame) bool { return f.Type == "members" && f.Cursor == cursor && len(f.Members) <= 2 })
			if f.Total != len(want) || len(f.Members) > 2 {
				t.Fatalf("node %d, page after %q: total %d, %d members", i+1, cursor, f.Total, len(f.Members))
			}
			for _, m := range f.Members {
				listed = append(listed, m.Nick)
			}
			if cursor = f.Next; cursor == "" {
				break
			}
		}
		if !slices.Equal(listed, want) {
			t.Fatalf("node %d's pages list %v, want %v", i+1, listed, want)
		}
	}
}

// A person with devices on two nodes who changes nick on one changes it
// on both: the device on the other node gets its own nick event and
// speaks under the new nick, the new nick is held for the person on every
// node and the old one freed, and the other members on either node see
// one nick change, no part or join.
func TestClusterNickChangeReachesEveryDevice(t *testing.T) {
	nodes := clusterNodes(t, 2)
	carol := joinLobby(t, nodes[0].HTTPAddr, "carol")
	bob := joinLobby(t, nodes[1].HTTPAddr, "bob")
	line, web := aliceOnTwoNodes(t, nodes, bob, carol)
	// Node 2 lists her browser too before she changes nick.
	bob.say("/who")
	bob.expect("bob's /who", func(f frame) bool { return f.Type == "members" && listsNick(f, "alice") })

	line.send("/nick alicia")
	line.expect("#lobby --- alice is now known as alicia")
	if f := web.expect("her browser's nick event", func(f frame) bool { return f.Type == "nick" }); f.Old != "alice" || f.New != "alicia" || f.Room != "lobby" {
		t.Fatalf("her browser on node 2 got %s", f.Raw)
	}
	onceRenamed := func(who *wsClient) func(frame) bool {
		renamed := false
		return func(f frame) bool {
			switch {
			case (f.Type == "join" || f.Type == "part") && (f.Nick == "alice" || f.Nick == "alicia"):
				t.Fatalf("saw alice %s: %s", f.Type, f.Raw)
			case f.Type == "nick" && renamed:
				t.Fatalf("saw a second nick change: %s", f.Raw)
			case f.Type == "nick":
				if f.Old != "alice" || f.New != "alicia" {
					t.Fatalf("nick change: %s", f.Raw)
				}
				renamed = true
			}
			return f.Type == "message" && f.From == "alicia" && f.Text == "hello from node 2"
		}
	}
	bobSees, carolSees := onceRenamed(bob), onceRenamed(carol)
	web.say("hello from node 2")
	// Her browser's own copy, or the reason it was refused: what bob and
	// carol wait for next would otherwise only time out.
	if f := web.expect("her own copy", func(f frame) bool {
		return f.Type == "error" || f.Type == "message" && f.Text == "hello from node 2"
	}); f.Type != "message" || f.From != "alicia" {
		t.Fatalf("her browser on node 2 got %s", f.Raw)
	}
	bob.expect("her message under the new nick", bobSees)
	carol.expect("her message under the new nick", carolSees)
	line.expect("#lobby <alicia> hello from node 2")

	// Each node's later joins come after its earlier presence: once both
	// are seen, nothing more of the rename is on its way.
	joinWS(t, nodes[0].HTTPAddr, "dave")
	joinWS(t, nodes[1].HTTPAddr, "erin")
	for _, c := range []struct {
		name string
		ws   *wsClient
		sees func(frame) bool
	}{{"bob", bob, bobSees}, {"carol", carol, carolSees}} {
		joined := map[string]bool{}
		c.ws.expect(c.name+" sees dave and erin join", func(f frame) bool {
			c.sees(f)
			if f.Type == "join" {
				joined[f.Nick] = true
			}
			return joined["dave"] && joined["erin"]
		})
		c.ws.say("/who")
		who := c.ws.expect(c.name+"'s /who", func(f frame) bool { c.sees(f); return f.Type == "members" })
		if len(who.Members) != 5 || !listsNick(who, "alicia") || listsNick(who, "alice") {
			t.Fatalf("%s's /who after the rename: %s", c.name, who.Raw)
		}
	}

	// The new nick is hers on both nodes.
	for _, n := range nodes {
		guest := newWSClient(t, n.HTTPAddr)
		guest.sendJSON(map[string]string{"type": "hello", "nick": "alicia"})
		if f := guest.expect("refusal", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Type != "error" || f.Code != "nick_taken" {
			t.Fatalf("a guest asking for alicia: %+v", f.Frame)
		}
	}
	// Her device on node 1 goes: node 1 has let the nick go once carol's
	// list shows her browser on node 2 only, and the nick is still hers.
	line.client.Close()
	for listed := ""; listed != "web"; {
		carol.say("/who")
		who := carol.expect("carol's /who", func(f frame) bool { return f.Type == "members" })
		listed = ""
		for _, m := range who.Members {
			if m.Nick == "alicia" {
				listed = m.Via
			}
		}
	}
	guest := newWSClient(t, nodes[0].HTTPAddr)
	guest.sendJSON(map[string]string{"type": "hello", "nick": "alicia"})
	if f := guest.expect("refusal", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Type != "error" || f.Code != "nick_taken" {
		t.Fatalf("a guest on node 1 asking for alicia once only her browser on node 2 is left: %+v", f.Frame)
	}
}

// A member on another node who changes nick is seen to change nick, with
// the same frame and line as on one node, not to part and join.
func TestClusterRemoteNickChange(t *testing.T) {
	nodes := clusterNodes(t, 2)
	bob := joinLobby(t, nodes[1].HTTPAddr, "bob")
	watcher := newLineClient(t, nodes[1].SSHAddr, "walt")
	watcher.expect("welcome walt")
	carol := joinWS(t, nodes[0].HTTPAddr, "carol")
	bob.expect("carol joins from node 1", func(f frame) bool { return f.Type == "join" && f.Nick == "carol" })
	watcher.expect("#lobby --> carol joined (web)")

	carol.say("/nick caroline")
	f := bob.expect("carol's nick change", func(f frame) bool {
		if (f.Type == "join" || f.Type == "part") && strings.HasPrefix(f.Nick, "carol") {
			t.Fatalf("bob saw %s", f.Raw)
		}
		return f.Type == "nick"
	})
	if f.Old != "carol" || f.New != "caroline" || f.Room != "lobby" {
		t.Fatalf("bob's nick event: %s", f.Raw)
	}
	watcher.expectFunc("carol's nick change", func(l string) bool {
		if strings.Contains(l, "<-- carol") || strings.Contains(l, "--> caroline") {
			t.Fatalf("walt saw %q", l)
		}
		return l == "#lobby --- carol is now known as caroline"
	})
	carol.say("still me")
	bob.expect("her message", func(f frame) bool {
		if (f.Type == "join" || f.Type == "part") && strings.HasPrefix(f.Nick, "carol") {
			t.Fatalf("bob saw %s", f.Raw)
		}
		return f.Type == "message" && f.From == "caroline"
	})
}

// /rooms lists the rooms of the shared store, with the members other
// nodes have in them, whichever node is asked; /rmroom on one node removes
// the room on every node: its members on another node part with the
// reason, and no node lists it any more.
func TestClusterRoomsAndRmroomAcrossNodes(t *testing.T) {
	nodes, bossKey := clusterNodesWithOperator(t)
	boss := newLineClient(t, nodes[0].SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	dora := joinWS(t, nodes[1].HTTPAddr, "dora")
	dora.say("/join garden")
	dora.expect("garden's history", func(f frame) bool { return f.Type == "history" && f.Room == "garden" })
	must(t, dora.ws.Say("garden", "in the old garden"))
	dora.expect("her message", func(f frame) bool { return f.Type == "message" && f.Room == "garden" })
	carol := joinWS(t, nodes[0].HTTPAddr, "carol")

	// Node 1 serves no #garden: its list comes from the store, counted
	// with node 2's members once node 2 has shared them, as node 1 read
	// them at most 5 s before.
	deadline := time.Now().Add(waitTimeout)
	for {
		carol.say("/rooms")
		f := carol.expect("carol's /rooms", func(f frame) bool { return f.Type == "rooms" })
		if strings.Contains(string(f.Rooms), `{"name":"garden","count":1,`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol's /rooms on node 1: %s", f.Raw)
		}
		// The list is read again every 5 s; a /rooms costs rate budget.
		time.Sleep(500 * time.Millisecond)
	}

	boss.send("/rmroom #garden spring cleaning")
	boss.expect("#garden removed with its history")
	f := dora.expect("dora's part", func(f frame) bool { return f.Type == "part" && f.Room == "garden" })
	if f.Nick != "dora" || f.Reason != "room removed by boss: spring cleaning" {
		t.Fatalf("dora's part on node 2: %s", f.Raw)
	}
	for _, c := range []*wsClient{carol, dora} {
		c.say("/rooms")
		if f := c.expect("/rooms", func(f frame) bool { return f.Type == "rooms" }); strings.Contains(string(f.Rooms), "garden") {
			t.Fatalf("/rooms after the removal: %s", f.Raw)
		}
	}
	// Its name is free again on node 2: dora makes a new, empty #garden.
	dora.say("/join garden")
	if f := dora.expect("the new garden's history", func(f frame) bool { return f.Type == "history" && f.Room == "garden" }); len(f.Messages) != 0 {
		t.Fatalf("the new #garden has history: %s", f.Raw)
	}
}

// aliceOnTwoNodes makes alice one person with a device on each of two
// nodes: her key registers over line mode on node 1 (every watcher sees
// her join), and a browser on node 2 signs in with a code from node 1.
func aliceOnTwoNodes(t *testing.T, nodes []*server, watchers ...*wsClient) (*lineClient, *wsClient) {
	t.Helper()
	line := newLineClient(t, nodes[0].SSHAddr, "alice", keyAuth(newSigner(t)))
	line.expect("welcome alice")
	line.register()
	for _, w := range watchers {
		w.expect("alice joins from node 1", func(f frame) bool { return f.Type == "join" && f.Nick == "alice" })
	}
	resp := postLogin(t, nodes[1].HTTPAddr, line.webLoginCode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a code from node 1 redeemed on node 2: %s", resp.Status)
	}
	cookie := sessionCookie(t, resp)
	conn, _, err := dialWS(t, nodes[1].HTTPAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	web := wrapWS(t, conn)
	web.sendJSON(map[string]string{"type": "hello"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "welcome" || f.Type == "error" }); f.Type != "welcome" || f.Nick != "alice" {
		t.Fatalf("the signed-in browser on node 2: %+v", f.Frame)
	}
	web.expect("lobby history", func(f frame) bool { return f.Type == "history" })
	return line, web
}

// HTTP posts to a room on node 1 while people on node 2 talk in it: each
// post is answered with its own message (its text, a new id), never "not
// confirmed" nor an earlier post's message, although node 1's feed of the
// room may be waiting for node 2's messages when a post is stored.
func TestClusterPostsAnswerWithTheirOwnMessages(t *testing.T) {
	nodes := clusterNodes(t, 2)
	_, token := newBotToken(t, nodes[0])
	messages := "http://" + nodes[0].HTTPAddr + "/api/rooms/lobby/messages"
	var talkers []*wsClient
	for i := range 4 {
		c := joinLobby(t, nodes[1].HTTPAddr, fmt.Sprintf("talker%d", i))
		talkers = append(talkers, c)
	}
	var last uint64
	for round := range 16 {
		var wg sync.WaitGroup
		for i, c := range talkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.say(fmt.Sprintf("round %d from talker %d", round, i))
			}()
		}
		status, body := apiRequest(t, "POST", messages, token, fmt.Sprintf(`{"text":"post %d"}`, round))
		wg.Wait()
		var got struct {
			ID   uint64 `json:"id"`
			Text string `json:"text"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Text != fmt.Sprintf("post %d", round) || got.ID <= last {
			t.Fatalf("post %d answered %d %s (the one before had id %d)", round, status, body, last)
		}
		last = got.ID
	}
}

// --max-rooms counts the rooms of every node: with the lobby and a room
// made on each of two nodes, a cap of 3 refuses a fourth on either, while
// a room made on the other node can still be joined. A room left unused
// on every node is deleted from the shared store (--room-reclaim-after),
// which frees its place under the cap for a room made on the other node.
func TestClusterRoomCapAndReclaimAcrossNodes(t *testing.T) {
	nodes := clusterNodesWith(t, 2, func(c *app.Config) {
		c.Room.MaxRooms = 3
		c.Room.RoomReclaimAfter = 200 * time.Millisecond
	})
	alice := joinLobby(t, nodes[0].HTTPAddr, "alice")
	dora := joinLobby(t, nodes[1].HTTPAddr, "dora")
	join := func(c *wsClient, room string) frame {
		c.say("/join " + room)
		return c.expect("/join "+room, func(f frame) bool {
			return f.Type == "error" || f.Type == "members" && f.Room == room
		})
	}
	if f := join(dora, "first"); f.Type != "members" {
		t.Fatalf("dora's /join first on node 2: %s", f.Raw)
	}
	if f := join(alice, "second"); f.Type != "members" {
		t.Fatalf("alice's /join second on node 1: %s", f.Raw)
	}
	if f := join(dora, "third"); f.Type != "error" || f.Code != "too_many_rooms" {
		t.Fatalf("a fourth room in the cluster, made on node 2: %s", f.Raw)
	}
	if f := join(dora, "second"); f.Type != "members" {
		t.Fatalf("dora joining node 1's #second on node 2: %s", f.Raw)
	}

	// dora leaves #first, which nobody is in on either node: node 2
	// deletes it from the store once it has been empty 200 ms, and a
	// new room fits under the cap again, on node 1.
	dora.say("/part #first")
	dora.expect("dora's part", func(f frame) bool { return f.Type == "part" && f.Room == "first" })
	deadline := time.Now().Add(waitTimeout)
	for {
		f := join(alice, "third")
		if f.Type == "members" {
			break
		}
		if f.Code != "too_many_rooms" || time.Now().After(deadline) {
			t.Fatalf("alice's /join third once #first was left: %s", f.Raw)
		}
		// The reclaim runs every 200 ms; a refused try costs rate budget.
		time.Sleep(500 * time.Millisecond)
	}
}

// A node started after rooms were used on another (it reads no room's
// history at start-up) takes a room up when someone there joins it: its
// last messages and topic are in the joiner's history; a tail -f of
// another room nobody there uses prints its last message, then the live
// ones, each once.
func TestClusterNodeStartedLaterTakesRoomsUp(t *testing.T) {
	url, bus := postgresDatabase(t), natstest.Start(t)
	node := func(i int) *server {
		return startServer(t, func(c *app.Config) {
			c.Store, c.Cluster, c.NodeID = url, bus.URL(), fmt.Sprintf("node-%d", i)
		})
	}
	first := node(1)
	ana := joinWS(t, first.HTTPAddr, "ana")
	for _, name := range []string{"garden", "attic"} {
		must(t, ana.ws.Say("", "/join #"+name))
		ana.expect("her join of #"+name, func(f frame) bool { return f.Type == "members" && f.Room == name })
		for i := range 3 {
			text := fmt.Sprintf("%s %d", name, i)
			must(t, ana.ws.Say(name, text))
			ana.expect(text, func(f frame) bool { return f.Type == "message" && f.Room == name && f.Text == text })
		}
	}
	must(t, ana.ws.Say("garden", "/topic roses"))
	ana.expect("the topic", func(f frame) bool { return f.Type == "topic" && f.Room == "garden" })

	second := node(2)
	bea := joinWS(t, second.HTTPAddr, "bea")
	must(t, bea.ws.Say("", "/join #garden"))
	if f := bea.expect("the topic of #garden", func(f frame) bool { return f.Type == "topic" && f.Room == "garden" }); f.Topic != "roses" {
		t.Fatalf("#garden's topic on the later node: %+v", f.Frame)
	}
	hist := bea.expect("#garden's history", func(f frame) bool { return f.Type == "history" && f.Room == "garden" })
	var texts []string
	for _, m := range hist.Messages {
		texts = append(texts, m.Text)
	}
	if !slices.Equal(texts, []string{"garden 0", "garden 1", "garden 2"}) {
		t.Fatalf("#garden's history on the later node: %q", texts)
	}

	key, signer := oneShotKey(t)
	kim := newLineClient(t, second.SSHAddr, "kim", keyAuth(signer))
	kim.expect("welcome kim")
	kim.register()
	kim.send("/quit")
	<-kim.closed
	follow := oneShotCommand(t, second.SSHAddr, key, "", "tail", "-f", "-n", "1", "#attic")
	nextLine := startFollowing(t, follow)
	t.Cleanup(func() {
		_ = follow.Process.Kill()
		_ = follow.Wait()
	})
	if l := nextLine("the last message"); !strings.HasSuffix(l, "<ana> attic 2") {
		t.Fatalf("tail -f of #attic on the later node began with %q", l)
	}
	must(t, ana.ws.Say("attic", "live"))
	if l := nextLine("the live message"); l != "#attic <ana> live" {
		t.Fatalf("tail -f of #attic on the later node then printed %q", l)
	}
}

// A person's /unregister, then /register, on node 1 relists their device
// on node 2 too: bob there sees her listed unregistered, then registered
// again, without her joining, leaving or going away. (No event tells of
// it: bob asks /who until it shows.)
func TestClusterRegistrationRelistsEveryDevice(t *testing.T) {
	nodes := clusterNodes(t, 2)
	bob := joinLobby(t, nodes[1].HTTPAddr, "bob")
	line, _ := aliceOnTwoNodes(t, nodes, bob)

	aliceListed := func(registered bool) {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for {
			bob.say("/who")
			who := bob.expect("bob's /who", func(f frame) bool { return f.Type == "members" })
			var list struct {
				Members []struct {
					Nick       string `json:"nick"`
					Registered bool   `json:"registered"`
				} `json:"members"`
			}
			must(t, json.Unmarshal(who.Raw, &list))
			for _, m := range list.Members {
				if m.Nick == "alice" && m.Registered == registered {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice not listed with registered %v: %s", registered, who.Raw)
			}
			time.Sleep(50 * time.Millisecond) // polled: no event tells of it
		}
	}
	aliceListed(true)
	line.send("/unregister")
	line.expect("alice is no longer registered")
	aliceListed(false)
	line.send("/register")
	line.expect("alice is now registered")
	aliceListed(true)
}

// joinLobby connects as nick and waits for the lobby's history, after
// the welcome.
func joinLobby(t *testing.T, httpAddr, nick string) *wsClient {
	t.Helper()
	wc := joinWS(t, httpAddr, nick)
	wc.expect("lobby history", func(f frame) bool { return f.Type == "history" })
	return wc
}
