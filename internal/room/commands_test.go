package room

import (
	"slices"
	"strings"
	"testing"
)

// answerTo types line as s and returns the first event it gets back. Input
// runs commands synchronously, so the answer is queued when it returns;
// what was queued before is dropped first.
func answerTo(t *testing.T, h *Hub, s *Session, line string) *Event {
	t.Helper()
	for len(s.Events()) > 0 {
		<-s.Events()
	}
	h.Input(s, "", line)
	select {
	case ev := <-s.Events():
		return ev
	default:
		t.Fatalf("%s: no answer to %q", s.Nick(), line)
		return nil
	}
}

func wantAnswer(t *testing.T, ev *Event, code, text string) {
	t.Helper()
	if ev.Kind != KindError || ev.Code != code || (text != "" && ev.Text != text) {
		t.Errorf("got %v %q %q, want error %s %q", ev.Kind, ev.Code, ev.Text, code, text)
	}
}

// sampleArgs are arguments of the shape cmd declares, optional ones
// included: an accepted value for a literal, "x" for a word, "x y" for the
// rest of the line.
func sampleArgs(cmd *command) []string {
	var args []string
	for _, p := range cmd.params {
		switch {
		case p.oneOf != nil:
			args = append(args, p.oneOf[0])
		case p.rest:
			args = append(args, "x y")
		default:
			args = append(args, "x")
		}
	}
	return args
}

func commandLine(cmd *command, args []string) string {
	return strings.TrimSpace("/" + cmd.name + " " + strings.Join(args, " "))
}

// helpLists reports whether /help, as s sees it, has a line for cmd, with
// its usage.
func helpLists(t *testing.T, h *Hub, s *Session, cmd *command) bool {
	t.Helper()
	ev := answerTo(t, h, s, "/help")
	if ev.Kind != KindNotice {
		t.Fatalf("/help answered %+v", ev)
	}
	want := strings.TrimSpace("/" + cmd.name + " " + cmd.usage())
	return slices.ContainsFunc(strings.Split(ev.Text, "\n"), func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), want+" ")
	})
}

