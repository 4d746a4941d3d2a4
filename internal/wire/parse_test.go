package wire_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// wantLines is what a client should read back from ev's line-mode lines.
func wantLines(ev *room.Event) []wire.LineEvent {
	// withText is first's line, then a continuation of kind for each line of
	// text after the first.
	withText := func(first wire.LineEvent, text string) []wire.LineEvent {
		lines := strings.Split(text, "\n")
		first.Text = lines[0]
		out := []wire.LineEvent{first}
		for _, l := range lines[1:] {
			out = append(out, wire.LineEvent{Kind: first.Kind, Room: first.Room, Time: first.Time, Text: l, Continued: true})
		}
		return out
	}
	switch ev.Kind {
	case room.KindMessage:
		return withText(wire.LineEvent{Kind: ev.Kind, Room: ev.Room, From: ev.From, Action: ev.Action}, ev.Text)
	case room.KindHistory:
		var lines []wire.LineEvent
		for _, m := range ev.History {
			lines = append(lines, withText(wire.LineEvent{Kind: room.KindHistory, Room: m.Room, From: m.From, Action: m.Action, Time: m.Time.UTC()}, m.Text)...)
		}
		return lines
	case room.KindJoin:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.From, Via: string(ev.Via)}}
	case room.KindPart:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.From, Text: ev.Text}}
	case room.KindNick:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.From, To: ev.To}}
	case room.KindMembers:
		if ev.Paged {
			lines := []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, Count: ev.Count, Text: wire.MemberList(ev.Members)}}
			if ev.Next != "" {
				lines = append(lines, wire.LineEvent{Kind: room.KindNotice, Text: "more members of #" + ev.Room + ": /names #" + ev.Room + " " + ev.Next})
			}
			return lines
		}
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, Count: len(ev.Members), Text: wire.MemberList(ev.Members)}}
	case room.KindPresence:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, Count: ev.Count, Text: wire.PresenceText(ev)}}
	case room.KindWelcome:
		return []wire.LineEvent{{Kind: ev.Kind, From: ev.From}}
	case room.KindError:
		return []wire.LineEvent{{Kind: ev.Kind, Text: ev.Text}}
	case room.KindPrivate:
		if ev.Missed {
			lines := withText(wire.LineEvent{Kind: ev.Kind, From: ev.From, To: ev.To, Missed: true}, ev.Text)
			lines[0].Time = ev.Time.UTC() // continuation lines carry no time
			return lines
		}
		return withText(wire.LineEvent{Kind: ev.Kind, From: ev.From, To: ev.To}, ev.Text)
	case room.KindSettings:
		return nil // not written in line mode
	case room.KindTopic:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.From, Text: ev.Text}}
	case room.KindRooms:
		lines := []wire.LineEvent{{Kind: ev.Kind, Count: len(ev.RoomList)}}
		for _, r := range ev.RoomList {
			lines = append(lines, wire.LineEvent{Kind: ev.Kind, Room: r.Name, Count: r.Count, Text: r.Topic})
		}
		return lines
	case room.KindMissed:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, Count: ev.Count}}
	case room.KindAway:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.From, Text: ev.Text}}
	case room.KindRead:
		return []wire.LineEvent{{Kind: ev.Kind, Room: ev.Room, From: ev.To, ID: ev.ID}}
	}
	var lines []wire.LineEvent
	for _, l := range strings.Split(ev.Text, "\n") {
		lines = append(lines, wire.LineEvent{Kind: room.KindNotice, Text: l})
	}
	return lines
}

// ParseLine reads back every line FormatLine writes.
func TestParseLineReadsEveryGoldenLine(t *testing.T) {
	for _, c := range goldenCases() {
		out := strings.TrimSuffix(string(wire.FormatLine(c.ev)), "\n")
		var got []wire.LineEvent
		if out != "" {
			for _, l := range strings.Split(out, "\n") {
				ev, ok := wire.ParseLine(l)
				if !ok {
					t.Errorf("%s: ParseLine(%q) not recognised", c.name, l)
				}
				got = append(got, ev)
			}
		}
		if want := wantLines(c.ev); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, want)
		}
		if c.ev.Kind == room.KindMembers {
			want := []room.Member(nil)
			for _, m := range c.ev.Members {
				if m.Away != "" {
					m.Away = "away"
				}
				want = append(want, m)
			}
			if got := wire.ParseMemberList(got[0].Text); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: ParseMemberList = %+v, want %+v", c.name, got, want)
			}
		}
	}
}

func TestParseLineSkipsUnknownLines(t *testing.T) {
	for _, l := range []string{"", "hello", "#lobby", "#lobby ??? what", "[pm] broken", "[pm] @notatime bob -> alice: x", "[pm] @2024-05-01T16:04:05.123Z bob", "#lobby @notatime <a> b", "#lobby away ", "#lobby away bob", "#lobby back ", "#lobby |x", "[pm] |x", "#lobby @notatime | x", "#lobby read up to", "#lobby read up to -1", "[pm] bob read up to x", "[pm]  read up to 3"} {
		if ev, ok := wire.ParseLine(l); ok {
			t.Errorf("ParseLine(%q) = %+v, want not recognised", l, ev)
		}
	}
}

