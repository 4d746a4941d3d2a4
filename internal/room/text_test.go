package room

import (
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/access"
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
	for _, bad := range []string{"", "a b", "<b>", "abcdefghijklmnopqrstuvwxy", "a\u202Eb", "a\x1bb", "al:ice", "-", "...", "_", "-_.-"} {
		if err := ValidateNick(bad); err == nil {
			t.Errorf("ValidateNick(%q) accepted", bad)
		}
	}
	if got := SuggestNick("root@host!"); got != "roothost" {
		t.Errorf("SuggestNick = %q", got)
	}
	for _, name := range []string{"!!!", "-", "...", "_-."} {
		if got := SuggestNick(name); got != "guest" {
			t.Errorf("SuggestNick(%q) = %q, want guest", name, got)
		}
	}
}

// A full-width or Cyrillic look-alike of a connected nick is refused to the
// web and replaced by an alternative over SSH; a nick of punctuation only
// is refused to the web, and over SSH the login name gives way to a guest
// nick.
func TestLookalikeAndPunctuationNicksAtConnect(t *testing.T) {
	h := newTestHub(t)
	connect(t, h, "bob", ViaWeb)
	for _, twin := range []string{"ｂｏｂ", "bоb" /* Cyrillic о */, "ＢＯＢ"} {
		if _, err := h.Connect(Identity{Nick: twin, Via: ViaWeb}); errorCode(err) != "nick_taken" {
			t.Errorf("web %q while bob is connected: %v, want nick_taken", twin, err)
		}
		s := connect(t, h, SuggestNick(twin), ViaSSH)
		if s.Nick() == twin || access.Fold(s.Nick()) == access.Fold("bob") {
			t.Errorf("ssh %q while bob is connected: got the nick %q", twin, s.Nick())
		}
	}
	for _, punct := range []string{"-", "...", "_"} {
		if _, err := h.Connect(Identity{Nick: punct, Via: ViaWeb}); errorCode(err) != "bad_nick" {
			t.Errorf("web %q: %v, want bad_nick", punct, err)
		}
		if s := connect(t, h, SuggestNick(punct), ViaSSH); !strings.HasPrefix(s.Nick(), "guest") {
			t.Errorf("ssh %q: got the nick %q, want a guest nick", punct, s.Nick())
		}
	}
	a := connect(t, h, "alice", ViaSSH)
	if ev := answerTo(t, h, a, "/nick ..."); ev.Kind != KindError || ev.Code != "bad_nick" {
		t.Errorf("/nick ...: %+v", ev)
	}
}

// A multi-line text is one message: line breaks of any kind become '\n',
// each line is cleaned (no escape can ride on a continuation line), lines
// after the first keep their indentation, and blank lines at either end
// are dropped.
func TestMessageText(t *testing.T) {
	cases := []struct {
		name, in, want string
		lines          int
	}{
		{"one line", "  hello  ", "hello", 1},
		{"lf", "one\ntwo", "one\ntwo", 2},
		{"crlf and lone cr", "one\r\ntwo\rthree", "one\ntwo\nthree", 3},
		{"indentation kept after the first", "  if x {\n    y()\n  }  ", "if x {\n    y()\n  }", 3},
		{"blank lines at the ends dropped", "\n\n  \none\n\ntwo\n \n", "one\n\ntwo", 3},
		{"escapes cleaned on every line", "a\x1b[2J\n\x1b]0;title\x07b\n\x1b[1Ac", "a\nb\nc", 3},
		{"escape split across lines", "a\x1b]0;x\ny\x07z", "a\nyz", 2},
		{"c1 and bidi on a continuation", "a\n\u009b2Jb\u202e", "a\nb", 2},
		{"only blanks", "\n \r\n\t", "", 0},
		{"separators are not breaks", "a\u2028b", "a b", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, lines := MessageText(c.in)
			if got != c.want || lines != c.lines {
				t.Fatalf("MessageText(%q) = %q, %d lines; want %q, %d", c.in, got, lines, c.want, c.lines)
			}
		})
	}
}
