package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/store"
)

// openSSHCommand is the command line of the real OpenSSH client, with a key
// of its own, connecting as user.
func openSSHCommand(t testing.TB, sshAddr, user string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run scripts/test, which installs it")
	}
	host, port := splitAddr(t, sshAddr)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return fmt.Sprintf("ssh -tt -p %s -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=%s/known_hosts -o LogLevel=error %s@%s",
		port, key, dir, user, host)
}

// A session nobody types in and nothing happens to gets no output at all:
// the caret is the terminal's own cursor, not a drawn cell that blinks.
// Everything the server sends to the real OpenSSH client passes through tee
// into a file (written before the pane, so whatever the pane shows is in
// the file), which must not grow for 10 s after the echo of a key.
func TestTerminalIdleSessionGetsNoOutput(t *testing.T) {
	srv := startServer(t)
	out := filepath.Join(t.TempDir(), "output")
	tm := newTmux(t, 80, 24, openSSHCommand(t, srv.SSHAddr, "idler")+" | tee "+out+" /dev/fd/3 3>&1 >/dev/null")
	tm.waitFor("idler │ #lobby │ 1 members")
	tm.run("send-keys", "-t", tm.target, "-l", "x")
	tm.waitFor("> x")
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	size := len(data)
	end := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond) // poll interval, not synchronisation
		checkedAt := time.Now()
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != size {
			t.Fatalf("an idle session got %d bytes: %q", len(data)-size, data[size:])
		}
		if checkedAt.After(end) {
			return
		}
	}
}

var backlogRow = regexp.MustCompile(`<poster> backlog (\d+)`)

// backlogNumbers lists the backlog messages a screen shows, top to bottom.
func backlogNumbers(screen string) []int {
	var ns []int
	for _, g := range backlogRow.FindAllStringSubmatch(screen, -1) {
		n, _ := strconv.Atoi(g[1])
		ns = append(ns, n)
	}
	return ns
}

// Paging up in the real OpenSSH client through stored history, loaded a
// page at a time, shows every message on the way, none skipped where a page
// was loaded; while scrolled back, new messages are counted at the bottom,
// and sending a line goes back to the bottom.
func TestTerminalPagingUpThroughHistory(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 5 })
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	const total = 130
	for i := 1; i <= total; i++ {
		poster.send(fmt.Sprintf("backlog %03d", i))
	}
	poster.expect(fmt.Sprintf("<poster> backlog %03d", total))

	tm := newTmux(t, 80, 24, openSSHCommand(t, srv.SSHAddr, "reader"))
	screen := tm.waitFor("reader │ #lobby │ 2 members", fmt.Sprintf("<poster> backlog %03d", total))
	seen := map[int]bool{}
	for _, n := range backlogNumbers(screen) {
		seen[n] = true
	}
	top := backlogNumbers(screen)[0]
	// Each PgUp is followed by a keystroke for the input line, typing "x"
	// or taking it back: the terminal handles keys in order, so a screen
	// that shows the input's new state shows that PgUp's effect too. A
	// wait with a deadline instead let two PgUp land between captures on
	// a loaded machine, and the page between them looked skipped.
	typed := false
	inputIs := func(screen, want string) bool {
		rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return strings.TrimSpace(rows[len(rows)-1]) == want
	}
	deadline := time.Now().Add(waitTimeout)
	for presses := 0; top > 1; presses++ {
		if time.Now().After(deadline) {
			t.Fatalf("still at backlog %d after %d PgUp", top, presses)
		}
		tm.run("send-keys", "-t", tm.target, "PPage")
		want := "> x"
		if typed {
			tm.run("send-keys", "-t", tm.target, "BSpace")
			want = "> type a message or /help"
		} else {
			tm.run("send-keys", "-t", tm.target, "-l", "x")
		}
		typed = !typed
		// The screen moved up a page, or stayed: the top of what is
		// loaded was shown and the next page is on its way.
		screen = tm.waitForFunc("the input line "+want, func(screen string) bool { return inputIs(screen, want) })
		ns := backlogNumbers(screen)
		if len(ns) > 0 && ns[0] < top {
			for _, n := range ns {
				seen[n] = true
			}
			top = ns[0]
		}
	}
	if typed {
		tm.run("send-keys", "-t", tm.target, "BSpace")
		tm.waitForFunc("an empty input line", func(screen string) bool { return inputIs(screen, "> type a message or /help") })
	}
	for i := 1; i <= total; i++ {
		if !seen[i] {
			t.Fatalf("paging up skipped backlog %03d; screen:\n%s", i, screen)
		}
	}

	poster.send("while you were reading")
	poster.send("and another")
	tm.waitFor("2 new messages ↓")
	tm.run("send-keys", "-t", tm.target, "-l", "back from reading")
	tm.run("send-keys", "-t", tm.target, "Enter")
	screen = tm.waitFor("<reader> back from reading", "<poster> and another")
	if strings.Contains(screen, "new message") {
		t.Fatalf("the new-messages line stayed at the bottom:\n%s", screen)
	}
}

