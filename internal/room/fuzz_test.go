package room

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostileSamples are the inputs of issue #5's threat list; they seed every
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
		if foldNick(in) != foldNick(strings.ToLower(in)) {
			t.Fatalf("foldNick(%q) depends on case", in)
		}
	})
}
