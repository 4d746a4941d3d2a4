package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/vt"
	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/room"
)

// Hostile input on both front-ends, floods, connection caps, garbage and
// stalled connections, cross-site websockets and forged X-Forwarded-For.
// docs/security.md maps each threat to these tests.

// --- what no receiver may ever get -------------------------------------

// receiverCheck collects, from every byte a client receives, anything
// hostile input could have smuggled through: control bytes, bidi
// controls, invalid UTF-8, invalid nicks, and the payloads of escape
// sequences (which must vanish with their sequence).
type receiverCheck struct {
	mu        sync.Mutex
	problems  []string
	forbidden []string
}

func (c *receiverCheck) failf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < 50 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

// report fails the test with everything found so far.
func (c *receiverCheck) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
}

func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// badRune is a rune no receiver may get in user-controlled text: C0
// (ESC, CR, BS, NUL...) except newline where allowed, DEL, C1, bidi, and
// the Unicode line and paragraph separators.
func badRune(r rune, newlineOK bool) bool {
	if r == '\n' {
		return !newlineOK
	}
	return r == '\u2028' || r == '\u2029' || r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r)
}

func (c *receiverCheck) checkText(who, where, s string, newlineOK bool) {
	if !utf8.ValidString(s) {
		c.failf("%s got invalid UTF-8 in %s: %q", who, where, s)
	}
	for _, r := range s {
		if badRune(r, newlineOK) {
			c.failf("%s got control/bidi rune %U in %s: %q", who, r, where, s)
			break
		}
	}
	for _, f := range c.forbidden {
		if strings.Contains(s, f) {
			c.failf("%s got %q (payload of a hostile sequence) in %s: %.200q", who, where, f, s)
		}
	}
}

func (c *receiverCheck) checkNick(who, where, nick string) {
	if err := room.ValidateNick(nick); err != nil {
		c.failf("%s got an invalid nick %q in %s: %v", who, where, nick, err)
	}
}

var (
	lineMsgNick  = regexp.MustCompile(`^#\S+ (?:@\S+ )?<([^>]*)> `)
	lineJoinNick = regexp.MustCompile(`^#\S+ --> (.*) joined \(`)
)

// checkLine checks one line-mode line (without its LF).
func (c *receiverCheck) checkLine(who, line string) {
	c.checkText(who, "line", line, false)
	for _, re := range []*regexp.Regexp{lineMsgNick, lineJoinNick} {
		if m := re.FindStringSubmatch(line); m != nil {
			c.checkNick(who, "line "+line, m[1])
		}
	}
}

// checkFrame checks one JSON frame: every string in it, and every nick.
func (c *receiverCheck) checkFrame(who string, data []byte) {
	if !utf8.Valid(data) {
		c.failf("%s got a frame that is not UTF-8: %q", who, data)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		c.failf("%s got a frame that is not a JSON object: %q", who, data)
		return
	}
	typ, _ := v["type"].(string)
	var walk func(path string, x any)
	walk = func(path string, x any) {
		switch x := x.(type) {
		case string:
			// Only notices (help, whois) and the text of messages and
			// private messages have several lines, each of them clean.
			multiLine := path == ".text" && (typ == "notice" || typ == "message" || typ == "private") ||
				typ == "history" && path == ".messages[].text"
			c.checkText(who, typ+path, x, multiLine)
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", v)
	nick := func(key string) {
		if s, ok := v[key].(string); ok {
			c.checkNick(who, typ+"."+key, s)
		}
	}
	switch typ {
	case "join", "part":
		nick("nick")
	case "message":
		nick("from")
	case "nick":
		nick("old")
		nick("new")
	case "welcome":
		nick("nick")
	case "members":
		ms, _ := v["members"].([]any)
		for _, m := range ms {
			if mm, ok := m.(map[string]any); ok {
				s, _ := mm["nick"].(string)
				c.checkNick(who, "members", s)
			}
		}
	}
}

// checkedLineClient is a line-mode client whose every output byte is
// checked: lines are split on LF only, so a stray CR is seen too.
func checkedLineClient(t *testing.T, local, addr, user string, chk *receiverCheck) *lineClient {
	t.Helper()
	who := fmt.Sprintf("line client %q", user)
	return newLineClientInspecting(t, local, addr, user, func(line string) { chk.checkLine(who, line) })
}

// checkedWS wraps a websocket like wrapWS, checking every frame.
func checkedWS(t *testing.T, conn *websocket.Conn, who string, chk *receiverCheck) *wsClient {
	return wrapWSInspecting(t, conn, func(data []byte) { chk.checkFrame(who, data) })
}

func joinCheckedWS(t *testing.T, httpAddr, nick string, chk *receiverCheck) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, httpAddr, nil, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	wc := checkedWS(t, conn, fmt.Sprintf("web client %q", nick), chk)
	wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
	wc.expect("welcome "+nick, func(f frame) bool { return f.Type == "welcome" })
	return wc
}

// rawJSONString quotes s for JSON escaping only what JSON requires, so
// that invalid UTF-8 reaches the server as it is (json.Marshal would
// repair it on the client).
func rawJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func sayRaw(wc *wsClient, text string) {
	wc.t.Helper()
	msg := `{"type":"say","room":"lobby","text":` + rawJSONString(text) + `}`
	if err := wc.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		wc.t.Fatalf("websocket send: %v", err)
	}
}

// linesUntil returns the lines up to and including the first one that
// contains marker.
func linesUntil(lc *lineClient, marker string) []string {
	lc.t.Helper()
	var got []string
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case l := <-lc.lines:
			got = append(got, l)
			if strings.Contains(l, marker) {
				return got
			}
		case <-lc.closed:
			select {
			case l := <-lc.lines:
				got = append(got, l)
				if strings.Contains(l, marker) {
					return got
				}
				continue
			default:
			}
			lc.t.Fatalf("ssh output ended before %q; got %q", marker, got)
		case <-timer.C:
			lc.t.Fatalf("timed out waiting for ssh line %q; got %q", marker, got)
		}
	}
}

// framesUntil returns the frames up to and including the first one
// matching last.
func framesUntil(wc *wsClient, what string, last func(frame) bool) []frame {
	wc.t.Helper()
	var got []frame
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case f := <-wc.frames:
			got = append(got, *f)
			if last(*f) {
				return got
			}
		case <-wc.closed:
			select {
			case f := <-wc.frames:
				got = append(got, *f)
				if last(*f) {
					return got
				}
				continue
			default:
			}
			wc.t.Fatalf("websocket closed (%v) before %s", wc.closeErr(), what)
		case <-timer.C:
			wc.t.Fatalf("timed out waiting for frame: %s", what)
		}
	}
}

