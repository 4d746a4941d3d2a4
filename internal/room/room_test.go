package room

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestHub(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	// Tests send as fast as they can; rate limits are tested on their own.
	base := []Option{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithRate(1e6, 1e6)}
	return NewHub(append(base, opts...)...)
}

// errorCode is the code of a *UserError, "" for any other error.
func errorCode(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Code
	}
	return ""
}

func connect(t testing.TB, h *Hub, nick string, via Via) *Session {
	t.Helper()
	s, err := h.Connect(Identity{Nick: nick, Via: via, AltNick: via == ViaSSH})
	if err != nil {
		t.Fatalf("connect %s: %v", nick, err)
	}
	t.Cleanup(s.Leave)
	return s
}

// next returns the session's next event, failing after a bounded wait.
func next(t testing.TB, s *Session) *Event {
	t.Helper()
	select {
	case ev := <-s.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no event", s.Nick())
		return nil
	}
}

func nextKind(t testing.TB, s *Session, k Kind) *Event {
	t.Helper()
	for {
		if ev := next(t, s); ev.Kind == k {
			return ev
		}
	}
}

func TestConnectOrderWelcomeJoinMembers(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaWeb)
	if ev := next(t, a); ev.Kind != KindWelcome || ev.From != "alice" || fmt.Sprint(ev.Rooms) != "[lobby]" {
		t.Fatalf("first event = %+v", ev)
	}
	if ev := next(t, a); ev.Kind != KindJoin || ev.From != "alice" || ev.Room != "lobby" || ev.Count != 1 {
		t.Fatalf("second event = %+v", ev)
	}
	if ev := next(t, a); ev.Kind != KindMembers || len(ev.Members) != 1 {
		t.Fatalf("third event = %+v", ev)
	}
	if ev := next(t, a); ev.Kind != KindHistory || ev.Room != "lobby" {
		t.Fatalf("fourth event = %+v", ev)
	}
}

func TestNickUniqueAcrossFrontEnds(t *testing.T) {
	h := newTestHub(t)
	connect(t, h, "Alice", ViaSSH)
	if _, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb}); !errors.Is(err, ErrNickTaken) || errorCode(err) != "nick_taken" {
		t.Fatalf("web clash: err = %v", err)
	}
	s := connect(t, h, "ALICE", ViaSSH)
	if s.Nick() != "ALICE_2" {
		t.Fatalf("alternative = %q", s.Nick())
	}
	long := connect(t, h, "abcdefghijklmnopqrstuvwx", ViaSSH)
	clash := connect(t, h, "abcdefghijklmnopqrstuvwx", ViaSSH)
	if clash.Nick() != "abcdefghijklmnopqrstuv_2" || long.Nick() == clash.Nick() {
		t.Fatalf("long alternative = %q", clash.Nick())
	}
}

func TestLeaveFreesNick(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaWeb)
	b := connect(t, h, "bob", ViaWeb)
	a.Close(ReasonQuit)
	ev := nextKind(t, b, KindPart)
	if ev.From != "alice" || ev.Text != ReasonQuit.Text || ev.Count != 1 {
		t.Fatalf("part = %+v", ev)
	}
	connect(t, h, "alice", ViaWeb)
}

func TestCommands(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaSSH)
	b := connect(t, h, "bob", ViaWeb)
	nextKind(t, a, KindHistory)
	nextKind(t, a, KindJoin) // bob
	nextKind(t, b, KindHistory)

	h.Input(a, "", "/nope")
	if ev := next(t, a); ev.Kind != KindError || ev.Code != "unknown_command" {
		t.Fatalf("unknown command: %+v", ev)
	}
	h.Input(a, "", "/me waves")
	for _, s := range []*Session{a, b} {
		if ev := next(t, s); ev.Kind != KindMessage || !ev.Action || ev.Text != "waves" {
			t.Fatalf("/me: %+v", ev)
		}
	}
	h.Input(b, "lobby", "/who")
	if ev := next(t, b); ev.Kind != KindMembers || fmt.Sprint(ev.Members) != "[{alice ssh  false false} {bob web  false false}]" {
		t.Fatalf("/who: %+v", ev)
	}
	h.Input(a, "", "/nick carol")
	for _, s := range []*Session{a, b} {
		if ev := next(t, s); ev.Kind != KindNick || ev.From != "alice" || ev.To != "carol" {
			t.Fatalf("/nick: %+v", ev)
		}
	}
	h.Input(b, "", "/nick CAROL")
	if ev := next(t, b); ev.Kind != KindError || ev.Code != "nick_taken" {
		t.Fatalf("/nick clash: %+v", ev)
	}
	h.Input(a, "", "//slash")
	if ev := next(t, b); ev.Kind != KindMessage || ev.Text != "/slash" {
		t.Fatalf("//: %+v", ev)
	}
	h.Input(b, "elsewhere", "hi")
	if ev := next(t, b); ev.Kind != KindError || ev.Code != "not_in_room" {
		t.Fatalf("foreign room: %+v", ev)
	}
}

