package sshchat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/text/width"
)

// Terminals do not agree on how wide some text is. The interface measures
// by grapheme cluster (as Bubble Tea and lipgloss do), but many terminals,
// tmux among them, measure code point by code point: 👍🏽 is a thumb and a
// skin-tone swatch there (4 columns, not 2), 👨‍👩‍👧 three faces, a flag two
// letters, and a terminal set for East Asian text draws "ambiguous" symbols
// such as │ and … two columns wide. A row drawn wider than measured would
// wrap and scroll the screen, so the screen turns automatic wrapping off
// (a row that is too wide loses its end, never the rows around it), and the
// layout leaves room for the widest reading: a row's measured width plus
// its risk fits the screen.

// widthRisk is how many columns more than measured a terminal may take to
// draw plain (text without escape sequences).
func widthRisk(plain string) int {
	risk := 0
	for len(plain) > 0 {
		cluster, w := ansi.FirstGraphemeCluster(plain, ansi.GraphemeWidth)
		if cluster == "" {
			break
		}
		risk += clusterRisk(cluster, w)
		plain = plain[len(cluster):]
	}
	return risk
}

// clusterRisk is widthRisk for one grapheme cluster measured w wide.
func clusterRisk(cluster string, w int) int {
	if len(cluster) == 1 {
		return 0
	}
	widest := 0
	for _, r := range cluster {
		widest += runeMaxWidth(r)
	}
	return max(0, widest-w)
}

// runeMaxWidth is the most columns a terminal measuring code point by code
// point may give r.
func runeMaxWidth(r rune) int {
	switch {
	case r < 0x80:
		return 1
	case r == 0x200d || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Variation_Selector, r):
		return 0
	case r >= 0x1f1e6 && r <= 0x1f1ff: // regional indicators: flags
		return 2
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth, width.EastAsianAmbiguous:
		return 2
	}
	return max(1, ansi.StringWidthWc(string(r)))
}

// grapheme is one grapheme cluster of a row being wrapped: where it starts
// (in columns), its measured width, its width risk, and whether it is a
// space, where a row may break.
type grapheme struct {
	col, w, risk int
	space        bool
}

func graphemesOf(plain string, dst []grapheme) []grapheme {
	col := 0
	for len(plain) > 0 {
		cluster, w := ansi.FirstGraphemeCluster(plain, ansi.GraphemeWidth)
		if cluster == "" {
			break
		}
		r, _ := utf8.DecodeRuneInString(cluster)
		dst = append(dst, grapheme{col: col, w: w, risk: clusterRisk(cluster, w), space: r == ' '})
		col += w
		plain = plain[len(cluster):]
	}
	return dst
}

// hangingIndent is where the rows after the first of a wrapped line start:
// under the text of a message ("12:34 <nick> ", "12:34 * nick ", "12:34
// [pm] a → b: "), at a continuation line's own indent, else after the first
// word (the time).
func hangingIndent(plain string) int {
	if n := len(plain) - len(strings.TrimLeft(plain, " ")); n > 0 {
		return n
	}
	const near = 64 // a head is short: what is further on is the text's own
	head := plain[:min(len(plain), near)]
	if i := strings.Index(head, "> "); i >= 0 {
		return ansi.StringWidth(plain[:i+2])
	}
	if i := strings.Index(head, " * "); i >= 0 {
		if j := strings.IndexByte(plain[i+3:], ' '); j >= 0 {
			return ansi.StringWidth(plain[:i+3+j+1])
		}
	}
	if strings.Contains(head, "[pm] ") {
		if i := strings.Index(head, ": "); i >= 0 {
			return ansi.StringWidth(plain[:i+2])
		}
	}
	if i := strings.IndexByte(head, ' '); i >= 0 && i < 20 {
		return ansi.StringWidth(plain[:i+1])
	}
	return 0
}

// wrapRows word-wraps the styled string s (plain is s without its escape
// sequences) to rows of at most width columns, risk included: rows break
// at spaces, and inside a word only when it is longer than a row; rows after
// the first start with a hanging indent (two columns when the text's would
// take more than half the width). Styles carry over, as each row is cut
// from s with the sequences before it.
func wrapRows(s, plain string, width int) []string {
	if width <= 0 {
		return []string{s}
	}
	gs := graphemesOf(plain, nil)
	// Never less than two: a row at the left edge could pass for a line
	// of its own ("12:34 <someone> ..."), made up by the text's sender.
	indent := hangingIndent(plain)
	if indent > width/2 || indent < 2 {
		indent = min(2, width/2)
	}
	pad := strings.Repeat(" ", indent)
	var rows []string
	emit := func(from, to int, first bool) {
		cut := ansi.Cut(s, gs[from].col, gs[to-1].col+gs[to-1].w)
		if !first {
			cut = pad + cut
		}
		rows = append(rows, cut)
	}
	first := true
	for start := 0; start < len(gs); {
		limit := width
		if !first {
			limit = width - indent
			for start < len(gs) && gs[start].space {
				start++
			}
			if start == len(gs) {
				break
			}
		}
		used, end, brk := 0, start, -1
		for end < len(gs) && used+gs[end].w+gs[end].risk <= limit {
			if gs[end].space && end > start && !gs[end-1].space {
				brk = end
			}
			used += gs[end].w + gs[end].risk
			end++
		}
		switch {
		case end == len(gs):
			emit(start, end, first)
			start = end
		case gs[end].space:
			emit(start, end, first)
			start = end
		case brk > start && !longerThan(gs[brk:], width-indent):
			emit(start, brk, first)
			start = brk
		default:
			// A word longer than a row (cut where it stands rather than
			// moved to a row of its own), or a grapheme wider than one.
			end = max(end, start+1)
			emit(start, end, first)
			start = end
		}
		first = false
	}
	if len(rows) == 0 {
		rows = append(rows, "")
	}
	return rows
}

// longerThan reports whether the word at the start of gs (after any spaces)
// is wider than limit, risk included.
func longerThan(gs []grapheme, limit int) bool {
	i := 0
	for i < len(gs) && gs[i].space {
		i++
	}
	n := 0
	for ; i < len(gs) && !gs[i].space; i++ {
		n += gs[i].w + gs[i].risk
		if n > limit {
			return true
		}
	}
	return false
}