// messagesFromLines lists the texts of the room messages nick sent.
// messagesFromLines is the messages nick sent in #lobby, each with the
// continuation lines that follow it.
func messagesFromLines(lines []string, nick string) []string {
	var out []string
	prefix := "#lobby <" + nick + "> "
	continued := false // the line before is one of nick's messages
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, prefix):
			out = append(out, strings.TrimPrefix(l, prefix))
			continued = true
		case continued && (l == "#lobby |" || strings.HasPrefix(l, "#lobby | ")):
			out[len(out)-1] += "\n" + strings.TrimPrefix(strings.TrimPrefix(l, "#lobby |"), " ")
		default:
			continued = false
		}
	}
	return out
}

func messagesFromFrames(frames []frame, nick string) []string {
	var out []string
	for _, f := range frames {
		if f.Type == "message" && f.From == nick {
			out = append(out, f.Text)
		}
	}
	return out
}

// ptyWatch records what a terminal-level attack would change outside the
// screen's text: the window title, the working directory, the colours.
type ptyWatch struct {
	mu      sync.Mutex
	changes []string
}

func watchPTY(pc *ptyClient) *ptyWatch {
	w := &ptyWatch{}
	note := func(format string, args ...any) {
		w.mu.Lock()
		w.changes = append(w.changes, fmt.Sprintf(format, args...))
		w.mu.Unlock()
	}
	pc.mu.Lock()
	pc.emu.SetCallbacks(vt.Callbacks{
		Bell:             func() { pc.bells.Add(1) },
		Title:            func(s string) { note("title %q", s) },
		IconName:         func(s string) { note("icon name %q", s) },
		WorkingDirectory: func(s string) { note("working directory %q", s) },
		BackgroundColor:  func(c color.Color) { note("background colour %s", hexColour(c)) },
		ForegroundColor:  func(c color.Color) { note("foreground colour %s", hexColour(c)) },
	})
	pc.mu.Unlock()
	return w
}

func hexColour(c color.Color) string {
	if c == nil {
		return "default"
	}
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

func (w *ptyWatch) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.changes...)
}

// ptyLinksAndColours lists the screen cells that carry a hyperlink, and
// whether the text want on the screen has any colour of its own.
func ptyLinksAndColours(pc *ptyClient, want string) (links []string, coloured bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	w, h := pc.emu.Width(), pc.emu.Height()
	for y := 0; y < h; y++ {
		var row strings.Builder
		var xs []int
		for x := 0; x < w; x++ {
			c := pc.emu.CellAt(x, y)
			if c == nil || c.Content == "" {
				continue
			}
			if c.Link.URL != "" {
				links = append(links, c.Link.URL)
			}
			for range c.Content {
				xs = append(xs, x)
			}
			row.WriteString(c.Content)
		}
		text := row.String()
		i := strings.Index(text, want)
		if want == "" || i < 0 {
			continue
		}
		start := utf8.RuneCountInString(text[:i])
		for k := start; k < start+utf8.RuneCountInString(want) && k < len(xs); k++ {
			if c := pc.emu.CellAt(xs[k], y); c != nil && (c.Style.Fg != nil || c.Style.Bg != nil) {
				coloured = true
			}
		}
	}
	return links, coloured
}

// --- 1. hostile input --------------------------------------------------

// hostileCase is one thing a hostile user types (one line; the web sends
// it as the text of a say).
type hostileCase struct {
	name string
	text string
	// want are the messages the receivers get from the sender, in
	// order; none when the line is refused.
	want []string
	// wantFromWeb, if set, is want when the text comes in a websocket
	// say, which keeps line breaks as one message of several lines
	// (line mode sends one message per line).
	wantFromWeb []string
	// code is the error the sender gets instead.
	code string
}

var hostileCases = []hostileCase{
	{name: "CSI colours", text: "\x1b[31mRED\x1b[0m text \x1b[1;5;41mblink", want: []string{"RED text blink"}},
	{name: "clear screen and home", text: "\x1b[2J\x1b[3J\x1b[Hwiped", want: []string{"wiped"}},
	{name: "cursor moves and erase", text: "\x1b[5A\x1b[10C\x1b7\x1b8moved\x1b[K\x1b[1M", want: []string{"moved"}},
	{name: "alternate screen off", text: "\x1b[?1049l\x1b[?25lalt-off", want: []string{"alt-off"}},
	{name: "full reset", text: "\x1bcreset-after", want: []string{"reset-after"}},
	{name: "OSC title", text: "\x1b]0;pwned-title\x07after-title \x1b]2;pwned-title\x1b\\", want: []string{"after-title"}},
	{name: "OSC 8 hyperlink", text: "\x1b]8;;https://evil.example/x\x1b\\click-me\x1b]8;;\x1b\\", want: []string{"click-me"}},
	{name: "OSC colours and cwd", text: "\x1b]11;rgb:ffff/0000/0000\x07\x1b]10;#ff0000\x07\x1b]7;file://evil.example/tmp\x07after-osc", want: []string{"after-osc"}},
	{name: "DCS, APC, PM, SOS", text: "\x1bP1$rdcs-payload\x1b\\\x1b_apc-payload\x1b\\\x1b^pm-payload\x1b\\\x1bXsos-payload\x1b\\after-strings", want: []string{"after-strings"}},
	{name: "C1 controls as UTF-8", text: "c1\u009b2J\u009d0;c1-title\u009c\u0090dcs\u009c\u0085end", want: []string{"c1end"}},
	// A C1 OSC is dropped with its payload, which never arrives as text.
	{name: "C1 OSC payload", text: "before\u009d0;c1-title\u009cafter", want: []string{"beforeafter"}},
	{name: "bracketed paste markers", text: "\x1b[200~pasted\x1b[201~", want: []string{"pasted"}},
	{name: "backspace forging", text: "hi\b\b\b\b\b\b\balice: forged", want: []string{"hialice: forged"}},
	{name: "carriage return overwrite", text: "innocent\ralice: evil", want: []string{"innocent", "alice: evil"}, wantFromWeb: []string{"innocent\nalice: evil"}},
	{name: "vertical tab and form feed", text: "vt\vff\fend", want: []string{"vtffend"}},
	// Unicode line and paragraph separators end a line for some readers
	// (Python's str.splitlines, for one): a line-mode bot must not see
	// "alice: forged" as a line of its own.
	{name: "Unicode line separators", text: "hi\u2028alice: forged\u2029ok", want: []string{"hi alice: forged ok"}},
	{name: "bidi overrides", text: "abc\u202Efed \u2066iso\u2069 \u200Fmark\u200E\u061C", want: []string{"abcfed iso mark"}},
	{name: "invalid UTF-8", text: "bad\xffutf8\xfeend", want: []string{"bad\uFFFDutf8\uFFFDend"}},
	{name: "NUL bytes", text: "nul\x00byte\x00", want: []string{"nulbyte"}},
	{name: "script tag", text: "<script>alert(1)</script>", want: []string{"<script>alert(1)</script>"}},
	{name: "img onerror", text: `<img src=x onerror="alert(document.cookie)">`, want: []string{`<img src=x onerror="alert(document.cookie)">`}},
	{name: "over --max-message", text: strings.Repeat("x", 10000), code: "too_long"},
	{name: "only escapes", text: "\x1b[2J\x1b[H\x07\x00"},
}

