package app

import (
	"context"
	"encoding/json"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/room"
)

// clusterPresence is the hub's Presence over a cluster node: each room's
// members travel as a JSON list of room.SharedMember.
type clusterPresence struct {
	p *cluster.Presence
}

var _ room.Presence = clusterPresence{}

func (c clusterPresence) Changed(roomName string) { c.p.Changed(roomName) }

func (c clusterPresence) Snapshot(roomName string) map[string][]room.SharedMember {
	out := make(map[string][]room.SharedMember)
	for node, payload := range c.p.Snapshot(roomName) {
		if list, ok := decodeMembers(payload); ok {
			out[node] = list
		}
	}
	return out
}

func decodeMembers(payload []byte) ([]room.SharedMember, bool) {
	list := []room.SharedMember{}
	if err := json.Unmarshal(payload, &list); err != nil {
		return nil, false
	}
	return list, true
}

// startPresence shares hub's member lists through p, once the hub exists.
func startPresence(ctx context.Context, p *cluster.Presence, hub *room.Hub) error {
	read := func(roomName string) []byte {
		data, _ := json.Marshal(hub.LocalMembers(roomName))
		return data
	}
	return p.Start(ctx, read, func(roomName, node string, payload []byte) {
		if payload == nil {
			hub.RemoteMembers(roomName, node, nil, room.ReasonNodeLost)
			return
		}
		if list, ok := decodeMembers(payload); ok {
			hub.RemoteMembers(roomName, node, list, "")
		}
	})
}
