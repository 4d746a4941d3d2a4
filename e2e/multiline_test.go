package e2e

import (
	"strings"
	"testing"
)

// A message of several lines sent from the web is one message everywhere:
// one frame with its line breaks for the web, its first line then
// continuation lines for a line-mode bot, and its lines indented under the
// first in a real terminal (OpenSSH in tmux). A bracketed paste of several
// lines in that terminal is one message too. Line-mode input stays one
// message per line, a lone CR ending a line as before.
func TestMultiLineMessageAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	bot := newLineClient(t, srv.SSHAddr, "bot")
	bot.expect("-!- welcome bot")
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "carol", 100, 24)
	tm.waitFor("carol │ #lobby │ 2 members")
	web := joinWS(t, srv.HTTPAddr, "alice")
	bot.expect("#lobby --> alice joined (web)")

	web.say("here is the plan:\r\n  1. build\n\n#lobby <mallory> forged?")
	web.expect("one message of four lines", isMessage("alice", "here is the plan:\n  1. build\n\n#lobby <mallory> forged?"))

	first := bot.expect("<alice> here is the plan:")
	got := []string{first}
	for range 3 {
		got = append(got, bot.expectFunc("a continuation line", func(string) bool { return true }))
	}
	want := []string{"#lobby <alice> here is the plan:", "#lobby |   1. build", "#lobby |", "#lobby | #lobby <mallory> forged?"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("line mode got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	screen := tm.waitFor("<alice> here is the plan:", "#lobby <mallory> forged?")
	rows := strings.Split(screen, "\n")
	for i, r := range rows {
		col := strings.Index(r, "here is the plan:")
		if col < 0 {
			continue
		}
		indent := strings.Repeat(" ", col)
		if i+3 >= len(rows) || rows[i+1] != indent+"  1. build" || strings.TrimSpace(rows[i+2]) != "" || rows[i+3] != indent+"#lobby <mallory> forged?" {
			t.Fatalf("the terminal does not show the lines indented under the first:\n%s", screen)
		}
	}

	// A bracketed paste of five lines in the terminal, then Enter: one
	// message at the web and at line mode.
	tm.run("set-buffer", "-b", "plan", "step one\nstep two\nstep three\nstep four\nstep five\n")
	tm.run("paste-buffer", "-p", "-d", "-b", "plan", "-t", tm.target)
	tm.waitFor("step one↵step two↵step three↵step four↵step five")
	tm.run("send-keys", "-t", tm.target, "Enter")
	web.expect("the paste as one message", isMessage("carol", "step one\nstep two\nstep three\nstep four\nstep five"))
	bot.expect("#lobby <carol> step one")
	for _, want := range []string{"two", "three", "four", "five"} {
		if l := bot.expectFunc("the paste's next line", func(string) bool { return true }); l != "#lobby | step "+want {
			t.Fatalf("line %q of the paste: %q", want, l)
		}
	}

	// Line mode input: one message per line, a lone CR included.
	bot.send("one\rtwo")
	web.expect("bot's first line", isMessage("bot", "one"))
	web.expect("bot's second line", isMessage("bot", "two"))
}