// forbiddenPayloads must vanish with the sequences that carry them.
var forbiddenPayloads = []string{"pwned-title", "c1-title", "evil.example", "dcs-payload", "apc-payload", "pm-payload", "sos-payload", "rgb:ffff", strings.Repeat("x", 2001), strings.Repeat("A", 64)}

// Hostile input sent from an SSH line client and from a websocket reaches
// an SSH line client, a websocket client and a terminal (PTY) as inert,
// clean text attributed to its real sender, or is refused with an error.
func TestHostileInputBothFrontEnds(t *testing.T) {
	srv := startServer(t)
	chk := &receiverCheck{forbidden: forbiddenPayloads}
	// Receivers: alice on the web, bob in line mode, carol in a terminal.
	alice := joinCheckedWS(t, srv.HTTPAddr, "alice", chk)
	bob := checkedLineClient(t, "", srv.SSHAddr, "bob", chk)
	bob.expect("welcome bob")
	carol := newPTYClient(t, srv.SSHAddr, "carol", 100, 30)
	watch := watchPTY(carol)
	carol.waitScreen("carol │ #lobby")
	// Senders: mallory over SSH, mallet on the web.
	mallory := checkedLineClient(t, "", srv.SSHAddr, "mallory", chk)
	mallory.expect("welcome mallory")
	mallet := joinCheckedWS(t, srv.HTTPAddr, "mallet", chk)
	bob.expect("mallet joined")
	carol.waitScreen("carol │ #lobby │ 5 members")

	type sender struct {
		via, nick string
		send      func(string)
		// errors reads the sender's own output up to the echo of marker
		// and returns the errors it got (codes on the web, texts in
		// line mode).
		errors func(marker string) []string
	}
	senders := []sender{
		{"ssh", "mallory",
			func(s string) { mallory.send(s) },
			func(marker string) []string {
				var errs []string
				for _, l := range linesUntil(mallory, "<mallory> "+marker) {
					if strings.HasPrefix(l, "-!- error: ") {
						errs = append(errs, l)
					}
				}
				return errs
			}},
		{"web", "mallet",
			func(s string) { sayRaw(mallet, s) },
			func(marker string) []string {
				var errs []string
				for _, f := range framesUntil(mallet, marker, isMessage("mallet", marker)) {
					if f.Type == "error" {
						errs = append(errs, f.Code)
					}
				}
				return errs
			}},
	}
	for i, tc := range hostileCases {
		for _, s := range senders {
			marker := fmt.Sprintf("marker-%02d-%s", i, s.via)
			s.send(tc.text)
			s.send(marker)
			errs := s.errors(marker)
			switch {
			case tc.code == "" && len(errs) > 0:
				t.Errorf("%s from %s: unexpected errors %q", tc.name, s.via, errs)
			case tc.code != "" && len(errs) != 1:
				t.Errorf("%s from %s: errors %q, want one %s", tc.name, s.via, errs, tc.code)
			case tc.code != "" && s.via == "web" && errs[0] != tc.code:
				t.Errorf("%s from %s: error %q, want %s", tc.name, s.via, errs[0], tc.code)
			case tc.code == "too_long" && s.via == "ssh" && !strings.Contains(errs[0], "not sent: longer than"):
				t.Errorf("%s from %s: error %q does not say why", tc.name, s.via, errs[0])
			}
			sent := tc.want
			if s.via == "web" && tc.wantFromWeb != nil {
				sent = tc.wantFromWeb
			}
			want := append(append([]string(nil), sent...), marker)
			got := messagesFromLines(linesUntil(bob, "<"+s.nick+"> "+marker), s.nick)
			if !equalStrings(got, want) {
				t.Errorf("%s from %s: line client got %q, want %q", tc.name, s.via, got, want)
			}
			got = messagesFromFrames(framesUntil(alice, marker, isMessage(s.nick, marker)), s.nick)
			if !equalStrings(got, want) {
				t.Errorf("%s from %s: web client got %q, want %q", tc.name, s.via, got, want)
			}
			screen := carol.waitScreen("<" + s.nick + "> " + marker)
			for _, w := range sent {
				first, _, _ := strings.Cut(w, "\n")
				if !strings.Contains(screen, "<"+s.nick+"> "+first) {
					t.Errorf("%s from %s: the terminal does not show %q from %s:\n%s", tc.name, s.via, first, s.nick, screen)
				}
			}
			checkTerminalAttribution(t, tc.name+" from "+s.via, screen)
			// Nothing on the terminal is a link or coloured by a user.
			for _, w := range sent {
				for _, line := range strings.Split(w, "\n") {
					links, coloured := ptyLinksAndColours(carol, line)
					if len(links) > 0 {
						t.Errorf("%s from %s: the terminal shows hyperlinks %q", tc.name, s.via, links)
					}
					if coloured {
						t.Errorf("%s from %s: %q is coloured on the terminal", tc.name, s.via, line)
					}
				}
			}
		}
	}
	for _, c := range watch.seen() {
		if strings.Contains(c, "pwned") || strings.Contains(c, "evil") || strings.Contains(c, "#ff0000") {
			t.Errorf("a user changed the terminal: %s", c)
		}
	}

	t.Run("1 MiB line over SSH", func(t *testing.T) {
		mallory.send(strings.Repeat("A", 1<<20))
		mallory.send("after-the-MiB-ssh")
		lines := linesUntil(mallory, "<mallory> after-the-MiB-ssh")
		if !containsPrefix(lines, "-!- error: line not sent: longer than 16384 bytes") {
			t.Errorf("no too-long error for a 1 MiB line: %q", lines)
		}
		got := messagesFromLines(linesUntil(bob, "<mallory> after-the-MiB-ssh"), "mallory")
		if !equalStrings(got, []string{"after-the-MiB-ssh"}) {
			t.Errorf("others got %q around the 1 MiB line", got)
		}
		frames := framesUntil(alice, "message after the MiB", isMessage("mallory", "after-the-MiB-ssh"))
		if got := messagesFromFrames(frames, "mallory"); !equalStrings(got, []string{"after-the-MiB-ssh"}) {
			t.Errorf("web client got %q around the 1 MiB line", got)
		}
		carol.waitScreen("<mallory> after-the-MiB-ssh")
	})

	t.Run("1 MiB frame on the web", func(t *testing.T) {
		big := joinCheckedWS(t, srv.HTTPAddr, "bigmouth", chk)
		bob.expect("bigmouth joined")
		sent := make(chan error, 1)
		go func() {
			// The server may reset the connection while this is being
			// written; only the close code matters.
			sent <- big.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"say","room":"lobby","text":"`+strings.Repeat("A", 1<<20)+`"}`))
		}()
		select {
		case <-big.closed:
		case <-time.After(waitTimeout):
			t.Fatal("a 1 MiB frame did not close the websocket")
		}
		select {
		case <-sent:
		case <-time.After(waitTimeout):
			t.Fatal("writing the 1 MiB frame never ended")
		}
		var ce *websocket.CloseError
		if err := big.closeErr(); !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("a 1 MiB frame ended the websocket with %v, want close 1009", err)
		}
		frames := framesUntil(alice, "bigmouth parts", func(f frame) bool { return f.Type == "part" && f.Nick == "bigmouth" })
		if got := messagesFromFrames(frames, "bigmouth"); len(got) > 0 {
			t.Errorf("others got %d messages from the 1 MiB frame", len(got))
		}
		if got := messagesFromLines(linesUntil(bob, "bigmouth left"), "bigmouth"); len(got) > 0 {
			t.Errorf("line client got %d messages from the 1 MiB frame", len(got))
		}
	})

	t.Run("hostile nicks on the web", func(t *testing.T) {
		conn, _, err := dialWS(t, srv.HTTPAddr, nil, nil)
		must(t, err)
		probe := checkedWS(t, conn, "web nick probe", chk)
		hello := func(nick string) frame {
			t.Helper()
			msg := `{"type":"hello","nick":` + rawJSONString(nick) + `}`
			must(t, conn.WriteMessage(websocket.TextMessage, []byte(msg)))
			return probe.expect("answer to hello "+nick, func(f frame) bool { return f.Type == "error" || f.Type == "welcome" })
		}
		for _, nick := range []string{
			"<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "bob\"onmouseover=x",
			"al\u200bice", "zero\u200dwidth", "\ufeffbom", "\u202Eecila", "rtl\u200f",
			"a\x1b[31mb", "esc\x1b", "nul\x00", "cr\rlf", "bad\xffutf8", "a b", "c1\u0085x", "del\x7f",
			strings.Repeat("n", 25),
		} {
			if f := hello(nick); f.Type != "error" || f.Code != "bad_nick" {
				t.Errorf("hello as %q: %s, want a bad_nick error", nick, f.Raw)
			}
		}
		for _, nick := range []string{"\u0430lice" /* Cyrillic а */, "ALICE", "aIice", "Mallory"} {
			if f := hello(nick); f.Type != "error" || f.Code != "nick_taken" {
				t.Errorf("hello as lookalike %q: %s, want nick_taken", nick, f.Raw)
			}
		}
		if f := hello("probe"); f.Type != "welcome" {
			t.Fatalf("hello as probe: %s", f.Raw)
		}
		for nick, code := range map[string]string{
			"<script>": "bad_nick", "al\u200bice": "bad_nick", "x\u200by": "bad_nick",
			"\u0430lice": "nick_taken", "BOB": "nick_taken",
		} {
			sayRaw(probe, "/nick "+nick)
			if f := probe.expect("answer to /nick "+nick, func(f frame) bool { return f.Type == "error" || f.Type == "nick" }); f.Code != code {
				t.Errorf("/nick %q: %s, want %s", nick, f.Raw, code)
			}
		}
	})

	t.Run("hostile SSH user names", func(t *testing.T) {
		for _, tc := range []struct{ user, nick string }{
			{"<script>alert(1)</script>", "scriptalert1script"},
			{"<img src=x onerror=alert(1)>", "imgsrcxonerroralert1"},
			{"ev\u200bil", "evil"},
			{"\u202Eecila", "ecila"},
			{"\x1b[31mred\x1b[0m", "31mred0m"},
			{"nul\x00user", "nuluser"},
			{"bad\xffuser", "baduser"},
			{"\u0430lice", "\u0430lice_2"},
			{"alice", "alice_2"},
		} {
			lc := checkedLineClient(t, "", srv.SSHAddr, tc.user, chk)
			welcome := lc.expect("-!- welcome ")
			if got := strings.TrimPrefix(welcome, "-!- welcome "); got != tc.nick {
				t.Errorf("ssh user %q got nick %q, want %q", tc.user, got, tc.nick)
			}
			if strings.HasSuffix(tc.nick, "_2") {
				lc.expect("is taken; you are " + tc.nick)
			}
			bob.expect(tc.nick + " joined (ssh)")
			lc.client.Close()
			bob.expect(tc.nick + " left")
		}
	})

	t.Run("SQL in text is data", func(t *testing.T) {
		const topic = "x'; DROP TABLE rooms; --"
		const msg = `hi'); DELETE FROM messages; DROP TABLE messages; --"`
		mallory.send("/topic " + topic)
		mallory.send(msg)
		mallory.expect("<mallory> " + msg)
		late := joinCheckedWS(t, srv.HTTPAddr, "latecomer", chk)
		var tf struct{ Topic string }
		mustJSON(t, late.expect("topic", func(f frame) bool { return f.Type == "topic" }).Raw, &tf)
		if tf.Topic != topic {
			t.Errorf("stored topic %q, want %q", tf.Topic, topic)
		}
		h := late.expect("history", func(f frame) bool { return f.Type == "history" })
		var hist struct {
			Messages []struct{ From, Text string } `json:"messages"`
		}
		mustJSON(t, h.Raw, &hist)
		if n := len(hist.Messages); n == 0 || hist.Messages[n-1].Text != msg {
			t.Errorf("history does not end with the SQL-looking message: %s", h.Raw)
		}
	})

	// The receivers still work.
	bob.send("still standing")
	alice.expect("bob still standing", isMessage("bob", "still standing"))
	carol.waitScreen("<bob> still standing")
	chk.report(t)
}

