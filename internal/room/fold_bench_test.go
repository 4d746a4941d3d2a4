package room

// The member list a joiner receives is sorted by folded nick (access.Fold: the
// TR39 skeleton, lower case). BenchmarkSortMembers compares sorting with the
// key computed in the comparator, as Room.membersLocked once did, with
// computing each key once; rooms now keep their members sorted (folded once,
// when the nick is set) and BenchmarkMembersEvent is what listing them costs
// under the room's lock. See docs/performance.md, Findings.

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/access"
)

// BenchmarkMembersEvent is the member list of a room of N, as a joiner or
// /who gets it: a copy of the room's sorted list.
func BenchmarkMembersEvent(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := newTestHub(b)
			r := newRoom("bench", time.Now())
			for i := range n {
				s := &Session{hub: h, id: uint64(i + 1), person: &person{id: uint64(i + 1)}, via: ViaWeb, nick: fmt.Sprintf("Member%d", (i*7919)%n)}
				s.fold = access.Fold(s.nick)
				key, m := h.memberInfo(s)
				r.addLocked(s, key, m)
			}
			b.ReportAllocs()
			for b.Loop() {
				r.mu.Lock()
				ev := r.membersEventLocked(h, h.now())
				r.mu.Unlock()
				if ev.Count != n {
					b.Fatal(ev.Count)
				}
			}
		})
	}
}

func benchMemberList(n int) []Member {
	list := make([]Member, n)
	for i := range list {
		// Map order: not sorted.
		list[i] = Member{Nick: fmt.Sprintf("Member%d", (i*7919)%n), Via: ViaWeb}
	}
	return list
}

var foldSink string

func BenchmarkFoldNick(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		foldSink = access.Fold("Roberta_42")
	}
}

// BenchmarkSortMembers/comparator is the sort of membersLocked; /prefolded
// computes every key once.
func BenchmarkSortMembers(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		src := benchMemberList(n)
		b.Run(fmt.Sprintf("comparator/members=%d", n), func(b *testing.B) {
			list := make([]Member, n)
			b.ReportAllocs()
			for b.Loop() {
				copy(list, src)
				sort.Slice(list, func(i, j int) bool { return access.Fold(list[i].Nick) < access.Fold(list[j].Nick) })
			}
		})
		b.Run(fmt.Sprintf("prefolded/members=%d", n), func(b *testing.B) {
			type keyed struct {
				key string
				m   Member
			}
			list := make([]keyed, n)
			b.ReportAllocs()
			for b.Loop() {
				for i, m := range src {
					list[i] = keyed{access.Fold(m.Nick), m}
				}
				sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
			}
		})
	}
}
