package wire_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// goldenCase is one event as the server emits it. Its name starts with the
// kind's name; its renderings are testdata/NAME.json (the websocket frame)
// and testdata/NAME.txt (the line-mode lines).
type goldenCase struct {
	name string
	ev   *room.Event
}

func goldenCases() []goldenCase {
	// Not UTC, so that the golden files show times converted to UTC.
	at := time.Date(2024, 5, 1, 20, 4, 5, 123_000_000, time.FixedZone("CEST", 2*3600))
	earlier := at.Add(-2 * time.Hour)
	msg := func(id uint64, from, text string, action bool, t time.Time) *room.Event {
		return &room.Event{Kind: room.KindMessage, ID: id, Room: "lobby", From: from, Text: text, Action: action, Time: t}
	}
	return []goldenCase{
		{"message", msg(42, "alice", "hello", false, at)},
		{"message_action", msg(43, "bob", "waves", true, at)},
		{"message_escaped", msg(44, "alice", `say "hi" <b>&amp;</b> \ café ✓ 東京`, false, at)},
		{"message_echo", &room.Event{Kind: room.KindMessage, ID: 45, Room: "lobby", From: "alice", Text: "hello", Time: at, CID: "c-1f3a"}},
		{"message_lines", msg(45, "alice", "first line\n  indented\n\n#lobby <mallory> not a message of mallory's", false, at)},
		{"message_action_lines", msg(46, "bob", "waves\nand smiles", true, at)},
		{"join", &room.Event{Kind: room.KindJoin, Room: "lobby", From: "bob", Via: room.ViaWeb, Count: 2, Time: at}},
		{"join_registered", &room.Event{Kind: room.KindJoin, Room: "dev", From: "alice", Via: room.ViaSSH, Registered: true, Count: 3, Time: at}},
		{"part", &room.Event{Kind: room.KindPart, Room: "lobby", From: "bob", Text: "quit", Count: 1, Time: at}},
		{"part_room_removed", &room.Event{Kind: room.KindPart, Room: "dev", From: "alice", Text: "room removed by boss: spam", Time: at}},
		{"nick", &room.Event{Kind: room.KindNick, Room: "lobby", From: "bob", To: "robert", Time: at}},
		{"nick_registered", &room.Event{Kind: room.KindNick, Room: "lobby", From: "guest", To: "alice", Registered: true, Time: at}},
		{"members", &room.Event{Kind: room.KindMembers, Room: "lobby", Count: 3, Time: at, Members: []room.Member{
			{Nick: "alice", Via: room.ViaSSH, Registered: true, Away: "lunch"},
			{Nick: "bob", Via: room.ViaWeb},
			{Nick: "carol", Via: room.ViaSSH, Registered: true},
		}}},
		{"members_page", &room.Event{Kind: room.KindMembers, Room: "lobby", Paged: true, Count: 4210, Next: "bob", Time: at, Members: []room.Member{
			{Nick: "alice", Via: room.ViaSSH, Registered: true},
			{Nick: "Bob", Via: room.ViaWeb},
		}}},
		{"members_page_last", &room.Event{Kind: room.KindMembers, Room: "lobby", Paged: true, Cursor: "yves", Count: 4210, Time: at, Members: []room.Member{
			{Nick: "zoe", Via: room.ViaWeb, Away: "lunch"},
		}}},
		{"presence", &room.Event{Kind: room.KindPresence, Room: "lobby", Count: 4210, Time: at, Presence: &room.PresenceSummary{
			Joined: []string{"dan", "eve"}, JoinedMore: 10,
			Left:  []string{"bob", "carol", "mallory"},
			Nicks: []room.NickChange{{Old: "guest", New: "frank"}},
		}}},
		{"presence_away", &room.Event{Kind: room.KindPresence, Room: "dev", Count: 201, Time: at, Presence: &room.PresenceSummary{
			GoneAway: []string{"alice"}, Back: []string{"bob"},
		}}},
		{"members_empty", &room.Event{Kind: room.KindMembers, Room: "dev", Time: at}},
		{"welcome", &room.Event{Kind: room.KindWelcome, From: "alice", Rooms: []string{"lobby"}, Time: at}},
		{"welcome_rooms", &room.Event{Kind: room.KindWelcome, From: "alice", Rooms: []string{"dev", "lobby"}, Time: at}},
		{"welcome_limits", &room.Event{Kind: room.KindWelcome, From: "alice", Rooms: []string{"lobby"}, Time: at, MaxMessage: 2000, MaxLines: 20}},
		{"notice", &room.Event{Kind: room.KindNotice, Text: "Goodbye.", Time: at}},
		{"notice_lines", &room.Event{Kind: room.KindNotice, Text: "Commands:\n  /help  this list\n  /quit [REASON]", Time: at}},
		{"error", &room.Event{Kind: room.KindError, Code: "nick_taken", Text: "the nick bob is already in use; choose another", Time: at}},
		{"error_refused_say", &room.Event{Kind: room.KindError, Code: "too_long", Text: "message not sent: longer than 2000 characters", Time: at, CID: "c-1f3b"}},
		{"private", &room.Event{Kind: room.KindPrivate, ID: 7, From: "bob", To: "alice", Text: "psst", Time: at}},
		{"private_missed", &room.Event{Kind: room.KindPrivate, ID: 9, From: "bob", To: "alice", Text: "psst\nwhile you were out", Time: earlier, Missed: true}},
		{"private_waiting", &room.Event{Kind: room.KindPrivate, ID: 10, From: "bob", To: "alice", Text: "psst", Time: at, Waiting: true}},
		{"settings", &room.Event{Kind: room.KindSettings, Time: at, Prefs: room.PreferencesOf(room.Settings{
			Quiet: true, TimeZone: "Europe/Madrid", Timestamp: room.TimestampDateTime, OfflineMessages: room.OfflineMessagesOff,
			Ignored: []room.Ignored{{Nick: "mallory", Key: "SHA256:m"}, {Nick: "spammer"}},
		})}},
		{"settings_defaults", &room.Event{Kind: room.KindSettings, Time: at, Prefs: room.PreferencesOf(room.Settings{})}},
		{"private_echo", &room.Event{Kind: room.KindPrivate, ID: 9, From: "alice", To: "bob", Text: "psst", Time: at, CID: "c-77ab"}},
		{"private_lines", &room.Event{Kind: room.KindPrivate, ID: 8, From: "bob", To: "alice", Text: "psst\nover here", Time: at}},
		{"topic", &room.Event{Kind: room.KindTopic, Room: "lobby", From: "alice", Text: "Friday: release", Time: at}},
		{"topic_stored", &room.Event{Kind: room.KindTopic, Room: "lobby", Text: "Friday: release", Time: at}},
		{"rooms", &room.Event{Kind: room.KindRooms, Time: at, RoomList: []room.RoomInfo{
			{Name: "dev", Count: 1},
			{Name: "lobby", Count: 3, Topic: "Friday: release"},
		}}},
		{"rooms_empty", &room.Event{Kind: room.KindRooms, Time: at}},
		{"history", &room.Event{Kind: room.KindHistory, Room: "lobby", Time: at, History: []*room.Event{
			msg(41, "alice", "hello", false, earlier),
			msg(42, "bob", "waves", true, earlier.Add(2*time.Second)),
		}}},
		{"history_before", &room.Event{Kind: room.KindHistory, Room: "lobby", Before: 41, More: true, Time: at, History: []*room.Event{
			msg(40, "carol", "first", false, earlier.Add(-time.Minute)),
		}}},
		{"history_after", &room.Event{Kind: room.KindHistory, Room: "lobby", After: 40, Forward: true, Time: at, History: []*room.Event{
			msg(41, "alice", "hello", false, earlier),
		}}},
		{"history_after_none", &room.Event{Kind: room.KindHistory, Room: "dev", Forward: true, Time: at}},
		{"history_empty", &room.Event{Kind: room.KindHistory, Room: "dev", Time: at}},
		{"history_join_more", &room.Event{Kind: room.KindHistory, Room: "lobby", More: true, Time: at, History: []*room.Event{
			msg(41, "alice", "hello", false, earlier),
		}}},
		{"history_lines", &room.Event{Kind: room.KindHistory, Room: "lobby", Time: at, History: []*room.Event{
			msg(43, "alice", "two\nlines", false, earlier),
			msg(44, "bob", "waves\nback", true, earlier.Add(time.Second)),
		}}},
		{"missed", &room.Event{Kind: room.KindMissed, Room: "lobby", Count: 42, Time: at}},
		{"missed_private", &room.Event{Kind: room.KindMissed, Count: 3, Time: at}},
		{"away", &room.Event{Kind: room.KindAway, Room: "lobby", From: "bob", Text: "making coffee", Time: at}},
		{"away_back", &room.Event{Kind: room.KindAway, Room: "lobby", From: "bob", Time: at}},
		{"read", &room.Event{Kind: room.KindRead, Room: "lobby", ID: 123, Time: at}},
		{"read_private", &room.Event{Kind: room.KindRead, To: "bob", ID: 7, Time: at}},
	}
}