// checkTerminalAttribution fails if a screen row shows forged text without
// the real sender's name before it.
func checkTerminalAttribution(t *testing.T, what, screen string) {
	t.Helper()
	head := "" // the row of the message a row indented under it continues
	for _, row := range strings.Split(screen, "\n") {
		if strings.Contains(row, "<alice>") {
			t.Errorf("%s: the terminal shows a line as from alice: %q", what, row)
		}
		indented := strings.HasPrefix(row, " ")
		if !indented {
			head = row
		}
		for _, forged := range []string{"alice: forged", "alice: evil"} {
			if i := strings.Index(row, forged); i >= 0 {
				before := row[:i]
				if indented && strings.TrimSpace(before) == "" {
					// A continuation line: it belongs to the message
					// it is indented under, unless that one has
					// scrolled off the top.
					if head == "" {
						continue
					}
					before = head
				}
				if !strings.Contains(before, "<mallory>") && !strings.Contains(before, "<mallet>") {
					t.Errorf("%s: the terminal shows %q without its sender: %q", what, forged, row)
				}
			}
		}
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// --- 3. floods ---------------------------------------------------------

// floodConfig is the default rate limit, set explicitly: startServer's
// own default lets tests send as fast as they like.
func floodConfig(c *app.Config) {
	c.Room.RateBurst, c.Room.RatePerSecond, c.Room.FloodLimit = 10, 2, 20
}

// A client that floods is refused with rate_limited and then disconnected
// for flooding, on either front-end, while another client's messages all
// reach a third one.
func TestFloodIsLimited(t *testing.T) {
	if room.DefaultRateBurst != 10 || room.DefaultRatePerSecond != 2 || room.DefaultFloodLimit != 20 {
		t.Errorf("the default rate limits changed (%d, %g, %d): update floodConfig and docs/security.md",
			room.DefaultRateBurst, room.DefaultRatePerSecond, room.DefaultFloodLimit)
	}
	for _, via := range []string{"ssh", "web"} {
		t.Run("flooder on "+via, func(t *testing.T) {
			srv := startServer(t, floodConfig)
			listener := joinWS(t, srv.HTTPAddr, "listener")
			talker := newLineClient(t, srv.SSHAddr, "talker")
			talker.expect("welcome talker")

			const floodLines = 300
			var flooderGone <-chan struct{}
			var flooderSaw func() []string
			switch via {
			case "ssh":
				fl := newLineClient(t, srv.SSHAddr, "flooder")
				fl.expect("welcome flooder")
				listener.expect("flooder joins", func(f frame) bool { return f.Type == "join" && f.Nick == "flooder" })
				var b strings.Builder
				for i := range floodLines {
					fmt.Fprintf(&b, "flood %d\n", i)
				}
				go func() { _, _ = io.WriteString(fl.stdin, b.String()) }()
				flooderGone = fl.closed
				flooderSaw = func() []string {
					var out []string
					for {
						select {
						case l := <-fl.lines:
							out = append(out, l)
						default:
							return out
						}
					}
				}
			case "web":
				fl := joinWS(t, srv.HTTPAddr, "flooder")
				listener.expect("flooder joins", func(f frame) bool { return f.Type == "join" && f.Nick == "flooder" })
				go func() {
					for i := range floodLines {
						if fl.conn.WriteJSON(map[string]string{"type": "say", "text": fmt.Sprintf("flood %d", i)}) != nil {
							return
						}
					}
				}()
				flooderGone = fl.closed
				flooderSaw = func() []string {
					var out []string
					for {
						select {
						case f := <-fl.frames:
							switch f.Type {
							case "error":
								out = append(out, "error "+f.Code)
							case "notice":
								out = append(out, "notice "+f.Text)
							}
						default:
							var ce *websocket.CloseError
							if errors.As(fl.closeErr(), &ce) {
								out = append(out, "close "+ce.Text)
							}
							return out
						}
					}
				}
			}

			// The talker chats through the flood at a normal pace. Every
			// frame the listener gets from now on is kept, to count what
			// the flooder got through.
			var seen []frame
			var latencies []time.Duration
			for i := range 8 {
				text := fmt.Sprintf("normal %d", i)
				start := time.Now()
				talker.send(text)
				seen = append(seen, framesUntil(listener, text, isMessage("talker", text))...)
				latencies = append(latencies, time.Since(start))
			}
			t.Logf("%s flood: talker→listener latencies %v", via, latencies)

			select {
			case <-flooderGone:
			case <-time.After(waitTimeout):
				t.Fatal("the flooder was not disconnected")
			}
			saw := strings.Join(flooderSaw(), "\n")
			if !strings.Contains(saw, "rate_limited") && !strings.Contains(saw, "slow down") {
				t.Errorf("the flooder was never told it was rate limited:\n%s", saw)
			}
			if !strings.Contains(saw, "Disconnected for flooding.") {
				t.Errorf("the flooder was not told why it was disconnected:\n%s", saw)
			}
			if via == "web" && !strings.Contains(saw, "close flooding") {
				t.Errorf("the flooder's websocket was not closed with reason flooding:\n%s", saw)
			}
			parts := func(f frame) bool { return f.Type == "part" && f.Nick == "flooder" }
			if !slices.ContainsFunc(seen, parts) {
				seen = append(seen, framesUntil(listener, "flooder parts", parts)...)
			}
			if i := slices.IndexFunc(seen, parts); seen[i].Reason != "flooding" {
				t.Errorf("the flooder left with reason %q, want flooding", seen[i].Reason)
			}
			// Only about the burst got through.
			got := 0
			for _, f := range seen {
				if f.Type == "message" && f.From == "flooder" {
					got++
				}
			}
			t.Logf("%s flood: %d of %d flood lines were delivered", via, got, floodLines)
			if got < 1 || got > 20 {
				t.Errorf("%d flood lines got through; the burst is 10", got)
			}
		})
	}
}

// countFlood counts the hub's "flood" log records, passing every record
// on to the test log.
type countFlood struct {
	slog.Handler
	n *atomic.Int32
}

func (h countFlood) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "flood" {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h countFlood) WithAttrs(as []slog.Attr) slog.Handler {
	return countFlood{h.Handler.WithAttrs(as), h.n}
}

func (h countFlood) WithGroup(g string) slog.Handler { return countFlood{h.Handler.WithGroup(g), h.n} }

// A flooder is disconnected once, and logged once: the lines it had
// already sent must not each log a warning (a log amplification).
func TestFloodDisconnectLoggedOnce(t *testing.T) {
	for _, via := range []string{"ssh", "web"} {
		t.Run("flooder on "+via, func(t *testing.T) {
			var n atomic.Int32
			srv := startServer(t, floodConfig, func(c *app.Config) {
				c.Logger = slog.New(countFlood{c.Logger.Handler(), &n})
			})
			listener := joinWS(t, srv.HTTPAddr, "listener")
			switch via {
			case "ssh":
				fl := newLineClient(t, srv.SSHAddr, "flooder")
				fl.expect("welcome flooder")
				go func() { _, _ = io.WriteString(fl.stdin, strings.Repeat("flood\n", 300)) }()
			case "web":
				fl := joinWS(t, srv.HTTPAddr, "flooder")
				go func() {
					for range 300 {
						if fl.conn.WriteJSON(map[string]string{"type": "say", "text": "flood"}) != nil {
							return
						}
					}
				}()
			}
			listener.expect("flooder parts", func(f frame) bool { return f.Type == "part" && f.Nick == "flooder" })
			// The part is published after the reader stopped, so every
			// record the flood could cause has been counted.
			if got := n.Load(); got != 1 {
				t.Errorf("one flood from %s logged %d \"flood\" warnings, want 1", via, got)
			}
		})
	}
}

// --- 4. connections per address ----------------------------------------

// The 11th connection from one address is refused on both front-ends,
// other addresses still connect, and closing one frees a slot.
func TestConnectionCapPerAddress(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Conns.PerAddr = 10 })
	const crowded, other = "127.0.0.20", "127.0.0.21"
	var sshClients []*lineClient
	var webClients []*wsClient
	for i := range 5 {
		lc := newLineClientFrom(t, crowded, srv.SSHAddr, fmt.Sprintf("cap%d", i))
		lc.expect("welcome cap")
		sshClients = append(sshClients, lc)
		wc := dialWSFrom(t, crowded, srv.HTTPAddr)
		wc.sendJSON(map[string]string{"type": "hello", "nick": fmt.Sprintf("capw%d", i)})
		wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
		webClients = append(webClients, wc)
	}
	sshDialRefused(t, crowded, srv.SSHAddr)
	if status := wsDialStatusFrom(t, crowded, srv.HTTPAddr); status != http.StatusTooManyRequests {
		t.Fatalf("11th connection (websocket) from %s: status %d, want 429", crowded, status)
	}

	// Another address is not affected.
	o := newLineClientFrom(t, other, srv.SSHAddr, "outsider")
	o.expect("welcome outsider")
	ow := dialWSFrom(t, other, srv.HTTPAddr)
	ow.sendJSON(map[string]string{"type": "hello", "nick": "outsiderweb"})
	ow.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	o.send("hello from next door")
	webClients[0].expect("outsider's message", isMessage("outsider", "hello from next door"))
	sshClients[0].expect("<outsider> hello from next door")

	// Closing one of the ten frees its slot. The server releases it when
	// it has torn the connection down, which no client sees: poll.
	sshClients[4].client.Close()
	webClients[0].expect("cap4 leaves", func(f frame) bool { return f.Type == "part" && f.Nick == "cap4" })
	deadline := time.Now().Add(waitTimeout)
	var again *websocket.Conn
	for again == nil {
		d := &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(crowded)}}
			return nd.Dial(network, addr)
		}}
		conn, resp, err := dialWS(t, srv.HTTPAddr, nil, d)
		switch {
		case err == nil:
			again = conn
		case resp == nil || resp.StatusCode != http.StatusTooManyRequests:
			t.Fatalf("reconnecting from %s: %v", crowded, err)
		case time.Now().After(deadline):
			t.Fatal("closing a connection did not free its slot")
		default:
			time.Sleep(20 * time.Millisecond) // polling: no event marks the release
		}
	}
	back := wrapWS(t, again)
	back.sendJSON(map[string]string{"type": "hello", "nick": "capback"})
	back.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	back.say("back in")
	o.expect("<capback> back in")
	// And the address is full again.
	sshDialRefused(t, crowded, srv.SSHAddr)
}

