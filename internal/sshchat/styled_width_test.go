package sshchat

import (
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// Lines of printable ASCII and CSI styles, as every theme renders plain
// messages, are measured without grapheme iteration, to the same width as
// ansi.StringWidth; anything else is left to StringWidth.
func TestStyledASCIIWidth(t *testing.T) {
	var styled []string
	for _, th := range []*theme{defaultTheme, monoTheme, highContrastTheme, lightTheme} {
		for _, ev := range []*room.Event{
			{Kind: room.KindMessage, Room: "lobby", From: "alice", Text: "hello there"},
			{Kind: room.KindMessage, Room: "lobby", From: "bob", Text: "waves", Action: true},
			{Kind: room.KindJoin, Room: "lobby", From: "carol", Via: room.ViaSSH},
			{Kind: room.KindError, Text: "no such room"},
		} {
			styled = append(styled, th.render(ev, "12:34"), th.mention.Render("12:34 <bob> carol: hi"))
		}
	}
	styled = append(styled, "", "plain", "\x1b[1;38;2;224;108;117m<alice>\x1b[m hi", "\x1b[?25l", "\x1b[38;5;1mred\x1b[0m")
	for _, s := range styled {
		w, ok := styledASCIIWidth(s)
		if !ok {
			t.Errorf("%q: not measured as styled ASCII", s)
		} else if want := ansi.StringWidth(s); w != want {
			t.Errorf("%q: width %d, ansi.StringWidth %d", s, w, want)
		}
	}
	for _, s := range []string{"tab\there", "bell\a", "\x1b]8;;http://x\x07link", "\x1b[", "\x1b[1", "\x1bM", "del\x7f", "ünïcode", "\x1b[1\x00m"} {
		if w, ok := styledASCIIWidth(s); ok {
			t.Errorf("%q: measured as styled ASCII (%d), should be left to StringWidth", s, w)
		}
	}
}

// Typed ASCII is cut into the input's rows, and its caret placed, as the
// cluster-by-cluster layout does it, whatever the width and the caret.
func TestInputSpansASCIIMatchesGraphemes(t *testing.T) {
	for _, value := range []string{"a", "hello", "hello world, how are you today?", strings.Repeat("x", 61), strings.Repeat("ab ", 40)} {
		for limit := 1; limit <= 65; limit++ {
			for pos := 0; pos <= len(value)+1; pos++ {
				spans, row, x := inputSpans(value, pos, limit)
				wantSpans, wantRow, wantX := graphemeInputSpans(value, pos, limit)
				if !slices.Equal(spans, wantSpans) || row != wantRow || x != wantX {
					t.Fatalf("%q at %d, limit %d: %v row %d x %d, want %v row %d x %d", value, pos, limit, spans, row, x, wantSpans, wantRow, wantX)
				}
			}
		}
	}
}
