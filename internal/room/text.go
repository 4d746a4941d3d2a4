package room

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// MaxNickLen is the longest nick, in characters.
const MaxNickLen = 24

// CleanLine makes one line of user text safe to show on any terminal or page:
// invalid UTF-8 is repaired, escape sequences (CSI, OSC, DCS, ...) are removed,
// and remaining control and bidi-override characters are dropped, so nothing a
// user sends can move another user's cursor or reorder their screen. Tabs
// and Unicode line/paragraph separators become spaces. The result is trimmed.
func CleanLine(s string) string { return strings.TrimSpace(cleanText(s)) }

// cleanText is CleanLine without the trimming.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if hasC1(s) {
		s = c1AsEscapes(s)
	}
	if strings.ContainsRune(s, '\x1b') {
		s = ansi.Strip(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t', r == '\u2028', r == '\u2029': // line/paragraph separators end a line for some readers
			b.WriteByte(' ')
		case unicode.IsControl(r), isBidiControl(r):
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// hasC1 reports whether s holds a C1 control character (U+0080–U+009F).
func hasC1(s string) bool {
	for _, r := range s {
		if r >= 0x80 && r <= 0x9f {
			return true
		}
	}
	return false
}

// c1AsEscapes rewrites each C1 control as its 7-bit form (ESC followed by
// the control minus 0x40: U+009D OSC becomes ESC ], U+009C ST becomes
// ESC \), so that the escape-sequence parser removes a C1 sequence whole,
// payload included, exactly as it removes the 7-bit one. Some terminals
// act on C1 controls sent as UTF-8.
func c1AsEscapes(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if r >= 0x80 && r <= 0x9f {
			b.WriteByte(0x1b)
			b.WriteByte(byte(r - 0x40))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SplitLines splits text into lines at LF, CRLF or a lone CR.
func SplitLines(s string) []string {
	return strings.Split(normaliseBreaks(s), "\n")
}

// normaliseBreaks turns every CRLF and lone CR into LF.
func normaliseBreaks(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// MessageText turns what a user sent into the text of one message, and
// tells how many lines it has. Line breaks (LF, CRLF or a lone CR) become
// '\n'. Every line is cleaned on its own as by CleanLine, so none can
// carry an escape or control sequence and no break can hide in one; lines
// after the first keep their indentation (a pasted snippet keeps its
// shape). Blank lines at either end are dropped; "" means nothing to send.
func MessageText(s string) (text string, lines int) {
	s = normaliseBreaks(s)
	if !strings.Contains(s, "\n") {
		text = CleanLine(s)
		if text == "" {
			return "", 0
		}
		return text, 1
	}
	parts := strings.Split(s, "\n")
	kept := parts[:0]
	for _, p := range parts {
		p = strings.TrimRightFunc(cleanText(p), unicode.IsSpace)
		if len(kept) == 0 {
			p = strings.TrimLeftFunc(p, unicode.IsSpace)
			if p == "" {
				continue // a blank line before the first
			}
		}
		kept = append(kept, p)
	}
	for len(kept) > 0 && kept[len(kept)-1] == "" {
		kept = kept[:len(kept)-1]
	}
	return strings.Join(kept, "\n"), len(kept)
}

func isBidiControl(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// ValidateNick reports why nick cannot be used, or nil. Nicks are 1 to
// MaxNickLen letters, digits, '_', '-' or '.', at least one of them a
// letter or a digit: a nick of punctuation ("-", "...") reads as no name,
// and every " - " in a message would mention it.
func ValidateNick(nick string) *UserError {
	n := utf8.RuneCountInString(nick)
	if n == 0 {
		return userErr("bad_nick", "a nick cannot be empty")
	}
	if n > MaxNickLen {
		return userErr("bad_nick", "a nick is at most 24 characters")
	}
	for _, r := range nick {
		if !isNickRune(r) {
			return userErr("bad_nick", "a nick may only use letters, digits, '_', '-' and '.'")
		}
	}
	if !hasLetterOrDigit(nick) {
		return userErr("bad_nick", "a nick needs at least one letter or digit")
	}
	return nil
}

func hasLetterOrDigit(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

func isNickRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.'
}

// SuggestNick turns an arbitrary login name into a valid nick, dropping what
// a nick may not contain; a result with no letter or digit becomes "guest".
func SuggestNick(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == MaxNickLen {
			break
		}
		if isNickRune(r) {
			b.WriteRune(r)
			n++
		}
	}
	if !hasLetterOrDigit(b.String()) {
		return "guest"
	}
	return b.String()
}

// ParseCommand splits "/name args" into its parts; the name ends at a space
// or a line break. Text that does not start with a single '/' is not a
// command ("//x" is the message "/x").
func ParseCommand(text string) (name, args string, ok bool) {
	if !strings.HasPrefix(text, "/") || strings.HasPrefix(text, "//") {
		return "", "", false
	}
	body := text[1:]
	name, args = body, ""
	if i := strings.IndexAny(body, " \n"); i >= 0 {
		name, args = body[:i], body[i+1:]
	}
	return strings.ToLower(name), strings.TrimSpace(args), true
}

// roomName normalises a room name as written by a user ("#Lobby" or "lobby").
func roomName(s string) string { return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "#")) }