// Every entry of the table gets the checks it declares before it runs:
// operators only, a room, too few or too many arguments, a value outside
// a literal's; and /help lists it with its usage, to operators only if it
// is theirs. A new command is checked here by declaring it.
func TestCommandTableShapesAreEnforced(t *testing.T) {
	h := newTestHub(t, WithAdmins(tableOpKey))
	op := connectTestOp(t, h, "boss")
	roomless := connectTestOp(t, h, "nomad")
	if ev := answerTo(t, h, roomless, "/part"); ev.Kind != KindPart {
		t.Fatalf("/part: %+v", ev)
	}
	guest := connect(t, h, "guest", ViaWeb)
	keyed, err := h.Connect(Identity{Nick: "keyed", Via: ViaSSH, Fingerprint: "SHA256:not-an-operator"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keyed.Leave)

	for _, cmd := range h.commands.list {
		t.Run(cmd.name, func(t *testing.T) {
			usage := "usage: " + commandLine(cmd, []string{cmd.usage()})
			args := sampleArgs(cmd)

			switch {
			case cmd.opOnly:
				wantAnswer(t, answerTo(t, h, guest, commandLine(cmd, args)), "not_operator", "/"+cmd.name+" is for operators only")
				if helpLists(t, h, guest, cmd) {
					t.Errorf("/help lists /%s to a non-operator", cmd.name)
				}
			case cmd.needsKey:
				wantAnswer(t, answerTo(t, h, guest, commandLine(cmd, args)), "needs_key", "")
				if helpLists(t, h, guest, cmd) {
					t.Errorf("/help lists /%s to a guest without a key", cmd.name)
				}
				if !helpLists(t, h, keyed, cmd) {
					t.Errorf("/help does not list /%s %s to a key's session", cmd.name, cmd.usage())
				}
			case !helpLists(t, h, guest, cmd):
				t.Errorf("/help does not list /%s %s to everyone", cmd.name, cmd.usage())
			}
			if !helpLists(t, h, op, cmd) {
				t.Errorf("/help does not list /%s %s to operators", cmd.name, cmd.usage())
			}

			if required := slices.IndexFunc(cmd.params, func(p param) bool { return p.optional }); required != 0 && len(cmd.params) > 0 {
				if required < 0 {
					required = len(cmd.params)
				}
				wantAnswer(t, answerTo(t, h, op, commandLine(cmd, args[:required-1])), "usage", usage)
			}
			if len(cmd.params) == 0 || !cmd.params[len(cmd.params)-1].rest {
				wantAnswer(t, answerTo(t, h, op, commandLine(cmd, append(slices.Clone(args), "extra"))), "usage", usage)
			}
			if !cmd.takesLines() {
				if ev := answerTo(t, h, op, commandLine(cmd, args)+"\nmore"); ev.Kind != KindError || ev.Code != "usage" {
					t.Errorf("/%s with a second line: %v %q %q, want a usage error", cmd.name, ev.Kind, ev.Code, ev.Text)
				}
			}
			for i, p := range cmd.params {
				if p.oneOf != nil {
					bad := slices.Clone(args)
					bad[i] = "bogus"
					wantAnswer(t, answerTo(t, h, op, commandLine(cmd, bad)), "usage", usage)
				}
			}

			switch cmd.room {
			case needsRoom:
				wantAnswer(t, answerTo(t, h, roomless, commandLine(cmd, args)), "no_room", "you are not in a room")
			case needsRoomUnlessNamed:
				wantAnswer(t, answerTo(t, h, roomless, "/"+cmd.name), "no_room", "you are not in a room")
			}
		})
	}
}

const tableOpKey = "SHA256:table-operator"

// connectTestOp connects a session of the operator key tableOpKey.
func connectTestOp(t *testing.T, h *Hub, nick string) *Session {
	t.Helper()
	s, err := h.Connect(Identity{Nick: nick, Via: ViaSSH, Fingerprint: tableOpKey, AltNick: true})
	if err != nil {
		t.Fatalf("connect %s: %v", nick, err)
	}
	t.Cleanup(s.Leave)
	return s
}

// A guest without a key is not shown the commands of keys, which would
// only answer needs_key.
func TestHelpHidesKeyCommandsFromGuests(t *testing.T) {
	h := newTestHub(t)
	guest := connect(t, h, "guest", ViaWeb)
	keyed, err := h.Connect(Identity{Nick: "keyed", Via: ViaSSH, Fingerprint: "SHA256:someone"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keyed.Leave)
	forGuest, forKey := answerTo(t, h, guest, "/help").Text, answerTo(t, h, keyed, "/help").Text
	for _, name := range []string{"/register", "/weblogin", "/sessions", "/logout-all"} {
		if strings.Contains(forGuest, "\n  "+name+" ") {
			t.Errorf("a guest's /help lists %s:\n%s", name, forGuest)
		}
		if !strings.Contains(forKey, "\n  "+name+" ") {
			t.Errorf("a key's /help does not list %s:\n%s", name, forKey)
		}
		wantAnswer(t, answerTo(t, h, guest, name), "needs_key", "")
	}
	if !strings.Contains(forGuest, "\n  /nick NEW ") {
		t.Errorf("a guest's /help lacks /nick:\n%s", forGuest)
	}
}

// Arguments are words separated by spaces, however many; the last argument
// of a command that takes the rest of the line keeps its inner spaces, and
// one that takes lines keeps its line breaks (the one before it separates).
func TestCommandArgumentsSplit(t *testing.T) {
	msg := &command{name: "msg", params: []param{oneWord("NICK"), restOfLine("TEXT")}}
	part := &command{name: "part", params: []param{optional(oneWord("#ROOM"))}}
	mode := &command{name: "mode", params: []param{oneWord("#ROOM"), literal("+t", "-t")}}
	say := &command{name: "msg", params: []param{oneWord("NICK"), restOfText("TEXT")}}
	for _, tc := range []struct {
		cmd   *command
		args  string
		words []string
		ok    bool
	}{
		{msg, "bob hello", []string{"bob", "hello"}, true},
		{msg, "bob   hello  there ", []string{"bob", "hello  there"}, true},
		{msg, "bob", nil, false},
		{msg, "", nil, false},
		{part, "", nil, true},
		{part, "#dev", []string{"#dev"}, true},
		{part, "#dev  #ops", nil, false},
		{mode, "#dev +t", []string{"#dev", "+t"}, true},
		{mode, "#dev  -t", []string{"#dev", "-t"}, true},
		{mode, "#dev +x", nil, false},
		{mode, "#dev +t now", nil, false},
		{mode, "#dev", nil, false},
		{say, "bob\nhello\n  there", []string{"bob", "hello\n  there"}, true},
		{say, "bob hello\nthere", []string{"bob", "hello\nthere"}, true},
		{say, "bob\n\nhello", []string{"bob", "hello"}, true},
	} {
		words, ok := tc.cmd.parseArgs(tc.args)
		if ok != tc.ok || (ok && !slices.Equal(words, tc.words)) {
			t.Errorf("/%s %q: %q %v, want %q %v", tc.cmd.name, tc.args, words, ok, tc.words, tc.ok)
		}
	}
}

// /help shows each command's arguments as the protocol documents them.
func TestHelpShowsDeclaredUsage(t *testing.T) {
	h := newTestHub(t, WithAdmins(tableOpKey))
	op := connectTestOp(t, h, "boss")
	ev := answerTo(t, h, op, "/help")
	for _, want := range []string{
		"/nick NEW", "/msg NICK TEXT", "/part [#ROOM]", "/kick NICK [REASON]",
		"/ban NICK|KEY|IP[/CIDR] [DURATION] [REASON]", "/mute NICK|IP [DURATION]",
		"/mode #ROOM +t|-t", "/rmroom #ROOM [REASON]", "/allowlist reload", "/quit [REASON]",
	} {
		if !strings.Contains(ev.Text, "\n  "+want+" ") {
			t.Errorf("/help lacks %q:\n%s", want, ev.Text)
		}
	}
}

// Setting the message of the day, or the topic of a +t room, is for
// operators; reading either is for everyone.
func TestOperatorOnlyWhenSetting(t *testing.T) {
	h := newTestHub(t, WithAdmins(tableOpKey))
	op := connectTestOp(t, h, "boss")
	guest := connect(t, h, "guest", ViaWeb)

	wantAnswer(t, answerTo(t, h, guest, "/motd hijacked"), "not_operator", "only operators can set the message of the day")
	if ev := answerTo(t, h, guest, "/motd"); ev.Kind != KindNotice || ev.Text != "There is no message of the day." {
		t.Errorf("/motd by a guest: %+v", ev)
	}
	if ev := answerTo(t, h, op, "/motd be nice"); ev.Kind != KindNotice || ev.Text != "Message of the day set." {
		t.Errorf("/motd TEXT by an operator: %+v", ev)
	}

	if ev := answerTo(t, h, guest, "/topic open to all"); ev.Kind != KindTopic {
		t.Errorf("/topic TEXT without +t: %+v", ev)
	}
	if ev := answerTo(t, h, op, "/mode #lobby +t"); ev.Kind != KindNotice {
		t.Fatalf("/mode +t: %+v", ev)
	}
	wantAnswer(t, answerTo(t, h, guest, "/topic mine"), "not_operator", "#lobby is +t: only operators set its topic")
	if ev := answerTo(t, h, guest, "/topic"); ev.Kind != KindNotice || ev.Text != "#lobby topic: open to all" {
		t.Errorf("/topic under +t by a guest: %+v", ev)
	}
	if ev := answerTo(t, h, op, "/topic ops only"); ev.Kind != KindTopic {
		t.Errorf("/topic TEXT under +t by an operator: %+v", ev)
	}
}

// /part and /names work without a room when they name one.
func TestRoomNamedInsteadOfCurrent(t *testing.T) {
	h := newTestHub(t)
	s := connect(t, h, "nomad", ViaWeb)
	if ev := answerTo(t, h, s, "/part #lobby"); ev.Kind != KindPart {
		t.Fatalf("/part #lobby: %+v", ev)
	}
	if ev := answerTo(t, h, s, "/names #lobby"); ev.Kind != KindMembers || ev.Room != "lobby" {
		t.Errorf("/names #lobby from no room: %+v", ev)
	}
	wantAnswer(t, answerTo(t, h, s, "/part #lobby"), "not_in_room", "you are not in #lobby")
	wantAnswer(t, answerTo(t, h, s, "/names #nosuch"), "no_such_room", "")
}

// A declaration whose arguments could not be told apart is refused when the
// table is built: a required argument after an optional one, or the rest of
// the line before another argument.
func TestAmbiguousDeclarationsRefused(t *testing.T) {
	for _, params := range [][]param{
		{optional(oneWord("A")), oneWord("B")},
		{restOfLine("A"), oneWord("B")},
	} {
		if (&command{name: "x", params: params}).checkDeclaration() == "" {
			t.Errorf("%q accepted", (&command{params: params}).usage())
		}
	}
}
