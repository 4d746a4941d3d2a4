package sshchat

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseOneShotArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want OneShotArgs
	}{
		{"say #dev hi", OneShotArgs{Command: "say", Rooms: []string{"#dev"}, Text: "hi", HasText: true, Count: 10}},
		// The text is the rest of the line, verbatim: spacing, quotes and
		// things that look like options are kept.
		{"say #dev  it's  -n 5 \"ok\" ", OneShotArgs{Command: "say", Rooms: []string{"#dev"}, Text: "it's  -n 5 \"ok\"", HasText: true, Count: 10}},
		{"say #dev", OneShotArgs{Command: "say", Rooms: []string{"#dev"}, Count: 10}},
		{"say --lines #dev", OneShotArgs{Command: "say", Rooms: []string{"#dev"}, Lines: true, Count: 10}},
		{"tail #dev", OneShotArgs{Command: "tail", Rooms: []string{"#dev"}, Count: 10}},
		{"tail -f -n 3 #a #b --json", OneShotArgs{Command: "tail", Rooms: []string{"#a", "#b"}, Follow: true, Count: 3, JSON: true}},
		{"history #dev --before 42 -n 5 --json", OneShotArgs{Command: "history", Rooms: []string{"#dev"}, Before: 42, Count: 5, JSON: true}},
		{"history --after 7 #dev", OneShotArgs{Command: "history", Rooms: []string{"#dev"}, After: 7, Count: 10}},
		{"who #dev", OneShotArgs{Command: "who", Rooms: []string{"#dev"}, Count: 10}},
		{"rooms --json", OneShotArgs{Command: "rooms", JSON: true, Count: 10}},
		{"whois alice", OneShotArgs{Command: "whois", Nick: "alice", Count: 10}},
		{"msg alice see you  at 5", OneShotArgs{Command: "msg", Nick: "alice", Text: "see you  at 5", HasText: true, Count: 10}},
		{"help", OneShotArgs{Command: "help", Count: 10}},
		{"\t say\t#dev\thi\n", OneShotArgs{Command: "say", Rooms: []string{"#dev"}, Text: "hi", HasText: true, Count: 10}},
	} {
		got, err := ParseOneShotArgs(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseOneShotArgsRefuses(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "no command"},
		{"   ", "no command"},
		{"dance #dev", `unknown command "dance"`},
		{"say", "say [--lines] #ROOM"},
		{"say dev hi", "is not a room"},
		{"say --lines #dev hi", "give no TEXT"},
		{"say -x #dev hi", "unknown option"},
		{"msg alice", "msg NICK TEXT"},
		{"tail", "tail [-f]"},
		{"tail dev", "is not a room"},
		{"tail -n 0 #dev", "-n takes 1 to 200"},
		{"tail -n 201 #dev", "-n takes 1 to 200"},
		{"tail -n x #dev", "needs a number"},
		{"tail -n", "needs a number"},
		{"tail -x #dev", "unknown option"},
		{"history #a #b", "history #ROOM"},
		{"history #dev --before 1 --after 2", "not both"},
		{"who", "who #ROOM"},
		{"whois", "whois NICK"},
		{"rooms extra", "takes no arguments"},
		{"tail " + strings.Repeat("#r ", MaxOneShotRooms+1), "at most 16 rooms"},
		{"tail " + strings.Repeat("#r ", MaxOneShotArgs), "more than 64 arguments"},
		{"say #dev " + strings.Repeat("x", MaxOneShotCommand), "longer than"},
	} {
		_, err := ParseOneShotArgs(tc.line)
		if err == nil {
			t.Errorf("%.40q: accepted", tc.line)
			continue
		}
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %q, want a usage error with %q", tc.line, err, tc.want)
		}
	}
}

// An error quotes a long word shortened, on one line, with valid UTF-8.
func TestParseOneShotArgsQuotesShortly(t *testing.T) {
	_, err := ParseOneShotArgs("\x1b[2J" + strings.Repeat("é", 100))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if len(msg) > 120 || strings.ContainsAny(msg, "\n\x1b") || !utf8.ValidString(msg) {
		t.Errorf("error %q: want one short line of valid UTF-8 without escapes", msg)
	}
}

// A one-shot's error line keeps no control character: escape sequences,
// C1 introducers and line breaks become spaces.
func TestOneShotErrorsCarryNoControls(t *testing.T) {
	got := withoutControls("no room \x1b[2J#x\u009b31m\r\nnext\x7f")
	if strings.ContainsAny(got, "\x1b\u009b\r\n\x7f") || got != "no room  [2J#x 31m  next " {
		t.Errorf("withoutControls = %q", got)
	}
}

func FuzzOneShotArgs(f *testing.F) {
	for _, seed := range []string{
		"say #dev hi", "say --lines #dev", "tail -f -n 3 #a #b --json", "history #dev --before 42 -n 5",
		"history --after 7 #dev", "who #dev", "rooms", "whois alice", "msg alice hi", "help", "", "tail -n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a, err := ParseOneShotArgs(line)
		if err != nil {
			if !errors.Is(err, errUsage) {
				t.Fatalf("%q: error %v is not a usage error", line, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("%q: error %q is not one plain line", line, err)
			}
			return
		}
		if len(line) > MaxOneShotCommand {
			t.Fatalf("%q: accepted beyond the size bound", line)
		}
		if a.Count < 1 || a.Count > MaxOneShotCount || len(a.Rooms) > MaxOneShotRooms {
			t.Fatalf("%q: out of bounds: %+v", line, a)
		}
		for _, r := range a.Rooms {
			if !strings.HasPrefix(r, "#") || strings.ContainsFunc(r, func(c rune) bool { return c == ' ' || c == '\n' || c == '\t' }) {
				t.Fatalf("%q: room %q", line, r)
			}
		}
		switch a.Command {
		case "say":
			if len(a.Rooms) != 1 || (a.Lines && a.HasText) {
				t.Fatalf("%q: %+v", line, a)
			}
		case "msg":
			if a.Nick == "" || !a.HasText {
				t.Fatalf("%q: %+v", line, a)
			}
		case "tail":
			if len(a.Rooms) == 0 {
				t.Fatalf("%q: %+v", line, a)
			}
		case "history", "who":
			if len(a.Rooms) != 1 || (a.Before != 0 && a.After != 0) {
				t.Fatalf("%q: %+v", line, a)
			}
		case "whois":
			if a.Nick == "" {
				t.Fatalf("%q: %+v", line, a)
			}
		case "rooms", "help":
		default:
			t.Fatalf("%q: command %q accepted", line, a.Command)
		}
		if a.HasText != (a.Text != "") || a.Text != strings.TrimSpace(a.Text) {
			t.Fatalf("%q: text %q", line, a.Text)
		}
	})
}