// Churning connections (connect, close, again) would make every lobby
// member receive a join and a part each time: new connections per address
// are paced, on both front-ends together, while other addresses connect.
func TestConnectionChurnIsPaced(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Conns.Rate, c.Conns.Burst = 0.01, 4 })
	const churner, other = "127.0.0.24", "127.0.0.25"
	watcher := joinWS(t, srv.HTTPAddr, "watcher") // from 127.0.0.1
	for i := range 2 {
		lc := newLineClientFrom(t, churner, srv.SSHAddr, fmt.Sprintf("churn%d", i))
		lc.expect("welcome churn")
		lc.send("/quit")
		<-lc.closed
		wc := dialWSFrom(t, churner, srv.HTTPAddr)
		wc.sendJSON(map[string]string{"type": "hello", "nick": fmt.Sprintf("churnw%d", i)})
		wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
		wc.conn.Close()
	}
	// Nothing is open from the churner now: only the pace refuses.
	sshDialRefused(t, churner, srv.SSHAddr)
	if status := wsDialStatusFrom(t, churner, srv.HTTPAddr); status != http.StatusTooManyRequests {
		t.Fatalf("fifth new connection in a burst of 4 (websocket): status %d, want 429", status)
	}
	o := newLineClientFrom(t, other, srv.SSHAddr, "bystander")
	o.expect("welcome bystander")
	o.send("still here")
	watcher.expect("<bystander> still here", func(f frame) bool { return f.Type == "message" && f.From == "bystander" })
}