func TestMessageTooLongIsRefused(t *testing.T) {
	h := newTestHub(t, WithMaxMessage(10))
	a := connect(t, h, "alice", ViaWeb)
	nextKind(t, a, KindHistory)
	h.Input(a, "", "12345678901")
	if ev := next(t, a); ev.Kind != KindError || ev.Code != "too_long" {
		t.Fatalf("got %+v", ev)
	}
	h.Input(a, "", "1234567890")
	if ev := next(t, a); ev.Kind != KindMessage {
		t.Fatalf("got %+v", ev)
	}
}

// A session that reads nothing is dropped when its queue is full; the sender
// never waits for it.
func TestSlowSessionDroppedWithoutBlocking(t *testing.T) {
	// A second passes per message: slow, which reads nothing, lags without
	// progress for longer than the slow timeout and is dropped.
	clock := newTestClock()
	h := newTestHub(t, WithQueueSize(8), WithClock(clock.Now))
	slow := connect(t, h, "slow", ViaWeb)
	fast := connect(t, h, "fast", ViaWeb)
	nextKind(t, fast, KindHistory)
	// Input returns at once although slow reads nothing: it never waits.
	for i := 0; i < 100; i++ {
		clock.Advance(time.Second)
		h.Input(fast, "", fmt.Sprint(i))
		ev := next(t, fast)
		for ev.Kind != KindMessage {
			if ev.Kind == KindPart && ev.From == "slow" && ev.Text != ReasonSlowClient.Text {
				t.Fatalf("slow left for %q", ev.Text)
			}
			ev = next(t, fast)
		}
		if ev.Text != fmt.Sprint(i) {
			t.Fatalf("got %q, want %d", ev.Text, i)
		}
	}
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow session was not closed")
	}
	if slow.CloseReason() != ReasonSlowClient {
		t.Fatalf("reason = %q", slow.CloseReason())
	}
}

func TestConcurrentSendersSameOrderForAll(t *testing.T) {
	h := newTestHub(t, WithQueueSize(4096))
	var sessions []*Session
	for i := 0; i < 6; i++ {
		s := connect(t, h, fmt.Sprintf("u%d", i), ViaWeb)
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		for {
			if ev := next(t, s); ev.Kind == KindJoin && ev.From == "u5" {
				break
			}
		}
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			for n := 0; n < 200; n++ {
				h.Input(s, "", fmt.Sprint(n))
			}
		})
	}
	wg.Wait()
	var first []uint64
	for i, s := range sessions {
		var ids []uint64
		for len(ids) < 1200 {
			ev := nextKind(t, s, KindMessage)
			ids = append(ids, ev.ID)
		}
		if i == 0 {
			first = ids
			continue
		}
		for j := range ids {
			if ids[j] != first[j] {
				t.Fatalf("session %d saw id %d at %d, session 0 saw %d", i, ids[j], j, first[j])
			}
		}
	}
}

func TestShutdownTellsEveryone(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaWeb)
	nextKind(t, a, KindHistory)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, a); ev.Kind != KindNotice {
		t.Fatalf("got %+v", ev)
	}
	if a.CloseReason() != ReasonStopping {
		t.Fatalf("reason %q", a.CloseReason())
	}
	if _, err := h.Connect(Identity{Nick: "late", Via: ViaWeb}); !errors.Is(err, ErrStopping) || errorCode(err) != "stopping" {
		t.Fatalf("connect after shutdown: %v", err)
	}
}

func TestRenderOncePerFormat(t *testing.T) {
	ev := &Event{Kind: KindMessage, Text: "x"}
	calls := 0
	render := func(*Event) []byte { calls++; return []byte("r") }
	for i := 0; i < 5; i++ {
		ev.Render(FormatJSON, render)
	}
	if calls != 1 {
		t.Fatalf("rendered %d times", calls)
	}
}

// Other people's comings and goings yield when a session's queue is nearly
// full: a session that reads too slowly to follow a connection storm is not
// dropped, loses no message, and gets the room's member list again once it
// has caught up.
func TestPresenceYieldsToAFullQueue(t *testing.T) {
	h := newTestHub(t, WithQueueSize(16))
	reader := connect(t, h, "reader", ViaWeb)
	nextKind(t, reader, KindHistory)
	talker := connect(t, h, "talker", ViaWeb)
	for ev := next(t, reader); ev.Kind != KindJoin || ev.From != "talker"; ev = next(t, reader) {
	}
	for i := range 40 {
		connect(t, h, fmt.Sprintf("ghost%d", i), ViaWeb).Leave()
	}
	select {
	case <-reader.Done():
		t.Fatalf("reader dropped (%s) for not following 80 presence events", reader.CloseReason())
	default:
	}
	h.Input(talker, "", "hello")

	var presence, messages int
	for {
		ev := next(t, reader)
		reader.Ack([]*Event{ev})
		switch ev.Kind {
		case KindJoin, KindPart:
			presence++
		case KindMessage:
			messages++
		case KindMembers:
			var nicks []string
			for _, m := range ev.Members {
				nicks = append(nicks, m.Nick)
			}
			if got := strings.Join(nicks, ","); got != "reader,talker" {
				t.Fatalf("member list after catching up: %s, want reader,talker", got)
			}
			if messages != 1 {
				t.Fatalf("the message arrived %d times before the member list, want once", messages)
			}
			if presence >= 80 {
				t.Fatalf("all %d presence events were queued; none yielded", presence)
			}
			return
		}
	}
}

