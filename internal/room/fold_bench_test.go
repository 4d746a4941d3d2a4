package room

// The member list a joiner receives is sorted by folded nick (foldNick: the
// TR39 skeleton, lower case). These benchmarks compare sorting with the key
// computed in the comparator, as Room.membersLocked does, with computing each
// key once: the join of one member into a big room pays for this under the
// room's lock. See docs/performance.md, Findings.

import (
	"fmt"
	"sort"
	"testing"
)

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
		foldSink = foldNick("Roberta_42")
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
				sort.Slice(list, func(i, j int) bool { return foldNick(list[i].Nick) < foldNick(list[j].Nick) })
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
					list[i] = keyed{foldNick(m.Nick), m}
				}
				sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
			}
		})
	}
}