// --- 5. garbage and stalled connections ---------------------------------

// Hundreds of connections that send garbage or stall in the SSH handshake
// or mid HTTP request do not stop a user from connecting and chatting,
// and the stalled ones are closed by the server.
func TestGarbageConnectionsDoNotBlockUsers(t *testing.T) {
	const timeout = 2 * time.Second
	srv := startServer(t, func(c *app.Config) {
		c.SSH.HandshakeTimeout = timeout
		c.SSH.SessionTimeout = timeout
		c.Conns.PerAddr = 10
	})
	type kind struct {
		name    string
		addr    string
		payload func() []byte
	}
	random := func() []byte {
		b := make([]byte, 512)
		_, _ = rand.Read(b)
		return b
	}
	kinds := []kind{
		{"ssh random bytes", srv.SSHAddr, random},
		{"ssh silent", srv.SSHAddr, func() []byte { return nil }},
		{"ssh version then stall", srv.SSHAddr, func() []byte { return []byte("SSH-2.0-Stall_1.0\r\n") }},
		{"http half-open request", srv.HTTPAddr, func() []byte {
			return []byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		}},
		{"http random bytes", srv.HTTPAddr, random},
	}
	const n = 300
	type result struct {
		kind   int
		closed bool
		after  time.Duration
		err    error
	}
	results := make(chan result, n)
	start := time.Now()
	for i := range n {
		k := i % len(kinds)
		local := fmt.Sprintf("127.0.%d.%d", 100+i/100, 1+i%100)
		d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := d.Dial("tcp", kinds[k].addr)
		if err != nil {
			t.Fatalf("dial %d (%s) from %s: %v", i, kinds[k].name, local, err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			if p := kinds[k].payload(); len(p) > 0 {
				_, _ = conn.Write(p)
			}
			// Read (and drop) what the server says until it closes.
			_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err := io.Copy(io.Discard, conn)
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			results <- result{kind: k, closed: !timedOut, after: time.Since(start), err: err}
		}()
	}
	dialled := time.Since(start)

	// A normal user, over SSH and the web, connects and chats.
	userStart := time.Now()
	web := joinWS(t, srv.HTTPAddr, "webuser")
	ssh := newLineClient(t, srv.SSHAddr, "sshuser")
	ssh.expect("welcome sshuser")
	ssh.send("hello through the noise")
	web.expect("sshuser's message", isMessage("sshuser", "hello through the noise"))
	web.say("loud and clear")
	ssh.expect("<webuser> loud and clear")
	t.Logf("%d garbage connections dialled in %v; a user then connected (SSH and web) and chatted both ways in %v",
		n, dialled.Round(time.Millisecond), time.Since(userStart).Round(time.Millisecond))

	// Every garbage connection is closed by the server: the SSH ones
	// within the handshake (+ session) timeout, the HTTP ones by the
	// server's read-header timeout (10 s) or at once for a bad request.
	slowest := make([]time.Duration, len(kinds))
	for range n {
		r := <-results
		if !r.closed {
			t.Errorf("a %q connection was still open after %v", kinds[r.kind].name, waitTimeout)
			continue
		}
		slowest[r.kind] = max(slowest[r.kind], r.after)
	}
	for i, k := range kinds {
		t.Logf("%q connections: the last was closed by the server %v after the start", k.name, slowest[i].Round(time.Millisecond))
		if strings.HasPrefix(k.name, "ssh") && slowest[i] > 2*timeout+5*time.Second {
			t.Errorf("%q connections took %v to be closed (handshake timeout %v)", k.name, slowest[i], timeout)
		}
	}
	// The users are still fine.
	ssh.send("still here")
	web.expect("still here", isMessage("sshuser", "still here"))
}

// --- private messages at rest ---------------------------------------------

// Private messages are never written to disk unless --store-private: after
// the server stops, no file in its data folder holds one.
func TestSecurityPrivateMessagesNotOnDisk(t *testing.T) {
	srv := startServer(t)
	alice := newLineClient(t, srv.SSHAddr, "alice")
	alice.expect("welcome alice")
	bob := joinWS(t, srv.HTTPAddr, "bob")
	secret := "pm-secret-" + rand.Text()
	alice.send("/msg bob " + secret)
	bob.expect("the private message", func(f frame) bool { return f.Type == "private" && f.Text == secret })
	bob.say("/reply " + secret + "-reply")
	alice.expect(secret + "-reply")
	public := "room-message-" + rand.Text()
	alice.send(public)
	bob.expect("the room message", isMessage("alice", public))
	srv.Stop()

	var sawPublic bool
	err := filepath.WalkDir(srv.cfg.Files.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds a private message", path)
		}
		sawPublic = sawPublic || bytes.Contains(b, []byte(public))
		return nil
	})
	must(t, err)
	if !sawPublic {
		t.Fatal("the room message is in no file either: the search is broken")
	}
}

