package access

import (
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

func TestLookalikeNicksFoldTogether(t *testing.T) {
	same := [][]string{
		{"alice", "ALICE", "Alice", "\u0430lice" /* Cyrillic а */, "aIice" /* capital i */, "a1ice"},
		{"bob0", "bobO", "BOBO"},
		{"tom", "torn"},
		{"bob", "ｂｏｂ", "ＢＯＢ", "b\u043eb" /* Cyrillic о */, "𝐛𝐨𝐛"}, // full-width and mathematical: NFKD
	}
	for _, group := range same {
		for _, n := range group[1:] {
			if Fold(n) != Fold(group[0]) {
				t.Errorf("%q and %q should fold together: %q vs %q", group[0], n, Fold(group[0]), Fold(n))
			}
		}
	}
	if Fold("alice") == Fold("alicia") || Fold("bob") == Fold("rob") {
		t.Error("different nicks folded together")
	}
}

// Lookalikes once accepted next to a registered alice (small capitals,
// stroked and barred letters, accents, other scripts' digits) fold to
// alice; genuinely different nicks, in any script, stay their own.
func TestLookalikesOfANickFoldToIt(t *testing.T) {
	alice := Fold("alice")
	for _, n := range []string{
		"ᴀʟɪᴄᴇ",                   // Latin small capitals
		"ałice", "aƚice", "AŁICE", // l with stroke or bar
		"alice٠",                     // Arabic-Indic zero, which looks like a dot
		"alice.", ".alice", "a.lice", // so dots are ignored
		"alíce", "ålice", "alicé", "ÀLÏÇË", // accents
		"ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "\u0430lice", "aIice", "a1ice", // already folded before
		"al\u0301ice", // a decomposed accent (not a valid nick, but folded alike)
	} {
		if got := Fold(n); got != alice {
			t.Errorf("Fold(%q) = %q, want %q (alice)", n, got, alice)
		}
	}
	// Digits of other scripts are their value.
	for a, b := range map[string]string{"bob٣": "bob3", "bob३": "bob3", "bob𝟕": "bob7", "bob７": "bob7"} {
		if Fold(a) != Fold(b) {
			t.Errorf("Fold(%q) = %q, Fold(%q) = %q: should be equal", a, Fold(a), b, Fold(b))
		}
	}
	// Different nicks stay different, in every script.
	distinct := []string{"alice", "alicia", "bob", "bob3", "bob7", "мария", "марина", "東京", "京都", "jose", "がっこう", "かっこう", "محمد", "alice_2", "alice-2", "yannick", "ünal_x"}
	seen := map[string]string{}
	for _, n := range distinct {
		f := Fold(n)
		if other, dup := seen[f]; dup {
			t.Errorf("%q and %q fold together (%q)", n, other, f)
		}
		seen[f] = n
	}
	// José is jose: the accent is not what tells them apart.
	if Fold("José") != Fold("jose") {
		t.Errorf("José folds to %q, jose to %q", Fold("José"), Fold("jose"))
	}
	if Fold(".") == "" || Fold("..") != Fold(".") {
		t.Errorf("a nick of dots folds to %q", Fold("."))
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
