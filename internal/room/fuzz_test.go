package room

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tertulia/tertulia/internal/access"
)

// hostileSamples are hostile inputs (escape sequences, control and bidi
// characters, invalid UTF-8, lookalikes, oversized lines); they seed every
// fuzz target here (the committed corpora under testdata/fuzz hold them
// too, with the fuzzer's own finds).
var hostileSamples = []string{
	"hello",
	"\x1b[31mred\x1b[0m",
	"\x1b[2J\x1b[Hcleared",
	"\x1b[10;20Hmoved\x1b[A\x1b[K",
	"\x1b]0;pwned title\x07after",
	"\x1b]2;pwned title\x1b\\after",
	"\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
	"\x1bPq#0;2;0;0;0#0~~@@vv\x1b\\sixel",
	"\x1b[200~pasted\x1b[201~",
	"hi\b\b\b\b\b\b\balice: forged",
	"innocent\ralice: evil",
	"line one\nalice: second line",
	"abc\u202Efed",
	"\u2066isolate\u2069 \u200e\u200f\u061c",
	"al\u200bice",
	"a\xffb\xc0\xaf\xed\xa0\x80",
	"nul\x00byte",
	"<script>alert(1)</script>",
	"<img src=x onerror=alert(1)>",
	"\u009b31mC1 CSI\u009d0;t\u009c\u0090dcs\u009c",
	"\x1b",
	"\x1b[",
	"\x1b]",
	"text\x1b",
	"\t tabs \t",
	"/nick bob",
	"/NICK  <script> ",
	"//not a command",
	"/",
	"/ spaced",
	"/\x1b[31mred",
	"/msg\talice hi",
	"👩\u200d💻 ¿Qué tal?",
	"\u0430lice",
	"hi\u2028alice: forged\u2029ok",
}

func addSamples(f *testing.F) {
	for _, s := range hostileSamples {
		f.Add(s)
	}
}

// unsafeRune reports a rune CleanLine must never let through: C0 and C1
// controls (ESC, CR, BS, NUL, CSI...), bidi controls, and the Unicode line
// and paragraph separators (a line break for Python's str.splitlines).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029'
}

// Seen by the fuzz seeds too; kept here as plain cases for clarity.
func TestCleanLineLineSeparators(t *testing.T) {
	for in, want := range map[string]string{
		"hi\u2028alice: forged":  "hi alice: forged",
		"a\u2029b":               "a b",
		"\u2028\u2029edge\u2028": "edge",
		"nel\u0085x":             "nelx",
	} {
		if got := CleanLine(in); got != want {
			t.Errorf("CleanLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCleanLine(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanLine(in)
		if !utf8.ValidString(out) {
			t.Fatalf("CleanLine(%q) = %q: invalid UTF-8", in, out)
		}
		for i, r := range out {
			if unsafeRune(r) {
				t.Fatalf("CleanLine(%q) = %q: unsafe rune %U at %d", in, out, r, i)
			}
		}
		if strings.TrimSpace(out) != out {
			t.Fatalf("CleanLine(%q) = %q: not trimmed", in, out)
		}
		if again := CleanLine(out); again != out {
			t.Fatalf("CleanLine is not idempotent: %q -> %q -> %q", in, out, again)
		}
		if len(out) > 3*len(in)+3 {
			// Only invalid bytes grow (one byte to three of U+FFFD).
			t.Fatalf("CleanLine(%q) grew to %d bytes", in, len(out))
		}
	})
}

func FuzzSplitLines(f *testing.F) {
	addSamples(f)
	f.Add("a\r\nb\rc\nd\r\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines := SplitLines(in)
		if len(lines) == 0 {
			t.Fatalf("SplitLines(%q) returned no line", in)
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("SplitLines(%q) left a line break in %q", in, l)
			}
		}
		// Nothing but the line breaks is lost.
		joined := strings.Join(lines, "")
		stripped := strings.NewReplacer("\r", "", "\n", "").Replace(in)
		if joined != stripped {
			t.Fatalf("SplitLines(%q) lost text: %q vs %q", in, joined, stripped)
		}
		// A cleaned line is still one line.
		for _, l := range lines {
			if c := CleanLine(l); len(SplitLines(c)) != 1 {
				t.Fatalf("CleanLine(%q) = %q splits again", l, c)
			}
		}
	})
}