// --- dead peers -----------------------------------------------------------

// freezingProxy relays TCP between a client and addr until frozen; then it
// stops relaying in both directions but keeps both sockets open, as a peer
// whose network vanished would (no FIN, no RST).
type freezingProxy struct {
	addr   string
	frozen chan struct{}
	once   sync.Once
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &freezingProxy{addr: ln.Addr().String(), frozen: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			relay := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					select {
					case <-p.frozen:
						<-done // hold the sockets open, relay nothing
						dst.Close()
						src.Close()
						return
					default:
					}
					if n > 0 {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							err = werr
						}
					}
					if err != nil {
						dst.Close()
						src.Close()
						return
					}
				}
			}
			go relay(s, c)
			go relay(c, s)
		}
	}()
	return p
}

func (p *freezingProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

// A peer that goes silent without closing (a dead link, a suspended
// laptop) is dropped: SSH by the keepalive, the web by the ping.
func TestSecurityDeadPeersDropped(t *testing.T) {
	const interval = 300 * time.Millisecond
	srv := startServer(t, func(c *app.Config) {
		c.SSH.Keepalive = interval
		c.Web.PingInterval = interval
	})
	// The watcher is an SSH line client: its library answers keepalives
	// while the test is busy elsewhere, where a websocket client answers
	// pings only while it reads.
	watcher := newLineClient(t, srv.SSHAddr, "watcher")
	watcher.expect("welcome watcher")

	t.Run("ssh keepalive", func(t *testing.T) {
		p := newFreezingProxy(t, srv.SSHAddr)
		ghost := newLineClient(t, p.addr, "ghost")
		ghost.expect("welcome ghost")
		watcher.expect("#lobby --> ghost joined")
		p.freeze()
		start := time.Now()
		left := watcher.expect("#lobby <-- ghost left")
		t.Logf("a frozen SSH peer was dropped after %v (keepalive %v): %q", time.Since(start).Round(time.Millisecond), interval, left)
	})

	t.Run("websocket ping", func(t *testing.T) {
		p := newFreezingProxy(t, srv.HTTPAddr)
		joinWS(t, p.addr, "wsghost")
		watcher.expect("#lobby --> wsghost joined")
		p.freeze()
		start := time.Now()
		left := watcher.expect("#lobby <-- wsghost left")
		t.Logf("a frozen websocket peer was dropped after %v (ping interval %v): %q", time.Since(start).Round(time.Millisecond), interval, left)
	})
}

// --- 6. cross-site websockets and forged proxy headers ------------------

func wsDialHeader(t *testing.T, local, httpAddr string, header http.Header) (*websocket.Conn, int) {
	t.Helper()
	d := &websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{}
		if local != "" {
			nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		return nd.Dial(network, addr)
	}}
	conn, resp, err := dialWS(t, httpAddr, header, d)
	if err == nil {
		return conn, http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("websocket dial: %v", err)
	}
	return nil, resp.StatusCode
}

// A browser on another site cannot open a websocket (403); the page's own
// origin and --allowed-origins can, and so can clients sending no Origin.
// (The page's CSP and text rendering: e2e/browser_test.go.)
func TestWebsocketOriginCheck(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Web.AllowedOrigins = []string{"https://chat.example.com"} })
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://evil.example", http.StatusForbidden},
		{"http://evil.example", http.StatusForbidden},
		{"https://chat.example.com.evil.example", http.StatusForbidden},
		{"https://evil.example/https://chat.example.com", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"http://127.0.0.1:1", http.StatusForbidden}, // same IP, another port: another origin
		{"http://" + srv.HTTPAddr, http.StatusSwitchingProtocols},
		{"https://chat.example.com", http.StatusSwitchingProtocols},
		{"https://CHAT.example.com/", http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols}, // bots send no Origin
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		conn, status := wsDialHeader(t, "", srv.HTTPAddr, h)
		if status != tc.want {
			t.Errorf("Origin %q: status %d, want %d", tc.origin, status, tc.want)
			continue
		}
		if conn != nil {
			wc := wrapWS(t, conn)
			nick := fmt.Sprintf("origin%d", len(tc.origin))
			wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
			wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
			conn.Close()
		}
	}
	// The sign-in endpoint refuses cross-site posts too.
	req, err := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr+"/login", strings.NewReader(`{"code":"x"}`))
	must(t, err)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /login: status %d, want 403", resp.StatusCode)
	}
}

