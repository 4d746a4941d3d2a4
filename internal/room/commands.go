package room

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// command is one entry of the command table, shared by every front-end. It
// declares its shape (arguments, room, who may use it), which runCommand
// checks before run is called: run only sees calls of that shape.
type command struct {
	name   string
	params []param
	help   string
	// long, if set, says more than help: what /help COMMAND adds.
	long string
	room roomNeed
	// opOnly: every use is for operators (and /help shows it only to them).
	opOnly bool
	// needsKey: the command acts on the caller's key (an SSH key, or the
	// key a browser signed in as), so a guest without one gets needs_key
	// and /help does not show it to them.
	needsKey bool
	// opWhen, if set, makes this use of the command operators-only when it
	// returns a text: the refusal others get (/motd TEXT, /topic under +t).
	// It is asked once the room and the arguments have been checked.
	opWhen func(c *call) (refused string)
	run    func(c *call) error
}

// param is one argument of a command.
type param struct {
	name     string   // as /help and usage errors show it: "NICK", "#ROOM"
	optional bool     // may be left out; only after the required ones
	rest     bool     // takes the rest of the line, spaces included; last only
	lines    bool     // rest, and the lines after it too (a message's text)
	oneOf    []string // the only values accepted, if set
}

// oneWord is an argument of one word.
func oneWord(name string) param { return param{name: name} }

// restOfLine is an argument that takes the rest of the line.
func restOfLine(name string) param { return param{name: name, rest: true} }

// restOfText is an argument that takes the rest of the line and the lines
// after it: the text of a multi-line message.
func restOfText(name string) param { return param{name: name, rest: true, lines: true} }

// literal is a one-word argument that must be one of values.
func literal(values ...string) param {
	return param{name: strings.Join(values, "|"), oneOf: values}
}

// optional is p, which may be left out.
func optional(p param) param { p.optional = true; return p }

// roomNeed says whether a command needs the room it was typed in.
type roomNeed uint8

const (
	noRoomNeeded roomNeed = iota
	needsRoom
	// needsRoomUnlessNamed: a room, unless the first argument names one.
	needsRoomUnlessNamed
)

// checkDeclaration reports what is wrong with the params, "" if nothing:
// optional ones come after the required ones, and only the last one may
// take the rest of the line.
func (cmd *command) checkDeclaration() string {
	for i, p := range cmd.params {
		if p.lines && !p.rest {
			return p.name + " takes lines but not the rest of the line"
		}
		if p.rest && i != len(cmd.params)-1 {
			return p.name + " takes the rest of the line but is not last"
		}
		if i > 0 && cmd.params[i-1].optional && !p.optional {
			return p.name + " is required after an optional argument"
		}
	}
	return ""
}

// usage is the command's arguments as /help and usage errors show them,
// e.g. "NICK [REASON]".
func (cmd *command) usage() string {
	names := make([]string, len(cmd.params))
	for i, p := range cmd.params {
		names[i] = p.name
		if p.optional {
			names[i] = "[" + p.name + "]"
		}
	}
	return strings.Join(names, " ")
}

func (cmd *command) usageError() *UserError {
	usage := "usage: /" + cmd.name
	if u := cmd.usage(); u != "" {
		usage += " " + u
	}
	return userErr("usage", usage)
}

// takesLines tells whether the command's last argument may hold line
// breaks; others take one line.
func (cmd *command) takesLines() bool {
	return len(cmd.params) > 0 && cmd.params[len(cmd.params)-1].lines
}

// parseArgs splits args (trimmed) as the params declare: one word each,
// separated by spaces (or line breaks, before an argument that takes
// lines), the last one possibly the rest of the line. ok is false if a
// required argument is missing, a value is not one accepted, or words are
// left over.
func (cmd *command) parseArgs(args string) (words []string, ok bool) {
	left := args
	for _, p := range cmd.params {
		left = strings.TrimLeft(left, " \n")
		if left == "" {
			if !p.optional {
				return nil, false
			}
			break
		}
		var w string
		if p.rest {
			w, left = strings.TrimRight(left, " "), ""
		} else if i := strings.IndexAny(left, " \n"); i >= 0 {
			w, left = left[:i], left[i:]
		} else {
			w, left = left, ""
		}
		if p.oneOf != nil && !slices.Contains(p.oneOf, w) {
			return nil, false
		}
		words = append(words, w)
	}
	return words, strings.TrimSpace(left) == ""
}

// call is one invocation of a command whose shape has been checked.
type call struct {
	hub     *Hub
	session *Session
	room    *Room    // the room the command was typed in; nil if none
	words   []string // the arguments, split as the command's params declare
}

// arg is the i-th argument, "" if it was left out.
func (c *call) arg(i int) string {
	if i < len(c.words) {
		return c.words[i]
	}
	return ""
}

