package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/room"
)

// Services each node serves to the others (cluster.NodeSubject).
const (
	servicePrivate = "pm"
	serviceWhois   = "whois"
	serviceKick    = "kick"
	serviceBan     = "ban-targets"
)

// moderationKind is the broadcast of a change of operators, bans or
// mutes: every node reloads them from the store.
const moderationKind = "moderation"

// remoteTimeout bounds one request to another node: past it the node is
// taken as not answering, as if nobody held the nick.
const remoteTimeout = 2 * time.Second

// remoteAnswer is a node's answer to another's request: the result, or the
// refusal the user sees, or NotHere if the nick is not connected there
// (any more).
type remoteAnswer struct {
	Result  json.RawMessage `json:"result,omitempty"`
	Code    string          `json:"code,omitempty"`
	Text    string          `json:"text,omitempty"`
	NotHere bool            `json:"not_here,omitempty"`
}

// clusterRemote is the hub's Remote over a cluster node: it asks the node
// holding a nick (its claim says which) through request/reply.
type clusterRemote struct {
	node *cluster.Node
	log  *slog.Logger
}

var _ room.Remote = clusterRemote{}

// Private delivers pm on the first other node holding the nick that
// answers, then a copy with its id on every other one (the person's other
// devices). A pm that has an id already is such a copy for them all.
func (c clusterRemote) Private(fold string, pm room.RemotePrivate) (room.RemoteDelivered, error) {
	got := room.RemoteDelivered{ID: pm.ID}
	err := c.askHolders(fold, servicePrivate, func() any { return pm }, func(data json.RawMessage) (bool, error) {
		if pm.ID != 0 {
			return false, nil // a copy delivered
		}
		if err := json.Unmarshal(data, &got); err != nil {
			return true, err
		}
		pm.ID = got.ID
		return false, nil
	})
	return got, err
}

func (c clusterRemote) Whois(fold string, q room.RemoteWhois) (string, error) {
	var text string
	err := c.ask(fold, serviceWhois, q, &text)
	return text, err
}

// Kick disconnects the person on every other node that holds the nick.
func (c clusterRemote) Kick(fold string, k room.RemoteKick) (string, error) {
	var kicked string
	err := c.askHolders(fold, serviceKick, func() any { return k }, func(data json.RawMessage) (bool, error) {
		return false, json.Unmarshal(data, &kicked)
	})
	return kicked, err
}

func (c clusterRemote) BanTargets(fold, nick string) (room.RemoteTargets, error) {
	var got room.RemoteTargets
	err := c.ask(fold, serviceBan, nick, &got)
	return got, err
}

// ask sends question to a node holding fold's claim (other than this
// one; for a person on several nodes, the first that answers) and decodes
// its result into result.
func (c clusterRemote) ask(fold, service string, question, result any) error {
	return c.askHolders(fold, service, func() any { return question }, func(data json.RawMessage) (bool, error) {
		return true, json.Unmarshal(data, result)
	})
}

// askHolders sends question() to the nodes other than this one that hold
// fold's claim, in turn, handing each result to take until it says done.
// ErrNotElsewhere if no node took it.
func (c clusterRemote) askHolders(fold, service string, question func() any, take func(json.RawMessage) (done bool, err error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	holder, alive, err := c.node.NickHolder(ctx, fold)
	if err != nil {
		return err
	}
	if !alive {
		return room.ErrNotElsewhere
	}
	taken, late := false, false
	for _, id := range holder.Nodes {
		if id == c.node.ID() {
			continue
		}
		payload, err := json.Marshal(question())
		if err != nil {
			return err
		}
		data, err := c.node.Request(ctx, cluster.NodeSubject(id, service), payload)
		if errors.Is(err, cluster.ErrNoResponder) || errors.Is(err, context.DeadlineExceeded) {
			// The node is gone or stuck: its claims are taken over soon.
			c.log.Warn("cluster: node did not answer", "node", id, "service", service, "err", err)
			late = late || errors.Is(err, context.DeadlineExceeded)
			continue
		}
		if err != nil {
			return err
		}
		var a remoteAnswer
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("cluster: answer of %s: %w", id, err)
		}
		switch {
		case a.NotHere:
			continue
		case a.Code != "":
			return &room.UserError{Code: a.Code, Text: a.Text}
		}
		done, err := take(a.Result)
		if err != nil {
			return err
		}
		taken = true
		if done {
			return nil
		}
	}
	switch {
	case taken:
		return nil
	case late:
		// A live holder that did not answer in time may still act on the
		// question (deliver a private message): "try again", which a
		// client sends again with its cid, rather than "not connected" or
		// a copy kept for later.
		return errHolderLate
	}
	return room.ErrNotElsewhere
}