// X-Forwarded-For is believed only from --trusted-proxies: a direct client
// that forges it is known (whois, caps) by its own address. (Unit cases:
// internal/webchat/proxy_test.go; through a real nginx:
// e2e/nginx_test.go TestThroughNginx.)
func TestForwardedForOnlyFromTrustedProxy(t *testing.T) {
	srv := startServer(t, func(c *app.Config) {
		c.Web.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Conns.PerAddr = 2
	})
	whoami := func(local, xff, nick string) string {
		t.Helper()
		conn, status := wsDialHeader(t, local, srv.HTTPAddr, http.Header{"X-Forwarded-For": {xff}, "X-Real-Ip": {xff}})
		if conn == nil {
			t.Fatalf("websocket from %s (X-Forwarded-For %s): status %d", local, xff, status)
		}
		wc := wrapWS(t, conn)
		wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
		wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
		wc.say("/whois " + nick)
		return wc.expect("whois", func(f frame) bool { return f.Type == "notice" && strings.HasPrefix(f.Text, nick+" (web)") }).Text
	}
	if w := whoami("127.0.0.30", "9.9.9.9", "spoofer"); !strings.Contains(w, "address 127.0.0.30") || strings.Contains(w, "9.9.9.9") {
		t.Errorf("an untrusted peer's X-Forwarded-For was believed:\n%s", w)
	}
	if w := whoami("127.0.0.1", "203.0.113.7", "proxied"); !strings.Contains(w, "address 203.0.113.7") {
		t.Errorf("the trusted proxy's X-Forwarded-For was not used:\n%s", w)
	}
	// Forging a new address per connection does not escape the cap.
	whoami("127.0.0.30", "9.9.9.10", "spoofer2")
	if _, status := wsDialHeader(t, "127.0.0.30", srv.HTTPAddr, http.Header{"X-Forwarded-For": {"9.9.9.11"}}); status != http.StatusTooManyRequests {
		t.Errorf("a third connection from 127.0.0.30 with a new forged X-Forwarded-For: status %d, want 429", status)
	}
	// SSH has no such header: its address is the peer's.
	lc := newLineClientFrom(t, "127.0.0.31", srv.SSHAddr, "sshpeer")
	lc.send("/whois sshpeer")
	lc.expect("address 127.0.0.31")
}

// Frames before a successful hello are not rate-limited by the hub, so a
// connection may make only so many attempts (bad frames, refused nicks)
// before it is closed; a new connection can then sign in as usual.
func TestPreHelloAttemptsBounded(t *testing.T) {
	srv := startServer(t)
	wc := newWSClient(t, srv.HTTPAddr)
	answer := func() frame {
		t.Helper()
		wc.sendJSON(map[string]string{"type": "hello", "nick": "<bad nick>"})
		return wc.expect("error", func(f frame) bool { return f.Type == "error" })
	}
	for i := range 30 {
		if f := answer(); f.Code != "bad_nick" {
			t.Fatalf("refused hello %d: %s, want bad_nick", i+1, f.Raw)
		}
	}
	if f := answer(); f.Code != "too_many_attempts" {
		t.Fatalf("hello 31: %s, want too_many_attempts", f.Raw)
	}
	select {
	case <-wc.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the connection stayed open after too_many_attempts")
	}
	wc.mu.Lock()
	err := wc.err
	wc.mu.Unlock()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("connection ended with %v, want close code 1008", err)
	}
	joinWS(t, srv.HTTPAddr, "patient")
}

// A websocket that never says hello is closed after --ws-hello-timeout, so
// an idle upgrade cannot hold a connection slot.
func TestSilentWebsocketClosedAfterHelloTimeout(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Web.HelloTimeout = 300 * time.Millisecond })
	wc := newWSClient(t, srv.HTTPAddr)
	start := time.Now()
	select {
	case <-wc.closed:
		t.Logf("closed %v after the upgrade", time.Since(start).Round(time.Millisecond))
	case <-time.After(waitTimeout):
		t.Fatal("a websocket that sent no hello is still open")
	}
	joinWS(t, srv.HTTPAddr, "talker")
}

// On the default --trusted-proxies, a local peer other than 127.0.0.1 (any
// local user or process) rotating X-Forwarded-For and X-Real-IP on every
// request must still be limited as itself.
func TestSignInGuessLimitIgnoresForgedHeadersOnDefaults(t *testing.T) {
	srv := startServer(t) // the default trusted list, 127.0.0.1/32 and ::1/128
	local := &net.TCPAddr{IP: net.ParseIP("127.0.0.65")}
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}}
	defer client.CloseIdleConnections()
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		body := fmt.Sprintf(`{"code":"AAAA-BBBB-%04d"}`, i)
		req, err := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr+"/login", strings.NewReader(body))
		must(t, err)
		req.Header.Set("Content-Type", "application/json")
		forged := fmt.Sprintf("198.51.100.%d", i+1)
		req.Header.Set("X-Forwarded-For", forged)
		req.Header.Set("X-Real-IP", forged)
		resp, err := client.Do(req)
		must(t, err)
		resp.Body.Close()
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("20 wrong codes from 127.0.0.65 with a new forged address each were not rate-limited")
	}
}

// DNS rebinding: once the server knows its public name (--public-url or
// --allowed-origins), a request naming another host, as a page on
// evil.example re-resolved to this server would send, is refused: the page,
// the websocket and sign-in alike. Address literals still work for local
// tools, and the probes answer whatever the host.
func TestRequestsForAnotherHostRefused(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.PublicURL = "https://chat.example.com" })
	status := func(method, path, host string, header http.Header) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+srv.HTTPAddr+path, nil)
		must(t, err)
		req.Host = host
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"http://evil.example:" + strings.Split(srv.HTTPAddr, ":")[1]}}
	for _, tc := range []struct {
		method, path, host string
		header             http.Header
		want               int
	}{
		{"GET", "/", "evil.example", nil, http.StatusMisdirectedRequest},
		{"GET", "/ws", "evil.example:" + strings.Split(srv.HTTPAddr, ":")[1], upgrade, http.StatusMisdirectedRequest},
		{"POST", "/login", "evil.example", nil, http.StatusMisdirectedRequest},
		{"GET", "/", "chat.example.com", nil, http.StatusOK},
		{"GET", "/", "CHAT.example.com:443", nil, http.StatusOK},
		{"GET", "/", srv.HTTPAddr, nil, http.StatusOK},
		{"GET", "/", "localhost", nil, http.StatusOK},
		{"GET", "/healthz", "evil.example", nil, http.StatusOK},
	} {
		if got := status(tc.method, tc.path, tc.host, tc.header); got != tc.want {
			t.Errorf("%s %s with Host %q: status %d, want %d", tc.method, tc.path, tc.host, got, tc.want)
		}
	}
	// Without a public name the server cannot tell: every host is served.
	open := startServer(t)
	req, err := http.NewRequest(http.MethodGet, "http://"+open.HTTPAddr+"/", nil)
	must(t, err)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("no --public-url: Host evil.example got %d, want 200", resp.StatusCode)
	}
}
