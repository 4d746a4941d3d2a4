package access

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Fold is the key under which nicks are compared, the one comparison both
// the chat core (nicks in use, member order) and registrations use: a nick
// must not be free in one and taken in the other. Nicks that look the
// same are the same nick:
//
//   - compatibility forms are folded (NFKD: fullwidth and mathematical
//     letters, ligatures) and accents are dropped (é, å, í are e, a, i);
//   - case is ignored, and so are dots ('.', and ٠ which looks like one),
//     as a dot is easily missed;
//   - confusable letters (Cyrillic а for Latin a, 0 for O, rn for m) are
//     mapped by the Unicode TR39 skeleton; since I looks like l and,
//     ignoring case, is i, i and l fold together too;
//   - small capitals (ᴀ), stroked and barred letters (ł, ƚ) and the digits
//     of other scripts, which neither NFKD nor TR39 maps to plain letters,
//     are mapped by hand.
//
// A nick in another script stays its own nick (мария, 東京); only marks of
// the Latin, Greek and Cyrillic accents are dropped, not the marks that make
// another letter in other scripts (Japanese が is not か).
//
// Applying the steps can reveal more to fold (a digit mapped by value may
// be a confusable), so they are repeated until nothing changes: the fold of
// a fold is itself.
func Fold(nick string) string {
	folded := foldPass(nick)
	for range maxFoldPasses {
		again := foldPass(folded)
		if again == folded {
			break
		}
		folded = again
	}
	if folded == "" {
		return "." // a nick of dots: a key that is not empty
	}
	return folded
}

// maxFoldPasses bounds Fold's repetitions; two are enough for every
// nick FuzzFoldNick has found.
const maxFoldPasses = 4

func foldPass(s string) string {
	// Lower case and the skeleton first: compatibility decomposition can
	// turn a lookalike into another letter (U+03F9 Ϲ, which looks like C,
	// decomposes to Σ, whose skeleton is o), and it must fold as its lower
	// case does.
	s = strings.ToLower(confusables.Skeleton(strings.ToLower(s)))
	s = strings.ToLower(norm.NFKD.String(s))
	s = strings.Map(foldRune, s)
	return strings.ReplaceAll(s, "i", "l")
}

// foldRune is the per-letter part of Fold; -1 drops the rune.
func foldRune(r rune) rune {
	switch {
	case r < utf8.RuneSelf:
		if r == '.' {
			return -1
		}
		return r
	case unicode.Is(accentMarks, r):
		return -1
	}
	if plain, ok := lookalikeLetters[r]; ok {
		return plain
	}
	if d, ok := asciiDigit(r); ok {
		return d
	}
	return r
}

// accentMarks are the combining marks that accent Latin, Greek and
// Cyrillic letters (the Combining Diacritical Marks blocks), which NFKD and
// the TR39 skeleton split off letters such as é, ł (l + U+0338) and ƚ.
var accentMarks = &unicode.RangeTable{R16: []unicode.Range16{
	{Lo: 0x0300, Hi: 0x036F, Stride: 1}, // Combining Diacritical Marks
	{Lo: 0x1AB0, Hi: 0x1AFF, Stride: 1}, // ... Extended
	{Lo: 0x1DC0, Hi: 0x1DFF, Stride: 1}, // ... Supplement
	{Lo: 0x20D0, Hi: 0x20FF, Stride: 1}, // ... for Symbols
	{Lo: 0xFE20, Hi: 0xFE2F, Stride: 1}, // Combining Half Marks
}}

// lookalikeLetters maps the lower-case letters that look like a Latin
// letter but that neither NFKD nor the TR39 skeleton maps to it: small
// capitals, and letters with a stroke, bar or hook.
var lookalikeLetters = map[rune]rune{
	// Small capitals.
	'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ꜰ': 'f', 'ɢ': 'g', 'ʜ': 'h', 'ɪ': 'i',
	'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ꞯ': 'q', 'ʀ': 'r',
	'ꜱ': 's', 'ᴛ': 't', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z', 'ᴌ': 'l',
	// Strokes, bars and hooks.
	'ł': 'l', 'ƚ': 'l', 'ɫ': 'l', 'ɬ': 'l', 'ɭ': 'l', 'ȴ': 'l', 'ꝉ': 'l',
	'đ': 'd', 'ɗ': 'd', 'ɖ': 'd', 'ħ': 'h', 'ŧ': 't', 'ƭ': 't', 'ʈ': 't', 'ø': 'o', 'ƀ': 'b', 'ɓ': 'b',
	'ɨ': 'i', 'ƶ': 'z', 'ȥ': 'z', 'ǥ': 'g', 'ɠ': 'g', 'ɍ': 'r', 'ɽ': 'r', 'ɏ': 'y', 'ƴ': 'y',
	'ȼ': 'c', 'ƈ': 'c', 'ɇ': 'e', 'ʉ': 'u', 'ᵽ': 'p', 'ƥ': 'p', 'ꝁ': 'k', 'ƙ': 'k', 'ꝑ': 'p',
	'ꝗ': 'q', 'ʠ': 'q', 'ɲ': 'n', 'ɳ': 'n', 'ƞ': 'n', 'ɱ': 'm', 'ʂ': 's', 'ʐ': 'z', 'ʋ': 'v',
	'ƒ': 'f', 'ƌ': 'd', 'ɦ': 'h', 'ʝ': 'j', 'ɉ': 'j',
}

// asciiDigit maps a decimal digit of any script (Arabic-Indic ٣,
// Devanagari ३, ...) to the ASCII digit of the same value. Unicode encodes
// every script's decimal digits as a run of ten, 0 to 9, so a digit's value
// is its distance from the start of its run in the Nd table, modulo ten
// (TestDigitRunsOfTen checks this of the table Go ships).
func asciiDigit(r rune) (rune, bool) {
	if r < utf8.RuneSelf || !unicode.Is(unicode.Nd, r) {
		return r, false
	}
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return '0' + (r-rune(rg.Lo))%10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return '0' + (r-rune(rg.Lo))%10, true
		}
	}
	return r, false
}