// DecodeFrame reads back every frame EncodeEvent writes.
func TestDecodeFrameReadsEveryGoldenFrame(t *testing.T) {
	for _, c := range goldenCases() {
		ev := c.ev
		f, err := wire.DecodeFrame(wire.EncodeEvent(ev))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if f.Type != ev.Kind.String() {
			t.Errorf("%s: type %q", c.name, f.Type)
		}
		var ok bool
		switch ev.Kind {
		case room.KindMessage, room.KindPrivate:
			ok = f.ID == ev.ID && f.Room == ev.Room && f.From == ev.From && f.To == ev.To && f.Text == ev.Text && f.Action == ev.Action && f.TS == ev.Time.UTC().Format(wire.TimeFormat) &&
				f.Missed == ev.Missed && f.Waiting == ev.Waiting
		case room.KindSettings:
			want := map[string]string{}
			for _, v := range ev.Prefs.Values() {
				want[v.Name] = v.Value
			}
			ok = reflect.DeepEqual(f.Settings, want) && len(f.Ignore) == len(ev.Prefs.Ignored)
		case room.KindJoin, room.KindPart:
			ok = f.Room == ev.Room && f.Nick == ev.From && f.Via == string(ev.Via) && f.Registered == ev.Registered && f.Reason == ev.Text && f.Count == ev.Count
		case room.KindNick:
			ok = f.Room == ev.Room && f.Old == ev.From && f.New == ev.To && f.Registered == ev.Registered
		case room.KindMembers:
			ok = f.Room == ev.Room && len(f.Members) == len(ev.Members) && (len(ev.Members) == 0 || reflect.DeepEqual(f.Members, ev.Members))
			if ev.Paged {
				ok = ok && f.Total == ev.Count && f.Cursor == ev.Cursor && f.Next == ev.Next
			}
		case room.KindPresence:
			p := ev.Presence
			ok = f.Room == ev.Room && f.Count == ev.Count && len(f.Joined) == len(p.Joined) && f.JoinedMore == p.JoinedMore &&
				len(f.Left) == len(p.Left) && len(f.Nicks) == len(p.Nicks) && len(f.GoneAway) == len(p.GoneAway) && len(f.Back) == len(p.Back)
		case room.KindWelcome:
			ok = f.Nick == ev.From && reflect.DeepEqual(f.RoomNames(), ev.Rooms)
		case room.KindNotice:
			ok = f.Text == ev.Text
		case room.KindError:
			ok = f.Code == ev.Code && f.Text == ev.Text
		case room.KindTopic:
			ok = f.Room == ev.Room && f.Topic == ev.Text && f.By == ev.From
		case room.KindRooms:
			ok = len(f.RoomList()) == len(ev.RoomList) && (len(ev.RoomList) == 0 || reflect.DeepEqual(f.RoomList(), ev.RoomList))
		case room.KindHistory:
			ok = f.Room == ev.Room && f.Before == ev.Before && len(f.Messages) == len(ev.History)
			for i, m := range f.Messages {
				ok = ok && m.Type == "message" && m.ID == ev.History[i].ID
			}
		case room.KindMissed:
			ok = f.Room == ev.Room && f.Private == (ev.Room == "") && f.Count == ev.Count
		case room.KindAway:
			ok = f.Room == ev.Room && f.Nick == ev.From && f.Away == ev.Text
		case room.KindRead:
			ok = f.Room == ev.Room && f.Nick == ev.To && f.ID == ev.ID
		}
		if !ok {
			t.Errorf("%s: decoded %+v from %s", c.name, f, f.Raw)
		}
	}
}

// Continuation lines match none of the line shapes of messages a parser of
// the older format knows (room message, action, history, private message),
// so such a bot skips them rather than take them for new messages.
func TestContinuationLinesAreNoOlderMessageShape(t *testing.T) {
	older := []*regexp.Regexp{
		regexp.MustCompile(`^#(\S+) <([^>]+)> (.*)$`),
		regexp.MustCompile(`^#(\S+) <(.+)> (.*)$`),
		regexp.MustCompile(`^#(\S+) \* (\S+) (.*)$`),
		regexp.MustCompile(`^#(\S+) @(\S+) <([^>]+)> (.*)$`),
		regexp.MustCompile(`^#(\S+) @(\S+) \* (\S+) (.*)$`),
		regexp.MustCompile(`^\[pm\] (\S+) -> (\S+): (.*)$`),
		regexp.MustCompile(`^#(\S+) --- (\S+) is now known as (\S+)$`),
	}
	seen := 0
	for _, c := range goldenCases() {
		for _, l := range strings.Split(strings.TrimSuffix(string(wire.FormatLine(c.ev)), "\n"), "\n") {
			if ev, _ := wire.ParseLine(l); !ev.Continued {
				continue
			}
			seen++
			for _, re := range older {
				if re.MatchString(l) {
					t.Errorf("%s: continuation line %q matches the older shape %s", c.name, l, re)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no golden case has continuation lines")
	}
}