type commandTable struct {
	byName map[string]*command
	list   []*command
}

func newCommandTable() *commandTable {
	t := &commandTable{byName: make(map[string]*command)}
	for _, family := range [][]*command{chatCommands(), roomCommands(), identityCommands(), tokenCommands(), moderationCommands(), settingsCommands()} {
		for _, c := range family {
			if err := c.checkDeclaration(); err != "" {
				panic("room: command /" + c.name + ": " + err)
			}
			if t.byName[c.name] != nil {
				panic("room: command /" + c.name + " declared twice")
			}
			t.byName[c.name] = c
			t.list = append(t.list, c)
		}
	}
	sort.Slice(t.list, func(i, j int) bool { return t.list[i].name < t.list[j].name })
	return t
}

// runCommand checks the command's declared shape, in this order: that it
// exists, that an operators-only command comes from an operator, that a
// command of keys comes from a key, that the room it needs is there, the
// arguments, then opWhen; only then it runs.
func (h *Hub) runCommand(s *Session, target *Room, name, args string) {
	cmd, ok := h.commands.byName[name]
	if !ok {
		h.fail(s, userErr("unknown_command", fmt.Sprintf("unknown command /%s (try /help)", name)))
		return
	}
	if cmd.opOnly && !s.IsOperator() {
		h.fail(s, userErr("not_operator", "/"+cmd.name+" is for operators only"))
		return
	}
	if cmd.needsKey && s.fingerprint == "" {
		h.fail(s, userErr("needs_key", "/"+cmd.name+" needs a key: connect over SSH with your key (or sign this browser in with a code from /weblogin)"))
		return
	}
	if s.botToken != "" && (cmd.needsKey || cmd.name == "unregister") {
		// A token speaks for its key's nick, not for the key.
		h.fail(s, userErr("needs_key", "/"+cmd.name+" acts on your key: use it from your own session, not a bot token's"))
		return
	}
	if target == nil && (cmd.room == needsRoom || cmd.room == needsRoomUnlessNamed && args == "") {
		h.fail(s, userErr("no_room", "you are not in a room"))
		return
	}
	if strings.Contains(args, "\n") && !cmd.takesLines() {
		h.fail(s, userErr("usage", "/"+cmd.name+" takes a single line"))
		return
	}
	words, ok := cmd.parseArgs(args)
	if !ok {
		h.fail(s, cmd.usageError())
		return
	}
	c := &call{hub: h, session: s, room: target, words: words}
	if cmd.opWhen != nil && !s.IsOperator() {
		if refusal := cmd.opWhen(c); refusal != "" {
			h.fail(s, userErr("not_operator", refusal))
			return
		}
	}
	if err := cmd.run(c); err != nil {
		h.fail(s, err)
	}
}

// help is /help: the commands this session may use, from the table.
func (h *Hub) help(s *Session) {
	var b strings.Builder
	b.WriteString("Commands:")
	op, keyed := s.IsOperator(), s.fingerprint != ""
	for _, cmd := range h.commands.list {
		if cmd.opOnly && !op || cmd.needsKey && !keyed {
			continue
		}
		usage := "/" + cmd.name
		if u := cmd.usage(); u != "" {
			usage += " " + u
		}
		fmt.Fprintf(&b, "\n  %-24s %s", usage, cmd.help)
	}
	b.WriteString("\nText starting with // is sent as a message beginning with /. /help COMMAND explains one command.")
	if keys := s.keyHelp(); keys != "" {
		b.WriteString("\nKeys:\n" + keys)
	}
	h.notice(s, b.String())
}

// helpOn is /help COMMAND: the command's usage, what it does and who may
// use it.
func (h *Hub) helpOn(s *Session, name string) error {
	name = strings.ToLower(strings.TrimPrefix(name, "/"))
	cmd, ok := h.commands.byName[name]
	if !ok {
		return userErr("unknown_command", fmt.Sprintf("unknown command /%s (try /help)", name))
	}
	usage := "/" + cmd.name
	if u := cmd.usage(); u != "" {
		usage += " " + u
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", usage, cmd.help)
	if cmd.long != "" {
		b.WriteString("\n" + cmd.long)
	}
	switch {
	case cmd.opOnly:
		b.WriteString("\nFor operators only.")
	case cmd.needsKey:
		b.WriteString("\nNeeds a key: connect over SSH with your key, or sign a browser in with a code from /weblogin.")
	}
	h.notice(s, b.String())
	return nil
}

// CommandNames lists the commands s may use, sorted, as /help shows them
// (for completion).
func (h *Hub) CommandNames(s *Session) []string {
	op, keyed := s.IsOperator(), s.fingerprint != ""
	var names []string
	for _, cmd := range h.commands.list {
		if cmd.opOnly && !op || cmd.needsKey && !keyed {
			continue
		}
		names = append(names, cmd.name)
	}
	return names
}
