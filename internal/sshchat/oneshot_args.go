package sshchat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Bounds on a one-shot command line (the text of an SSH exec request).
const (
	// MaxOneShotCommand bounds the command line, in bytes: room for a
	// message of the default size limit in any script.
	MaxOneShotCommand = 16 << 10
	// MaxOneShotArgs bounds the words a command line is split into before
	// its text (say and msg keep their text whole, as one argument).
	MaxOneShotArgs = 64
	// MaxOneShotRooms bounds the rooms one tail follows.
	MaxOneShotRooms = 16
	// DefaultOneShotCount is how many messages tail prints without -n.
	DefaultOneShotCount = 10
	// MaxOneShotCount bounds -n (the core's history page).
	MaxOneShotCount = 200
)

// OneShotArgs is a parsed one-shot command line.
type OneShotArgs struct {
	Command string   // say, tail, history, who, rooms, whois, msg, help
	Rooms   []string // room names as given ("#dev"): say, history and who one, tail one or more
	Nick    string   // whois, msg
	// Text is what say or msg sends; HasText tells whether the command line
	// gave any (say without text reads standard input).
	Text    string
	HasText bool
	Lines   bool   // say --lines: one message per line of standard input
	Follow  bool   // tail -f
	Count   int    // -n; DefaultOneShotCount if not given
	Before  uint64 // history --before
	After   uint64 // history --after
	JSON    bool   // --json
}

// errUsage wraps the parser's errors: the command line itself is wrong.
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// oneShotUsage is what "help" prints: the command set, one per line.
const oneShotUsage = `say [--lines] #ROOM [TEXT...]    post TEXT, or standard input as one message (--lines: one per line)
tail [-f] [-n N] [--json] #ROOM...  print the last N messages (default 10); -f: then follow
history #ROOM [--before ID] [--after ID] [-n N] [--json]
who #ROOM [--json]               list the room's members
rooms [--json]                   list the rooms
whois NICK [--json]              describe a connected user
msg NICK TEXT...                 send a private message
help                             this list
`

// ParseOneShotArgs parses the command line of an SSH exec request. Words
// are split on white space, with no quoting: OpenSSH joins the client's
// arguments with spaces and the server runs no shell. The TEXT of say and
// msg is the rest of the line after the room or nick, kept verbatim.
// Options come before the text; elsewhere in any order.
func ParseOneShotArgs(line string) (OneShotArgs, error) {
	a := OneShotArgs{Count: DefaultOneShotCount}
	if len(line) > MaxOneShotCommand {
		return a, usagef("command longer than %d bytes", MaxOneShotCommand)
	}
	rest := line
	next := func() (string, bool) {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			return "", false
		}
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		w := rest[:end]
		rest = rest[end:]
		return w, true
	}
	cmd, ok := next()
	if !ok {
		return a, usagef("no command")
	}
	a.Command = cmd
	words := 1
	// word reads the next word, counting it against MaxOneShotArgs.
	word := func() (string, bool, error) {
		w, ok := next()
		if !ok {
			return "", false, nil
		}
		if words++; words > MaxOneShotArgs {
			return "", false, usagef("more than %d arguments", MaxOneShotArgs)
		}
		return w, true, nil
	}
	number := func(opt string) (uint64, error) {
		w, ok, err := word()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, usagef("%s needs a number", opt)
		}
		n, perr := strconv.ParseUint(w, 10, 64)
		if perr != nil {
			return 0, usagef("%s needs a number, not %q", opt, truncateArg(w))
		}
		return n, nil
	}
	count := func() error {
		n, err := number("-n")
		if err != nil {
			return err
		}
		if n < 1 || n > MaxOneShotCount {
			return usagef("-n takes 1 to %d", MaxOneShotCount)
		}
		a.Count = int(n)
		return nil
	}
	switch cmd {
	case "say", "msg":
		for {
			w, ok, err := word()
			if err != nil {
				return a, err
			}
			if !ok {
				break
			}
			if cmd == "say" && w == "--lines" {
				a.Lines = true
				continue
			}
			if strings.HasPrefix(w, "-") {
				return a, usagef("%s: unknown option %q", cmd, truncateArg(w))
			}
			if cmd == "say" {
				if !strings.HasPrefix(w, "#") {
					return a, usagef("say: %q is not a room (write #ROOM)", truncateArg(w))
				}
				a.Rooms = []string{w}
			} else {
				a.Nick = w
			}
			break
		}
		if len(a.Rooms) == 0 && a.Nick == "" {
			if cmd == "say" {
				return a, usagef("say [--lines] #ROOM [TEXT...]")
			}
			return a, usagef("msg NICK TEXT...")
		}
		a.Text = strings.TrimSpace(rest)
		a.HasText = a.Text != ""
		if a.HasText && a.Lines {
			return a, usagef("say --lines reads standard input: give no TEXT")
		}
		if cmd == "msg" && !a.HasText {
			return a, usagef("msg NICK TEXT...")
		}
		return a, nil
	case "tail", "history", "who", "rooms", "whois", "help":
	default:
		return a, usagef("unknown command %q (try help)", truncateArg(cmd))
	}
	var positional []string
	for {
		w, ok, err := word()
		if err != nil {
			return a, err
		}
		if !ok {
			break
		}
		switch {
		case w == "--json" && cmd != "help":
			a.JSON = true
		case w == "-f" && cmd == "tail":
			a.Follow = true
		case w == "-n" && (cmd == "tail" || cmd == "history"):
			if err := count(); err != nil {
				return a, err
			}
		case w == "--before" && cmd == "history":
			if a.Before, err = number(w); err != nil {
				return a, err
			}
		case w == "--after" && cmd == "history":
			if a.After, err = number(w); err != nil {
				return a, err
			}
		case strings.HasPrefix(w, "-"):
			return a, usagef("%s: unknown option %q", cmd, truncateArg(w))
		default:
			positional = append(positional, w)
		}
	}
	if a.Before != 0 && a.After != 0 {
		return a, usagef("history: --before or --after, not both")
	}
	switch cmd {
	case "tail":
		if len(positional) == 0 {
			return a, usagef("tail [-f] [-n N] [--json] #ROOM...")
		}
		if len(positional) > MaxOneShotRooms {
			return a, usagef("tail follows at most %d rooms", MaxOneShotRooms)
		}
		for _, r := range positional {
			if !strings.HasPrefix(r, "#") {
				return a, usagef("tail: %q is not a room (write #ROOM)", truncateArg(r))
			}
		}
		a.Rooms = positional
	case "history", "who":
		if len(positional) != 1 || !strings.HasPrefix(positional[0], "#") {
			if cmd == "who" {
				return a, usagef("who #ROOM [--json]")
			}
			return a, usagef("history #ROOM [--before ID] [--after ID] [-n N] [--json]")
		}
		a.Rooms = positional
	case "whois":
		if len(positional) != 1 {
			return a, usagef("whois NICK [--json]")
		}
		a.Nick = positional[0]
	case "rooms", "help":
		if len(positional) != 0 {
			return a, usagef("%s takes no arguments", cmd)
		}
	}
	return a, nil
}

// truncateArg shortens a word quoted back in an error, which is one line.
func truncateArg(w string) string {
	const max = 40
	if len(w) <= max {
		return w
	}
	cut := max
	for cut > 0 && !utf8RuneStart(w[cut]) {
		cut--
	}
	return w[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