// /quit REASON is shown to the others in the part notice (cleaned, and not
// for a muted user); the quitter's own close reason stays "quit".
func TestQuitReasonShownToOthers(t *testing.T) {
	h := newTestHub(t, WithAdmins("SHA256:op"))
	watcher := connect(t, h, "watcher", ViaWeb)
	op, err := h.Connect(Identity{Nick: "boss", Via: ViaSSH, Fingerprint: "SHA256:op"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Leave)
	for _, tc := range []struct{ nick, line, want string }{
		{"carol", "/quit see you \x1b[31mtomorrow", "quit: see you tomorrow"},
		{"dave", "/quit", "quit"},
		{"noisy", "/quit buy cheap pills", "quit"}, // muted below
	} {
		s := connect(t, h, tc.nick, ViaSSH)
		if tc.nick == "noisy" {
			h.Input(op, "", "/mute noisy")
			nextKind(t, op, KindNotice)
		}
		h.Input(s, "", tc.line)
		<-s.Done()
		if got := s.CloseReason(); got != ReasonQuit {
			t.Errorf("%s: own close reason %q, want %q", tc.nick, got, ReasonQuit)
		}
		for {
			ev := nextKind(t, watcher, KindPart)
			if ev.From == tc.nick {
				if ev.Text != tc.want {
					t.Errorf("%s: others saw part reason %q, want %q", tc.nick, ev.Text, tc.want)
				}
				break
			}
		}
	}
}

// A say whose text has line breaks is one message, stored and delivered
// with its '\n's; more lines than --max-lines is refused whole with
// too_many_lines, and the length limit counts the whole text.
func TestMultiLineMessage(t *testing.T) {
	h := newTestHub(t, WithMaxLines(3), WithMaxMessage(20))
	a := connect(t, h, "alice", ViaWeb)
	b := connect(t, h, "bob", ViaWeb)
	for len(b.Events()) > 0 {
		<-b.Events()
	}
	h.Input(a, "", "one\r\ntwo\n  three")
	ev := nextKind(t, b, KindMessage)
	if ev.Text != "one\ntwo\n  three" || ev.From != "alice" {
		t.Fatalf("bob got %+v", ev)
	}
	if ev := answerTo(t, h, a, "1\n2\n3\n4"); ev.Kind != KindError || ev.Code != "too_many_lines" {
		t.Errorf("four lines: %+v", ev)
	}
	if ev := answerTo(t, h, a, "0123456789\n0123456789"); ev.Kind != KindError || ev.Code != "too_long" {
		t.Errorf("21 characters over two lines: %+v", ev)
	}
	if ev := answerTo(t, h, a, "/me waves\nand smiles"); ev.Kind != KindMessage || !ev.Action || ev.Text != "waves\nand smiles" {
		t.Errorf("multi-line /me: %+v", ev)
	}
	if ev := answerTo(t, h, a, "/msg bob\nhi\nthere"); ev.Kind != KindPrivate || ev.To != "bob" || ev.Text != "hi\nthere" {
		t.Errorf("multi-line /msg: %+v", ev)
	}
	if ev := answerTo(t, h, a, "/nick carol\ndave"); ev.Kind != KindError || ev.Code != "usage" {
		t.Errorf("/nick over two lines: %+v", ev)
	}
	if ev := answerTo(t, h, a, "/topic a\nb"); ev.Kind != KindError || ev.Code != "usage" {
		t.Errorf("/topic over two lines: %+v", ev)
	}
	if ev := answerTo(t, h, a, "//x\ny"); ev.Kind != KindMessage || ev.Text != "/x\ny" {
		t.Errorf("//x over two lines: %+v", ev)
	}
	msgs, err := h.store.History(context.Background(), "lobby", 0, 10)
	if err != nil || len(msgs) == 0 || msgs[0].Text != "one\ntwo\n  three" {
		t.Errorf("stored: %+v %v", msgs, err)
	}

	// --max-lines 1: a text with line breaks is refused; 0: no line cap.
	one := newTestHub(t, WithMaxLines(1))
	c := connect(t, one, "carol", ViaWeb)
	if ev := answerTo(t, one, c, "a\nb"); ev.Kind != KindError || ev.Code != "too_many_lines" {
		t.Errorf("--max-lines 1: %+v", ev)
	}
	free := newTestHub(t, WithMaxLines(0))
	d := connect(t, free, "dave", ViaWeb)
	if ev := answerTo(t, free, d, strings.Repeat("x\n", 100)); ev.Kind != KindMessage || strings.Count(ev.Text, "\n") != 99 {
		t.Errorf("--max-lines 0: %+v", ev)
	}
}
