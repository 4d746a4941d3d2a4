package sshchat

import (
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The input line is edited by bubbles' textinput, which holds one line and
// scrolls it sideways; the interface draws it itself: wrapped onto up to
// maxInputRows rows (then scrolled a row at a time, keeping the caret in
// sight), the rows after the first under the text, and the caret left to
// the terminal's own cursor rather than a drawn, blinking cell.

const (
	inputPrompt  = "> "
	maxInputRows = 3
)

// inputLayout is the input as drawn: its rows and where the caret is in
// them.
type inputLayout struct {
	rows             []string
	caretX, caretRow int
}

// layoutInput lays out value (whose caret is before rune pos) for a screen
// width wide, or the placeholder in its style (the theme's) when empty. No row reaches the last column: that cell is kept for the
// caret at the end of a full row, and the bottom row's last cell is never
// written (see screen.draw).
func layoutInput(value string, pos, width int, placeholder string, placeholderStyle lipgloss.Style, dst []string) inputLayout {
	indent := ansi.StringWidth(inputPrompt)
	limit := max(width-indent-1, 1)
	if value == "" {
		row := inputPrompt
		if placeholder != "" {
			row += placeholderStyle.Render(ansi.Truncate(placeholder, limit, ""))
		}
		return inputLayout{rows: append(dst[:0], row), caretX: indent}
	}
	spans, caretRow, caretX := inputSpans(value, pos, limit)
	top := 0
	if len(spans) > maxInputRows {
		top = min(max(0, caretRow-maxInputRows+1), len(spans)-maxInputRows)
	}
	shown := spans[top:min(len(spans), top+maxInputRows)]
	rows := dst[:0]
	pad := strings.Repeat(" ", indent)
	plain := printableASCII(value) // nothing to strip
	for i, sp := range shown {
		head := pad
		if top+i == 0 {
			head = inputPrompt
		}
		text := value[sp.from:sp.to]
		if !plain {
			text = ansi.Strip(text)
		}
		rows = append(rows, head+text)
	}
	return inputLayout{rows: rows, caretX: indent + caretX, caretRow: caretRow - top}
}

// inputSpan is one row of the input, as byte offsets into its value.
type inputSpan struct{ from, to int }

// inputSpans cuts value into rows of at most limit columns (width risk
// included) at grapheme boundaries, and finds the caret (before rune pos):
// its row and its column without the risk, where a terminal agreeing with
// the measure puts it.
func inputSpans(value string, pos, limit int) (spans []inputSpan, caretRow, caretX int) {
	if printableASCII(value) {
		// One column per byte, no risk: rows of limit bytes. Typing, one
		// key at a time, lays the input out again for every key.
		for from := 0; from < len(value); from += limit {
			spans = append(spans, inputSpan{from, min(from+limit, len(value))})
		}
		if pos < len(value) {
			return spans, pos / limit, pos % limit
		}
		last := spans[len(spans)-1]
		return spans, len(spans) - 1, last.to - last.from
	}
	return graphemeInputSpans(value, pos, limit)
}

// graphemeInputSpans is inputSpans for any text, cluster by cluster.
func graphemeInputSpans(value string, pos, limit int) (spans []inputSpan, caretRow, caretX int) {
	// used counts a row's columns with their width risk, for the room left;
	// x without it, for the caret.
	caretRow = -1
	from, used, x, runes := 0, 0, 0, 0
	rest := value
	for off := 0; off < len(value); {
		cluster, w := ansi.FirstGraphemeCluster(rest, ansi.GraphemeWidth)
		if cluster == "" {
			break
		}
		need := w + clusterRisk(cluster, w)
		if used+need > limit && off > from {
			spans = append(spans, inputSpan{from, off})
			from, used, x = off, 0, 0
		}
		n := utf8.RuneCountInString(cluster)
		if caretRow < 0 && pos < runes+n {
			caretRow, caretX = len(spans), x
		}
		runes += n
		used += need
		x += w
		off += len(cluster)
		rest = rest[len(cluster):]
	}
	spans = append(spans, inputSpan{from, len(value)})
	if caretRow < 0 {
		caretRow, caretX = len(spans)-1, x
	}
	return spans, caretRow, caretX
}

// printableASCII reports whether s is printable ASCII only.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
