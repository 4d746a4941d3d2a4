package sshchat

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"
	"golang.org/x/text/width"

	"github.com/tertulia/tertulia/internal/room"
)

// terminalWidth is how wide a terminal that measures code point by code
// point, and draws East Asian ambiguous symbols wide, draws a grapheme
// cluster (tmux draws 👍🏽 as a thumb and a separate swatch).
func terminalWidth(cluster string) int {
	n := 0
	for _, r := range cluster {
		w := ansi.StringWidthWc(string(r))
		if w > 0 && width.LookupRune(r).Kind() == width.EastAsianAmbiguous {
			w = 2
		}
		n += w
	}
	return n
}

// widening is a terminal that disagrees with the interface about widths:
// every grapheme cluster it draws wider than measured stands there as as
// many W's as it takes columns.
type widening struct{ emu *vt.Emulator }

func (w widening) Write(p []byte) (int, error) {
	var out []byte
	state := byte(0)
	for rest := p; len(rest) > 0; {
		seq, wd, n, newState := ansi.DecodeSequence(rest, state, nil)
		if n == 0 {
			break
		}
		if len(seq) > 1 && seq[0] >= 0x80 {
			if tw := terminalWidth(string(seq)); tw > wd {
				seq = []byte(strings.Repeat("W", tw))
			}
		}
		out = append(out, seq...)
		state, rest = newState, rest[n:]
	}
	_, err := w.emu.Write(out)
	return len(p), err
}

// fanout writes to several terminals at once.
type fanout []interface{ Write([]byte) (int, error) }

func (f fanout) Write(p []byte) (int, error) {
	for _, w := range f {
		if _, err := w.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func screenRows(emu *vt.Emulator) []string {
	rows := strings.Split(emu.String(), "\n")
	for i := range rows {
		rows[i] = strings.TrimRight(rows[i], " ")
	}
	return rows
}

// disputed reports whether s holds a grapheme cluster a terminal may draw
// wider than the interface measures it.
func disputed(s string) bool {
	for len(s) > 0 {
		cluster, w := ansi.FirstGraphemeCluster(s, ansi.GraphemeWidth)
		if cluster == "" {
			break
		}
		if terminalWidth(cluster) > w {
			return true
		}
		s = s[len(cluster):]
	}
	return false
}

// Emoji with skin tones and ZWJ, flags, CJK, combining marks, right-to-left
// text and ambiguous-width symbols, in messages (some ending exactly at the
// right edge), in the topic and in the input, never move the screen: on a
// terminal that measures as the interface does, every row is the frame's;
// on one that draws such text wider, every row without it is the same, the
// status line and the input stay on the last rows, and the cursor is at
// the caret.
func TestScreenSurvivesWidthDisagreements(t *testing.T) {
	texts := []string{
		"thanks 👍🏽",
		"the whole family 👨‍👩‍👧 came",
		"¡Olé! 🇪🇸 vamos",
		"日本のコーヒーも好き、とても美味しいです。毎朝飲みます",
		"combining: e\u0301 a\u0300 n\u0303 o\u0308",
		"RTL: مرحبا بالعالم and שלום עולם",
		"ambiguous │ … — ‘quoted’ ±",
		"Ça va? … 😀👍🏽👨‍👩‍👧 مرحبا … and a long tail of ordinary words that wraps somewhere",
	}
	for _, w := range []int{40, 60, 80} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			const h = 12
			m, hub, cs := testModel(t, w, h)
			exact := vt.NewEmulator(w, h)
			wide := vt.NewEmulator(w, h)
			cursorShown := false
			exact.SetCallbacks(vt.Callbacks{CursorVisibility: func(v bool) { cursorShown = v }})
			m.scr = newScreen(fanout{exact, widening{wide}}, colorprofile.TrueColor, w, h)
			hub.Input(cs, "", "/topic beans ☕ and 👍🏽 and words enough to be cut at forty columns")
			readQueued(m, cs)
			step := 0
			check := func(what string) {
				t.Helper()
				step++
				m.View()
				frame := m.rows()
				got, gotWide := screenRows(exact), screenRows(wide)
				for y := range h {
					want := strings.TrimRight(ansi.Strip(frame[y]), " ")
					if got[y] != want {
						t.Fatalf("step %d (%s): row %d is %q, want %q\nscreen:\n%s", step, what, y, got[y], want, exact.String())
					}
					if !disputed(want) && gotWide[y] != want {
						t.Fatalf("step %d (%s): on a terminal drawing wider, row %d is %q, want %q\nscreen:\n%s", step, what, y, gotWide[y], want, wide.String())
					}
				}
				inputRows := len(m.inputView.rows)
				status := h - inputRows - 1
				for _, rows := range [][]string{got, gotWide} {
					if !strings.HasPrefix(rows[status], " bob ") || !strings.Contains(rows[status], "#lobby") || !strings.HasPrefix(rows[status+1], "> ") && !strings.HasPrefix(rows[status+1], "  ") {
						t.Fatalf("step %d (%s): status and input not on the last rows:\n%s", step, what, strings.Join(rows, "\n"))
					}
				}
				c := m.caret()
				if pos := exact.CursorPosition(); pos.X != c.x || pos.Y != c.y || !cursorShown {
					t.Fatalf("step %d (%s): cursor at %d,%d (shown %v), want the caret at %d,%d", step, what, pos.X, pos.Y, cursorShown, c.x, c.y)
				}
			}
			check("connected")
			id := uint64(0)
			say := func(text string) {
				id++
				m.Update(eventsMsg{testMessage(id, "alice", text)})
				check(text)
			}
			head := ansi.StringWidth(ansi.Strip(tuiText(testMessage(0, "alice", ""))))
			say(strings.Repeat("y", w-head)) // ending exactly at the right edge
			for _, text := range texts {
				say(text)
				// Ending exactly at the right edge, as measured, if it
				// were not wrapped.
				say(strings.Repeat("x", (w-(head+ansi.StringWidth(text))%w)%w) + text)
				for len(text) > 0 {
					cluster, _ := ansi.FirstGraphemeCluster(text, ansi.GraphemeWidth)
					m.Update(tea.KeyPressMsg{Text: cluster, Code: []rune(cluster)[0]})
					text = text[len(cluster):]
					check("typing " + cluster)
				}
				m.Update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
				check("ctrl+u")
			}
			for range 3 {
				m.Update(tea.PasteMsg{Content: texts[7]})
			}
			check("long input")
			m.Update(tea.KeyPressMsg{Code: tea.KeyHome})
			check("home")
			m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
			check("page up")
			m.Update(eventsMsg{&room.Event{Kind: room.KindNotice, Text: texts[7] + "\n" + texts[1], Time: testTime}})
			check("notice")
		})
	}
}
