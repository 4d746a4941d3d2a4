package room

import (
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
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

func TestLookalikeNicksFoldTogether(t *testing.T) {
	same := [][]string{
		{"alice", "ALICE", "Alice", "\u0430lice" /* Cyrillic а */, "aIice" /* capital i */, "a1ice"},
		{"bob0", "bobO", "BOBO"},
		{"tom", "torn"},
	}
	for _, group := range same {
		for _, n := range group[1:] {
			if foldNick(n) != foldNick(group[0]) {
				t.Errorf("%q and %q should fold together: %q vs %q", group[0], n, foldNick(group[0]), foldNick(n))
			}
		}
	}
	if foldNick("alice") == foldNick("alicia") || foldNick("bob") == foldNick("rob") {
		t.Error("different nicks folded together")
	}
}

// Lookalikes once accepted next to a registered alice (small capitals,
// stroked and barred letters, accents, other scripts' digits) fold to
// alice; genuinely different nicks, in any script, stay their own.
func TestLookalikesOfANickFoldToIt(t *testing.T) {
	alice := foldNick("alice")
	for _, n := range []string{
		"ᴀʟɪᴄᴇ",                   // Latin small capitals
		"ałice", "aƚice", "AŁICE", // l with stroke or bar
		"alice٠",                     // Arabic-Indic zero, which looks like a dot
		"alice.", ".alice", "a.lice", // so dots are ignored
		"alíce", "ålice", "alicé", "ÀLÏÇË", // accents
		"ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "\u0430lice", "aIice", "a1ice", // already folded before
		"al\u0301ice", // a decomposed accent (not a valid nick, but folded alike)
	} {
		if got := foldNick(n); got != alice {
			t.Errorf("foldNick(%q) = %q, want %q (alice)", n, got, alice)
		}
	}
	// Digits of other scripts are their value.
	for a, b := range map[string]string{"bob٣": "bob3", "bob३": "bob3", "bob𝟕": "bob7", "bob７": "bob7"} {
		if foldNick(a) != foldNick(b) {
			t.Errorf("foldNick(%q) = %q, foldNick(%q) = %q: should be equal", a, foldNick(a), b, foldNick(b))
		}
	}
	// Different nicks stay different, in every script.
	distinct := []string{"alice", "alicia", "bob", "bob3", "bob7", "мария", "марина", "東京", "京都", "jose", "がっこう", "かっこう", "محمد", "alice_2", "alice-2", "yannick", "ünal_x"}
	seen := map[string]string{}
	for _, n := range distinct {
		f := foldNick(n)
		if other, dup := seen[f]; dup {
			t.Errorf("%q and %q fold together (%q)", n, other, f)
		}
		seen[f] = n
	}
	// José is jose: the accent is not what tells them apart.
	if foldNick("José") != foldNick("jose") {
		t.Errorf("José folds to %q, jose to %q", foldNick("José"), foldNick("jose"))
	}
	if foldNick(".") == "" || foldNick("..") != foldNick(".") {
		t.Errorf("a nick of dots folds to %q", foldNick("."))
	}
}

// asciiDigit relies on Unicode encoding every script's decimal digits as
// runs of ten; this checks the table Go ships.
func TestDigitRunsOfTen(t *testing.T) {
	for _, rg := range unicode.Nd.R16 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U-%U stride %d is not runs of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U-%U stride %d is not runs of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	// Where NFKD knows a digit's value, asciiDigit agrees.
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		d, ok := asciiDigit(r)
		if !ok {
			continue
		}
		if k := norm.NFKD.String(string(r)); len(k) == 1 && k[0] >= '0' && k[0] <= '9' && rune(k[0]) != d {
			t.Errorf("asciiDigit(%U) = %c, NFKD says %s", r, d, k)
		}
	}
}