// A message's text holds only '\n' as a line break and, on every line, no
// rune CleanLine would remove; it has the lines it says, none blank at
// either end, and cleaning it again changes nothing.
func FuzzMessageText(f *testing.F) {
	addSamples(f)
	f.Add("one\r\n  two\rthree\n\n")
	f.Add("a\x1b]0;x\ny\x07z\n\u009b2Jb")
	f.Fuzz(func(t *testing.T, in string) {
		text, lines := MessageText(in)
		if text == "" {
			if lines != 0 {
				t.Fatalf("MessageText(%q) = \"\" with %d lines", in, lines)
			}
			return
		}
		parts := strings.Split(text, "\n")
		if len(parts) != lines {
			t.Fatalf("MessageText(%q) = %q: %d lines, says %d", in, text, len(parts), lines)
		}
		for i, l := range parts {
			for _, r := range l {
				if unsafeRune(r) {
					t.Fatalf("MessageText(%q) line %d %q: unsafe rune %U", in, i, l, r)
				}
			}
			if CleanLine(l) != strings.TrimSpace(l) {
				t.Fatalf("MessageText(%q) line %d %q is not clean", in, i, l)
			}
		}
		if parts[0] != strings.TrimSpace(parts[0]) || parts[0] == "" || strings.TrimSpace(parts[len(parts)-1]) == "" {
			t.Fatalf("MessageText(%q) = %q: untrimmed ends", in, text)
		}
		if again, n := MessageText(text); again != text || n != lines {
			t.Fatalf("MessageText is not idempotent: %q -> %q -> %q", in, text, again)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, in string) {
		name, args, ok := ParseCommand(in)
		isCmd := strings.HasPrefix(in, "/") && !strings.HasPrefix(in, "//")
		if ok != isCmd {
			t.Fatalf("ParseCommand(%q) ok = %v", in, ok)
		}
		if !ok {
			if name != "" || args != "" {
				t.Fatalf("ParseCommand(%q) = %q %q for a non-command", in, name, args)
			}
			return
		}
		if strings.Contains(name, " ") {
			t.Fatalf("ParseCommand(%q): name %q has a space", in, name)
		}
		if name != strings.ToLower(name) {
			t.Fatalf("ParseCommand(%q): name %q is not lower case", in, name)
		}
		if strings.TrimSpace(args) != args {
			t.Fatalf("ParseCommand(%q): args %q not trimmed", in, args)
		}
		// On cleaned input (what the hub parses) name and args hold no
		// control characters.
		cn, ca, cok := ParseCommand(CleanLine(in))
		if cok {
			for _, r := range cn + ca {
				if unsafeRune(r) {
					t.Fatalf("ParseCommand(CleanLine(%q)) = %q %q: unsafe rune %U", in, cn, ca, r)
				}
			}
		}
	})
}

func FuzzValidateNick(f *testing.F) {
	addSamples(f)
	for _, s := range []string{"alice", "José", "abcdefghijklmnopqrstuvwxy", "x.y-z_1", "root@host!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Whatever an SSH client sends as its user name becomes a valid nick.
		s := SuggestNick(in)
		if err := ValidateNick(s); err != nil {
			t.Fatalf("SuggestNick(%q) = %q, which ValidateNick refuses: %v", in, s, err)
		}
		if SuggestNick(s) != s {
			t.Fatalf("SuggestNick not idempotent: %q -> %q -> %q", in, s, SuggestNick(s))
		}
		if ValidateNick(in) != nil {
			return
		}
		// A valid nick is plain: nothing to clean, no markup, no
		// controls, no invisible or bidi characters, no spaces.
		if CleanLine(in) != in {
			t.Fatalf("valid nick %q changes when cleaned: %q", in, CleanLine(in))
		}
		if SuggestNick(in) != in {
			t.Fatalf("valid nick %q suggested as %q", in, SuggestNick(in))
		}
		for _, r := range in {
			if unsafeRune(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || strings.ContainsRune("<>&\"'/:@#!", r) {
				t.Fatalf("ValidateNick accepted %q with %U", in, r)
			}
		}
		if n := utf8.RuneCountInString(in); n < 1 || n > MaxNickLen {
			t.Fatalf("ValidateNick accepted %q of %d runes", in, n)
		}
		if access.Fold(in) != access.Fold(strings.ToLower(in)) {
			t.Fatalf("access.Fold(%q) depends on case", in)
		}
	})
}

// disguises are ways to write an ASCII letter that must fold like it:
// fullwidth, mathematical bold, small capital, and Cyrillic where it has
// a twin.
var disguises = map[byte][]string{
	'a': {"ａ", "𝐚", "ᴀ", "а", "á", "å"}, 'b': {"ｂ", "𝐛", "ʙ"}, 'c': {"ｃ", "𝐜", "ᴄ", "с", "ç"},
	'd': {"ｄ", "𝐝", "ᴅ", "đ"}, 'e': {"ｅ", "𝐞", "ᴇ", "е", "é", "ë"}, 'f': {"ｆ", "𝐟", "ꜰ"},
	'g': {"ｇ", "𝐠", "ɢ"}, 'h': {"ｈ", "𝐡", "ʜ", "ħ"}, 'i': {"ｉ", "𝐢", "ɪ", "í", "ı"},
	'j': {"ｊ", "𝐣", "ᴊ"}, 'k': {"ｋ", "𝐤", "ᴋ"}, 'l': {"ｌ", "𝐥", "ʟ", "ł", "ƚ", "I", "1"},
	'm': {"ｍ", "𝐦", "ᴍ"}, 'n': {"ｎ", "𝐧", "ɴ", "ñ"}, 'o': {"ｏ", "𝐨", "ᴏ", "о", "ö", "0"},
	'p': {"ｐ", "𝐩", "ᴘ", "р"}, 'q': {"ｑ", "𝐪"}, 'r': {"ｒ", "𝐫", "ʀ"}, 's': {"ｓ", "𝐬", "ꜱ", "ś"},
	't': {"ｔ", "𝐭", "ᴛ", "ŧ"}, 'u': {"ｕ", "𝐮", "ᴜ", "ü"}, 'v': {"ｖ", "𝐯", "ᴠ"}, 'w': {"ｗ", "𝐰", "ᴡ"},
	'x': {"ｘ", "𝐱", "х"}, 'y': {"ｙ", "𝐲", "ʏ", "ý"}, 'z': {"ｚ", "𝐳", "ᴢ", "ž"},
	'0': {"０", "𝟎"}, '1': {"１", "𝟏"}, '2': {"２", "𝟐", "٢"}, '3': {"３", "𝟑", "٣"}, '4': {"４", "𝟒"},
	'5': {"５", "𝟓"}, '6': {"６", "𝟔"}, '7': {"７", "𝟕"}, '8': {"８", "𝟖"}, '9': {"９", "𝟗"},
}

// Folding never fails, is its own fixed point, and
// every disguise of an ASCII nick folds like the nick.
func FuzzFoldNick(f *testing.F) {
	addSamples(f)
	for _, s := range []string{"alice", "ᴀʟɪᴄᴇ", "ałice", "aƚice", "alice٠", "alíce", "ålice", "alicé", "José", "мария", "東京", "がっこう", "...", "Roberta_42", "rn.m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		folded := access.Fold(in)
		if folded == "" || !utf8.ValidString(folded) {
			t.Fatalf("access.Fold(%q) = %q", in, folded)
		}
		if again := access.Fold(folded); again != folded {
			t.Fatalf("Fold is not idempotent: %q -> %q -> %q", in, folded, again)
		}
		if ValidateNick(in) == nil && access.Fold(strings.ToLower(in)) != folded {
			t.Fatalf("access.Fold(%q) depends on case", in)
		}
		// The input's bytes, as an ASCII nick and as choices of disguise.
		var plain, disguised strings.Builder
		for i := 0; i < len(in) && plain.Len() < MaxNickLen; i++ {
			c := in[i] | 0x20 // lower case for letters
			if in[i] >= '0' && in[i] <= '9' {
				c = in[i]
			}
			alts, ok := disguises[c]
			if !ok {
				continue
			}
			plain.WriteByte(c)
			if pick := int(in[i]) % (len(alts) + 1); pick < len(alts) {
				disguised.WriteString(alts[pick])
			} else {
				disguised.WriteByte(c)
			}
		}
		if plain.Len() == 0 {
			return
		}
		want := access.Fold(plain.String())
		for _, r := range want {
			if r >= utf8.RuneSelf {
				t.Fatalf("ASCII nick %q folds to non-ASCII %q", plain.String(), want)
			}
		}
		if got := access.Fold(disguised.String()); got != want {
			t.Fatalf("%q disguised as %q folds to %q, not %q", plain.String(), disguised.String(), got, want)
		}
	})
}