// frameCase is a websocket frame that is no event of the core (answered by
// the web front-end itself): testdata/NAME.json only.
type frameCase struct {
	name  string
	frame []byte
}

func frameCases() []frameCase {
	return []frameCase{
		{"pong", wire.EncodePong([]byte(`"p17"`))},
		{"pong_number", wire.EncodePong([]byte(`17`))},
		{"pong_no_id", wire.EncodePong(nil)},
	}
}

// The websocket frames and line-mode lines are a public contract
// (docs/protocol.md): any change to their bytes shows here. Run with
// -update to accept a deliberate addition.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		checkGolden(t, c.name+".json", wire.EncodeEvent(c.ev))
		checkGolden(t, c.name+".txt", wire.FormatLine(c.ev))
	}
	for _, c := range frameCases() {
		checkGolden(t, c.name+".json", c.frame)
	}
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\n got: %q\nwant: %q", file, got, want)
	}
}

// Every kind the core can emit has golden renderings.
func TestGoldenCoversEveryKind(t *testing.T) {
	covered := map[room.Kind]bool{}
	for _, c := range goldenCases() {
		if !strings.HasPrefix(c.name, c.ev.Kind.String()) {
			t.Errorf("case %s is a %s event: name it after its kind", c.name, c.ev.Kind)
		}
		covered[c.ev.Kind] = true
	}
	for _, k := range room.Kinds() {
		if strings.HasPrefix(k.String(), "Kind(") {
			t.Errorf("%v has no name: add it to room.Kind.String", k)
		}
		if !covered[k] {
			t.Errorf("no golden case for %v events: add one to goldenCases", k)
		}
	}
}

// No golden file outlives its case.
func TestNoStaleGoldenFiles(t *testing.T) {
	cases := map[string]bool{}
	for _, c := range goldenCases() {
		cases[c.name] = true
	}
	for _, c := range frameCases() {
		cases[c.name] = true
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if !cases[strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))] {
			t.Errorf("testdata/%s belongs to no golden case", e.Name())
		}
	}
}
