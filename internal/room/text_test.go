package room

import (
	"testing"
)

func TestCleanLine(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"trim", "  hi  ", "hi"},
		{"tab", "a\tb", "a b"},
		{"csi colour", "\x1b[31mred\x1b[0m", "red"},
		{"clear screen", "\x1b[2J\x1b[Hgone", "gone"},
		{"osc title", "\x1b]0;pwned\x07after", "after"},
		{"osc st", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"dcs", "\x1bPq#0;2;0;0;0\x1b\\ok", "ok"},
		{"backspace forge", "hi\b\b\b\balice: forged", "hialice: forged"},
		{"carriage return", "innocent\rbob: evil", "innocentbob: evil"},
		{"bell", "ding\x07", "ding"},
		{"nul", "a\x00b", "ab"},
		{"c1 csi removed whole", "a\u009b31mb", "ab"},
		{"c1 osc payload removed", "a\u009d0;PWNTITLE\u009cb", "ab"},
		{"c1 dcs payload removed", "a\u0090q#0;2\u009cb", "ab"},
		{"c1 osc ended by bel", "a\u009d0;t\x07b", "ab"},
		{"c1 apc unterminated", "a\u009fhidden", "a"},
		{"bidi override", "abc\u202Efed", "abcfed"},
		{"bidi isolate", "\u2066x\u2069", "x"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"emoji zwj kept", "👩‍💻", "👩‍💻"},
		{"accents kept", "¿Qué tal, señora?", "¿Qué tal, señora?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CleanLine(c.in); got != c.want {
				t.Fatalf("CleanLine(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestSplitLines(t *testing.T) {
	got := SplitLines("a\r\nb\rc\nd")
	if len(got) != 4 || got[0] != "a" || got[1] != "b" || got[2] != "c" || got[3] != "d" {
		t.Fatalf("%q", got)
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		in, name, args string
		ok             bool
	}{
		{"/nick bob", "nick", "bob", true},
		{"/NICK  bob ", "nick", "bob", true},
		{"/who", "who", "", true},
		{"//not a command", "", "", false},
		{"hello /who", "", "", false},
		{"/", "", "", true},
	}
	for _, c := range cases {
		name, args, ok := ParseCommand(c.in)
		if name != c.name || args != c.args || ok != c.ok {
			t.Errorf("ParseCommand(%q) = %q %q %v", c.in, name, args, ok)
		}
	}
}

func TestNicks(t *testing.T) {
	for _, ok := range []string{"alice", "a", "Bob_2", "x.y-z", "José", "abcdefghijklmnopqrstuvwx"} {
		if err := ValidateNick(ok); err != nil {
			t.Errorf("ValidateNick(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "<b>", "abcdefghijklmnopqrstuvwxy", "a\u202Eb", "a\x1bb", "al:ice"} {
		if err := ValidateNick(bad); err == nil {
			t.Errorf("ValidateNick(%q) accepted", bad)
		}
	}
	if got := SuggestNick("root@host!"); got != "roothost" {
		t.Errorf("SuggestNick = %q", got)
	}
	if got := SuggestNick("!!!"); got != "guest" {
		t.Errorf("SuggestNick = %q", got)
	}
}
