package sshchat

import (
	"hash/fnv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// theme is the terminal's look (/theme). Every theme marks a mention with
// bold or reverse as well as any colour, so the mark survives a terminal
// without colour (NO_COLOR, TERM=dumb), which strips the colours only.
type theme struct {
	dim, notice, error, private lipgloss.Style
	// mention styles a whole line that names the user, over the line's
	// text without its own styles (their resets would end it early).
	mention lipgloss.Style
	nick    func(nick string) lipgloss.Style
	// input is how the input line looks (prompt, placeholder).
	input func() textinput.Styles
	// placeholder is input's placeholder style, made once for all the
	// sessions (see setInputStyles).
	placeholder *lipgloss.Style
	// status is the status line, statusMention a room's mark in it when
	// one of its unread messages names the user.
	status, statusMention lipgloss.Style
	// banner opens the "new messages" line (an SGR sequence, written by
	// hand: the line changes with every message while the user reads
	// further up, and a lipgloss style costs more than the frame).
	banner string
}

var (
	defaultTheme = &theme{
		dim: dimStyle, notice: noticeStyle, error: errorStyle, private: privateStyle,
		mention:       lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#e5c07b")),
		nick:          nickStyle,
		input:         textinput.DefaultDarkStyles,
		placeholder:   placeholderOf(textinput.DefaultDarkStyles),
		status:        statusStyle,
		statusMention: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#e5c07b")),
		banner:        ansi.Style{}.Reverse(true).ForegroundColor(lipgloss.Color("#e5c07b")).String(),
	}
	// monoTheme uses no colour at all: bold, reverse and underline only.
	monoTheme = &theme{
		error:       lipgloss.NewStyle().Bold(true),
		private:     lipgloss.NewStyle().Bold(true).Underline(true),
		mention:     lipgloss.NewStyle().Bold(true).Reverse(true),
		nick:        func(string) lipgloss.Style { return lipgloss.NewStyle().Bold(true) },
		input:       monoInput,
		placeholder: placeholderOf(monoInput),
		status:      statusStyle,
		// Out of the reverse video, bold and underlined.
		statusMention: lipgloss.NewStyle().Bold(true).Underline(true),
		banner:        ansi.Style{}.Reverse(true).Bold().String(),
	}
	highContrastTheme = &theme{
		dim:           lipgloss.NewStyle().Foreground(lipgloss.Color("#d0d0d0")),
		notice:        lipgloss.NewStyle().Foreground(lipgloss.Color("#ffff00")),
		error:         lipgloss.NewStyle().Foreground(lipgloss.Color("#ff0000")).Bold(true),
		private:       lipgloss.NewStyle().Foreground(lipgloss.Color("#ff00ff")).Bold(true),
		mention:       lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#ffff00")),
		nick:          paletteNicks([]string{"#ff5555", "#55ff55", "#ffff55", "#5fafff", "#ff55ff", "#55ffff", "#ffaf00", "#ffffff"}),
		input:         textinput.DefaultDarkStyles,
		placeholder:   placeholderOf(textinput.DefaultDarkStyles),
		status:        statusStyle.Bold(true),
		statusMention: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#ffff00")),
		banner:        ansi.Style{}.Bold().ForegroundColor(lipgloss.Color("#000000")).BackgroundColor(lipgloss.Color("#ffff00")).String(),
	}
	// lightTheme is for terminals with a light background.
	lightTheme = &theme{
		dim:           lipgloss.NewStyle().Foreground(lipgloss.Color("#5f5f5f")),
		notice:        lipgloss.NewStyle().Foreground(lipgloss.Color("#7a5200")),
		error:         lipgloss.NewStyle().Foreground(lipgloss.Color("#c00000")).Bold(true),
		private:       lipgloss.NewStyle().Foreground(lipgloss.Color("#800080")).Bold(true),
		mention:       lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#ffd75f")),
		nick:          paletteNicks([]string{"#a0001c", "#006400", "#8b5a00", "#0040a0", "#800080", "#006b6b", "#8b3a00", "#b00060"}),
		input:         textinput.DefaultLightStyles,
		placeholder:   placeholderOf(textinput.DefaultLightStyles),
		status:        statusStyle,
		statusMention: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#ffd75f")),
		banner:        ansi.Style{}.Reverse(true).ForegroundColor(lipgloss.Color("#7a5200")).String(),
	}
)

// placeholderOf is the focused input's placeholder style of styles.
func placeholderOf(styles func() textinput.Styles) *lipgloss.Style {
	st := styles().Focused.Placeholder
	return &st
}

// monoInput is the input line without colour: the placeholder underlined
// so that it is not taken for typed text.
func monoInput() textinput.Styles {
	st := textinput.DefaultDarkStyles()
	plain := lipgloss.NewStyle()
	for _, state := range []*textinput.StyleState{&st.Focused, &st.Blurred} {
		state.Text, state.Prompt, state.Suggestion = plain, plain, plain
		state.Placeholder = lipgloss.NewStyle().Underline(true)
	}
	st.Cursor.Color = nil
	return st
}

// paletteNicks colours each nick with one of palette, by its hash.
func paletteNicks(palette []string) func(string) lipgloss.Style {
	return func(nick string) lipgloss.Style {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(nick)))
		return lipgloss.NewStyle().Foreground(lipgloss.Color(palette[h.Sum32()%uint32(len(palette))])).Bold(true)
	}
}

func themeNamed(name string) *theme {
	switch name {
	case room.ThemeMono:
		return monoTheme
	case room.ThemeHighContrast:
		return highContrastTheme
	case room.ThemeLight:
		return lightTheme
	}
	return defaultTheme
}

// look is how one session's terminal shows its lines: the theme and times
// of its settings, and whether the terminal has colours at all.
type look struct {
	prefs *room.Preferences
	theme *theme
	// shared: the look is renderTUI's, so the text rendered once per
	// event for every such session is used.
	shared bool
}

func newLook(prefs *room.Preferences, colour bool) *look {
	name := prefs.Theme
	if name == "" && !colour {
		name = room.ThemeMono
	}
	th := themeNamed(name)
	return &look{
		prefs:  prefs,
		theme:  th,
		shared: th == defaultTheme && prefs.TimestampMode() == room.TimestampTime && prefs.Location == time.UTC,
	}
}

// text is ev as this look shows it; mention: the whole line is marked.
func (l *look) text(ev *room.Event, mention bool) string {
	var s string
	if l.shared {
		s = tuiText(ev)
	} else {
		s = l.theme.render(ev, l.prefs.Stamp(ev.Time))
	}
	if mention {
		s = l.theme.mention.Render(ansi.Strip(s))
	}
	return s
}

// bell tells whether ev rings the terminal's bell: on mentions and private
// messages from others (the default), on every message from others, or
// never.
func (l *look) bell(ev *room.Event, mention bool, nick string) bool {
	if ev.From == nick || ev.Kind != room.KindMessage && ev.Kind != room.KindPrivate {
		return false
	}
	switch l.prefs.BellMode() {
	case room.BellOff:
		return false
	case room.BellOn:
		return true
	}
	return mention || ev.Kind == room.KindPrivate
}