// errHolderLate: the node holding a nick did not answer in time.
var errHolderLate = errors.New("cluster: the node holding the nick did not answer in time")

// errNotLive answers a request about this node's people while it does not
// hold its lease: the others may have given their nicks away meanwhile.
var errNotLive = &room.UserError{Code: room.CodeClusterUnavailable, Text: "the node holding that nick is not reachable right now; please try again in a moment"}

// serveRemote answers the other nodes' requests about this hub's people.
func serveRemote(node *cluster.Node, hub *room.Hub, log *slog.Logger) error {
	if _, err := node.Serve(servicePrivate, func(payload []byte) []byte {
		if !node.Live() {
			return answer(nil, errNotLive, log)
		}
		var pm room.RemotePrivate
		if err := json.Unmarshal(payload, &pm); err != nil {
			return answer(nil, err, log)
		}
		got, err := hub.DeliverRemotePrivate(pm)
		return answer(got, err, log)
	}); err != nil {
		return err
	}
	_, err := node.Serve(serviceWhois, func(payload []byte) []byte {
		if !node.Live() {
			return answer(nil, errNotLive, log)
		}
		var q room.RemoteWhois
		if err := json.Unmarshal(payload, &q); err != nil {
			return answer(nil, err, log)
		}
		text, err := hub.WhoisHere(q)
		return answer(text, err, log)
	})
	if err != nil {
		return err
	}
	_, err = node.Serve(serviceKick, func(payload []byte) []byte {
		var k room.RemoteKick
		if err := json.Unmarshal(payload, &k); err != nil {
			return answer(nil, err, log)
		}
		kicked, err := hub.KickHere(k)
		return answer(kicked, err, log)
	})
	if err != nil {
		return err
	}
	_, err = node.Serve(serviceBan, func(payload []byte) []byte {
		var nick string
		if err := json.Unmarshal(payload, &nick); err != nil {
			return answer(nil, err, log)
		}
		got, err := hub.BanTargetsHere(nick)
		return answer(got, err, log)
	})
	if err != nil {
		return err
	}
	_, err = node.OnBroadcast(moderationKind, func(payload []byte) {
		var c room.ModerationChange
		if err := json.Unmarshal(payload, &c); err != nil {
			log.Warn("cluster: moderation change not understood", "err", err)
			return
		}
		if c.Node == node.ID() {
			return // made here, and applied here already
		}
		hit, err := hub.ApplyModerationChange(c)
		if err != nil {
			log.Warn("cluster: change from another node not applied", "from", c.Node, "err", err)
			return
		}
		if len(hit) > 0 {
			log.Info("moderation", "by", c.By, "action", "ban", "elsewhere", true, "disconnected", hit)
		}
	})
	if err != nil {
		return err
	}
	node.Every(moderationBackstop, func() {
		hit, err := hub.ReloadModeration()
		if err != nil {
			log.Warn("cluster: moderation reload failed", "err", err)
		} else if len(hit) > 0 {
			log.Info("moderation", "action", "ban", "reloaded", true, "disconnected", hit)
		}
	})
	return nil
}

// moderationBackstop is how often every node reloads operators, bans and
// mutes from the store, in case it missed a broadcast.
const moderationBackstop = 30 * time.Second

// broadcastModeration tells every node of a moderation change made here.
func broadcastModeration(node *cluster.Node, log *slog.Logger) func(room.ModerationChange) {
	return func(c room.ModerationChange) {
		c.Node = node.ID()
		payload, err := json.Marshal(c)
		if err == nil {
			err = node.Broadcast(moderationKind, payload)
		}
		if err != nil {
			log.Warn("cluster: moderation change not broadcast", "err", err)
		}
	}
}

// answer encodes a served request's outcome as a remoteAnswer.
func answer(result any, err error, log *slog.Logger) []byte {
	var a remoteAnswer
	var ue *room.UserError
	switch {
	case errors.Is(err, room.ErrNotElsewhere):
		a.NotHere = true
	case errors.As(err, &ue):
		a.Code, a.Text = ue.Code, ue.Text
	case err != nil:
		log.Warn("cluster: request failed", "err", err)
		a.Code, a.Text = room.CodeClusterUnavailable, "the other node could not do it; please try again"
	default:
		a.Result, err = json.Marshal(result)
		if err != nil {
			a.Code, a.Text = room.CodeClusterUnavailable, "the other node could not answer"
		}
	}
	data, _ := json.Marshal(a)
	return data
}
