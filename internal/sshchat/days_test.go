package sshchat

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/room"
)

// daysShown is the lines of the shown view, plain, that are day
// separators or end with one of marks, in order.
func daysShown(lines []line, marks ...string) []string {
	var out []string
	for _, l := range lines {
		s := ansi.Strip(l.s)
		if strings.HasPrefix(s, "── ") {
			out = append(out, s)
			continue
		}
		for _, mark := range marks {
			if strings.HasSuffix(s, mark) {
				out = append(out, mark)
			}
		}
	}
	return out
}

// Messages of different days have a separator naming the later day
// between them, live, in the history shown on joining and in a private
// conversation; the first line of history gets one when it is of an
// earlier day than today, and a live line after history of another day
// gets one too.
func TestTUIDaySeparators(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	m, hub, bob, alice, emu := settingsModel(t, colorprofile.TrueColor, clock)
	hub.Input(alice, "", "first day line")
	clock.Advance(24 * time.Hour)
	hub.Input(alice, "", "second day line")
	show(m, bob)
	want := []string{"first day line", "── Wed 2 Dec 2026 ──", "second day line"}
	if got := daysShown(m.msgs.lines, "first day line", "second day line"); !slices.Equal(got, want) {
		t.Errorf("live, the view reads %q, want %q", got, want)
	}
	if y := rowWith(emu, "── Wed 2 Dec 2026 ──"); y < 0 || y != rowWith(emu, "second day line")-1 {
		t.Errorf("separator not on the row above the second day's line:\n%s", emu.String())
	}

	clock.Advance(2*24*time.Hour + 13*time.Hour + 50*time.Minute) // Fri 4 Dec, 23:50
	hub.Input(bob, "", "/part")
	hub.Input(bob, "", "/join #lobby")
	hub.Input(alice, "", "said on friday")
	clock.Advance(20 * time.Minute)
	hub.Input(alice, "", "said after midnight")
	show(m, bob)
	want = []string{"── Tue 1 Dec 2026 ──", "first day line", "── Wed 2 Dec 2026 ──", "second day line",
		"── Fri 4 Dec 2026 ──", "said on friday", "── Sat 5 Dec 2026 ──", "said after midnight"}
	if got := daysShown(m.msgs.lines, "first day line", "second day line", "said on friday", "said after midnight"); !slices.Equal(got, want) {
		t.Errorf("after joining again, the view reads %q, want %q", got, want)
	}

	clock.Advance(-20 * time.Minute)
	hub.Input(alice, "", "/msg bob before midnight")
	clock.Advance(20 * time.Minute)
	hub.Input(alice, "", "/msg bob after midnight")
	show(m, bob)
	want = []string{"before midnight", "── Sat 5 Dec 2026 ──", "after midnight"}
	if got := daysShown(m.views["@alice"].lines, "before midnight", "after midnight"); !slices.Equal(got, want) {
		t.Errorf("the private conversation reads %q, want %q", got, want)
	}
}

// The day a message falls on is the one of the session's time zone: a
// late-evening message in New York is on the next day in UTC.
func TestTUIDaySeparatorsFollowTheTimeZone(t *testing.T) {
	for _, tc := range []struct {
		zone string
		want []string
	}{
		{"UTC", []string{"── Tue 1 Dec 2026 ──", "afternoon", "── Wed 2 Dec 2026 ──", "late evening"}},
		{"America/New_York", []string{"── Tue 1 Dec 2026 ──", "afternoon", "late evening"}},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			clock := clocktest.New(time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC))
			m, hub, bob, alice, _ := settingsModel(t, colorprofile.TrueColor, clock)
			hub.Input(alice, "", "afternoon")
			clock.Advance(7*time.Hour + 30*time.Minute) // 22:30 in New York
			hub.Input(alice, "", "late evening")
			clock.Advance(3 * 24 * time.Hour)
			hub.Input(bob, "", "/tz "+tc.zone)
			hub.Input(bob, "", "/part")
			hub.Input(bob, "", "/join #lobby")
			show(m, bob)
			if got := daysShown(m.msgs.lines, "afternoon", "late evening"); !slices.Equal(got, tc.want) {
				t.Errorf("the view reads %q, want %q", got, tc.want)
			}
		})
	}
}

// The separator is dim in the default theme and carries no colour in the
// mono one.
func TestDayLineStyledByTheTheme(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	m, hub, bob, _, _ := settingsModel(t, colorprofile.TrueColor, clock)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if got := m.look().dayLine(at); got == ansi.Strip(got) || ansi.Strip(got) != "── Tue 1 Dec 2026 ──" {
		t.Errorf("default theme: separator %q, want it styled", got)
	}
	hub.Input(bob, "", "/theme mono")
	show(m, bob)
	if got := m.look().dayLine(at); got != "── Tue 1 Dec 2026 ──" {
		t.Errorf("mono theme: separator %q, want it plain", got)
	}
}

var dayBacklog = regexp.MustCompile(`backlog (\d+)$`)

// Older pages loaded with PgUp get their separators too, one per day
// however the pages cut the days, and loading them leaves the screen as
// it was.
func TestTUIDaySeparatorsAcrossOlderPages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split int // the last message of the first day
		now   time.Time
	}{
		{"a page ends where a day does, the newer day today", 40, time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)},
		{"a day goes on across pages, both days past", 30, time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clocktest.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
			hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12),
				room.WithHistory(20), room.WithRate(1000, 1000), room.WithClock(clock.Now))
			poster, err := hub.Connect(room.Identity{Nick: "poster", Via: room.ViaWeb})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(poster.Leave)
			const total = 60
			var marks []string
			for i := 1; i <= total; i++ {
				if i == tc.split+1 {
					clock.Advance(24 * time.Hour)
				}
				clock.Advance(time.Minute)
				hub.Input(poster, "", fmt.Sprintf("backlog %d", i))
				marks = append(marks, fmt.Sprintf("backlog %d", i))
			}
			clock.Advance(tc.now.Sub(clock.Now()))
			cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cs.Leave)
			m := newTUIModel(hub, cs, 60, 12)
			readQueued(m, cs)
			for range 200 {
				press(m, tea.KeyPgUp, 0)
				before := strings.Join(plainArea(m), "\n")
				readQueued(m, cs)
				if after := strings.Join(plainArea(m), "\n"); after != before {
					t.Fatalf("loading older history moved the screen from\n%s\nto\n%s", before, after)
				}
				if g := dayBacklog.FindStringSubmatch(plainArea(m)[1]); g != nil && g[1] == "1" {
					break
				}
			}
			want := []string{"── Tue 1 Dec 2026 ──"}
			for i, mark := range marks {
				if i == tc.split {
					want = append(want, "── Wed 2 Dec 2026 ──")
				}
				want = append(want, mark)
			}
			if got := daysShown(m.msgs.lines, marks...); !slices.Equal(got, want) {
				t.Errorf("after paging up, the view reads\n%q\nwant\n%q", got, want)
			}
			if area := plainArea(m); area[0] != "── Tue 1 Dec 2026 ──" {
				t.Errorf("the top of the history reads\n%s", strings.Join(area, "\n"))
			}
		})
	}
}