// Ctrl-L repaints the screen: whatever else was written over it goes.
func TestTerminalCtrlLRepaints(t *testing.T) {
	srv := startServer(t)
	tm := newTmux(t, 80, 24, openSSHCommand(t, srv.SSHAddr, "painter"))
	tm.waitFor("painter │ #lobby │ 1 members")
	tty := strings.TrimSpace(tm.run("display-message", "-p", "-t", tm.target, "#{pane_tty}"))
	f, err := os.OpenFile(tty, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\x1b[5;10HGARBAGE FROM ELSEWHERE\x1b[23;1HMORE GARBAGE\r\n\r\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tm.waitFor("GARBAGE FROM ELSEWHERE")
	tm.run("send-keys", "-t", tm.target, "C-l")
	tm.waitForFunc("a clean screen", func(screen string) bool {
		rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return !strings.Contains(screen, "GARBAGE") && len(rows) >= 23 && strings.HasPrefix(rows[22], " painter │ #lobby")
	})
}

// In tmux, which draws 👍🏽 as a thumb and a separate skin-tone swatch and
// 👨‍👩‍👧 as three faces, such emoji in messages (one ending exactly at
// the right edge as measured) and in the input leave the status line and
// the input on the last two rows, with nothing piled up above them.
func TestTerminalEmojiKeepTheScreenInTmux(t *testing.T) {
	srv := startServer(t)
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	tm := newTmux(t, 60, 10, openSSHCommand(t, srv.SSHAddr, "eve"))
	tm.waitFor("eve │ #lobby │ 2 members")
	// "12:34 <poster> " is 15 columns: 43 x and 👍🏽 end at column 60.
	poster.send(strings.Repeat("x", 43) + "👍🏽")
	poster.send("Ça va? … 😀👍🏽👨‍👩‍👧 مرحبا … 日本語 🇪🇸 e\u0301")
	poster.send("last line")
	tm.waitFor("<poster> last line")
	tm.run("send-keys", "-t", tm.target, "-l", "thanks 👍🏽 👨‍👩‍👧 🇪🇸")
	screen := tm.waitFor("> thanks")
	rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(rows) != 10 || !strings.HasPrefix(rows[8], " eve │ #lobby") || !strings.HasPrefix(rows[9], "> thanks") || !strings.Contains(rows[7], "<poster> last line") {
		t.Fatalf("the screen moved:\n%s", screen)
	}
	if strings.Count(screen, "> thanks") != 1 || strings.Count(screen, "eve │") != 1 {
		t.Fatalf("rows piled up:\n%s", screen)
	}
}

// The mouse is the terminal's until /mouse on; then the wheel scrolls the
// messages, and /mouse off gives the mouse back.
func TestTerminalMouseWheelAfterMouseOn(t *testing.T) {
	srv := startServer(t)
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	for i := 1; i <= 40; i++ {
		poster.send(fmt.Sprintf("line %02d", i))
	}
	poster.expect("<poster> line 40")
	out := filepath.Join(t.TempDir(), "output")
	tm := newTmux(t, 80, 24, openSSHCommand(t, srv.SSHAddr, "wheeler")+" | tee "+out+" /dev/fd/3 3>&1 >/dev/null")
	tm.waitFor("wheeler │ #lobby │ 2 members")
	if data, err := os.ReadFile(out); err != nil || strings.Contains(string(data), "\x1b[?1000h") {
		t.Fatalf("mouse reports asked for before /mouse on (%v)", err)
	}
	tm.run("send-keys", "-t", tm.target, "-l", "/mouse on")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("The mouse wheel scrolls the messages now")
	wheel := func(button int) {
		for range 3 {
			tm.run("send-keys", "-t", tm.target, "-l", fmt.Sprintf("\x1b[<%d;10;5M", button))
		}
	}
	wheel(64) // up
	tm.waitFor("more below")
	wheel(65) // down
	tm.waitForFunc("back at the bottom", func(screen string) bool { return !strings.Contains(screen, "more below") })
	tm.run("send-keys", "-t", tm.target, "-l", "/mouse off")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("The mouse is the terminal's again")
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if on, off := strings.Index(string(data), "\x1b[?1000h"), strings.LastIndex(string(data), "\x1b[?1000l"); on < 0 || off < on {
		t.Fatal("the terminal was not asked for mouse reports, then to stop")
	}
}

// Stored history from several days shows in the real OpenSSH client with
// a dated separator above the first line, between the lines of two days,
// and above today's.
func TestTerminalDaySeparatorsInHistory(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	day := func(back int) time.Time {
		d := now.AddDate(0, 0, -back)
		return time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, time.UTC)
	}
	justNow := now.Add(-time.Second)
	seedLobby(t, dir, []store.Message{
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "three days back", Time: day(3)},
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "two days back", Time: day(2)},
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "just now", Time: justNow},
	})
	srv := startServerIn(t, dir)

	tm := newOpenSSHInTmux(t, srv.SSHAddr, "reader", 100, 24)
	screen := tm.waitFor("just now", "reader │ #lobby")
	label := func(t time.Time) string { return "── " + t.Format("Mon 2 Jan 2006") + " ──" }
	marks := []string{label(day(3)), "three days back", label(day(2)), "two days back", label(justNow), "just now"}
	var order []string
	for _, row := range strings.Split(screen, "\n") {
		for _, mark := range marks {
			if strings.Contains(row, mark) {
				order = append(order, mark)
			}
		}
	}
	if got, want := strings.Join(order, " / "), strings.Join(marks, " / "); got != want {
		t.Fatalf("order on screen: %s\nwant: %s\n%s", got, want, screen)
	}
}
