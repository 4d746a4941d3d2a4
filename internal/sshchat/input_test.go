package sshchat

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	uv "github.com/charmbracelet/ultraviolet"
)

// keyTable is the table of escape sequences Bubble Tea's input reader builds
// for a session (unexported: read through reflection, for this test only).
func keyTable(t *testing.T) map[string]uv.Key {
	t.Helper()
	tr := uv.NewTerminalReader(strings.NewReader(""), "xterm-256color")
	tv := reflect.ValueOf(tr).Elem().FieldByName("table")
	if !tv.IsValid() || tv.Len() < 100 {
		t.Fatal("no key table in uv.TerminalReader: has ultraviolet changed?")
	}
	table := map[string]uv.Key{}
	for it := tv.MapRange(); it.Next(); {
		v := it.Value()
		table[it.Key().String()] = uv.Key{
			Text:        v.FieldByName("Text").String(),
			Mod:         uv.KeyMod(v.FieldByName("Mod").Int()),
			Code:        rune(v.FieldByName("Code").Int()),
			ShiftedCode: rune(v.FieldByName("ShiftedCode").Int()),
			BaseCode:    rune(v.FieldByName("BaseCode").Int()),
			IsRepeat:    v.FieldByName("IsRepeat").Bool(),
		}
	}
	return table
}

// keysOf is what keyReader makes of input arriving in the given chunks.
func keysOf(chunks ...string) []uv.Event {
	var events []uv.Event
	k := &keyReader{send: func(ev uv.Event) { events = append(events, ev) }}
	for _, c := range chunks {
		k.feed([]byte(c))
	}
	k.mu.Lock()
	k.gen++
	if k.timer != nil {
		k.timer.Stop()
	}
	k.scan(true)
	k.mu.Unlock()
	return events
}

// chunkReader returns one chunk per Read.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// uvKeysOf is what Bubble Tea's own reader makes of the same, for keys and
// pastes.
func uvKeysOf(t *testing.T, chunks ...string) []uv.Event {
	t.Helper()
	tr := uv.NewTerminalReader(&chunkReader{append([]string(nil), chunks...)}, "xterm-256color")
	ch := make(chan uv.Event, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := tr.StreamEvents(ctx, ch); err != nil {
		t.Fatal(err)
	}
	close(ch)
	var events []uv.Event
	for ev := range ch {
		switch ev.(type) {
		case uv.KeyPressEvent, uv.PasteEvent:
			events = append(events, ev)
		}
	}
	return events
}

// Every sequence of Bubble Tea's key table, sent on its own as a key press
// arrives, gives the key Bubble Tea's reader gives.
func TestKeyReaderMatchesBubbleTeaTable(t *testing.T) {
	table := keyTable(t)
	var seqs []string
	for seq := range table {
		seqs = append(seqs, seq)
	}
	sort.Strings(seqs)
	bad := 0
	for _, seq := range seqs {
		got := keysOf(seq)
		if len(seq) > 2 && seq[0] == '\x1b' {
			// Bubble Tea looks these up before decoding.
			if want := uv.KeyPressEvent(table[seq]); len(got) != 1 || got[0] != want {
				bad++
				t.Errorf("%q: got %#v, want %#v", seq, got, want)
			}
			continue
		}
		// The others only when its decoder does not know them.
		if want := uvKeysOf(t, seq); !reflect.DeepEqual(got, want) {
			bad++
			t.Errorf("%q: got %#v, want %#v", seq, got, want)
		}
	}
	t.Logf("%d sequences, %d differ", len(seqs), bad)
}

// Typing, keys, pastes and escapes give what Bubble Tea's reader gives when
// they arrive in one read, and the same when they arrive a byte at a time
// (where Bubble Tea's reader loses some).
func TestKeyReaderMatchesBubbleTeaReader(t *testing.T) {
	for _, input := range []string{
		"hello, world\r",
		"\x1b[5~\x1b[5~\x1b[6~",
		"\x0e\x10\x03\x04",
		"\x1b[1;2A\x1b[1;2B",
		"ab\x7f\x1b\x7f\x17c",
		"\x1b[200~pasted\r\ntext with \x1b[A inside\x1b[201~after",
		"é中文👍\r",
		"\x1bb\x1bf",
		"\x1b[D\x1b[C\x1b[H\x1b[F\x1b[3~",
	} {
		// Whole, then one byte at a time (a sequence split across reads
		// waits for its end).
		bytewise := make([]string, len(input))
		for i := range len(input) {
			bytewise[i] = input[i : i+1]
		}
		want := uvKeysOf(t, input)
		for _, chunks := range [][]string{{input}, bytewise} {
			got := keysOf(chunks...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q in %d reads:\n got  %#v\n want %#v", input, len(chunks), got, want)
			}
		}
	}
}

// A lone ESC is the Escape key once escTimeout has passed without more.
func TestKeyReaderEscapeTimeout(t *testing.T) {
	events := make(chan uv.Event, 4)
	k := &keyReader{send: func(ev uv.Event) { events <- ev }}
	k.feed([]byte{'\x1b'})
	select {
	case ev := <-events:
		if ev != uv.KeyPressEvent(uv.Key{Code: uv.KeyEscape}) {
			t.Fatalf("got %#v", ev)
		}
	case <-time.After(10 * escTimeout):
		t.Fatal("no Escape key after the timeout")
	}
	var b bytes.Buffer
	b.WriteString("x")
	readKeys(&b, func(ev uv.Event) { events <- ev })
	if ev := <-events; ev != uv.KeyPressEvent(uv.Key{Code: 'x', Text: "x"}) {
		t.Fatalf("got %#v", ev)
	}
}

// A client cannot make a session hold more than maxPaste of a paste, nor
// more than maxPending of an escape sequence that never ends.
func TestKeyReaderBounds(t *testing.T) {
	var events []uv.Event // appended to with k.mu held
	k := &keyReader{send: func(ev uv.Event) { events = append(events, ev) }}
	k.feed([]byte("\x1b[200~"))
	chunk := bytes.Repeat([]byte("a"), 1000)
	for range 200 {
		k.feed(chunk)
	}
	k.feed([]byte("\x1b[201~"))
	if len(events) != 1 {
		t.Fatalf("%d events for one paste", len(events))
	}
	if p, ok := events[0].(uv.PasteEvent); !ok || len(p.Content) != maxPaste {
		t.Fatalf("paste of %d bytes kept", len(p.Content))
	}
	k.feed([]byte("\x1b["))
	digits := bytes.Repeat([]byte("1"), 256)
	for range 100 {
		k.feed(digits)
		k.mu.Lock()
		held := len(k.buf)
		k.mu.Unlock()
		if held > maxPending+len(digits) {
			t.Fatalf("%d bytes of an unfinished sequence held", held)
		}
	}
	k.mu.Lock()
	if k.timer != nil {
		k.timer.Stop()
	}
	k.mu.Unlock()
}

// The mouse wheel's reports (SGR encoding, as /mouse on asks for) are
// passed on; clicks are not.
func TestKeyReaderPassesTheWheel(t *testing.T) {
	events := keysOf("\x1b[<64;10;5M", "\x1b[<0;10;5M\x1b[<0;10;5m", "\x1b[<65;10;5M")
	var wheel []uv.MouseButton
	for _, ev := range events {
		switch ev := ev.(type) {
		case uv.MouseWheelEvent:
			wheel = append(wheel, ev.Button)
		default:
			t.Errorf("passed on %T %v", ev, ev)
		}
	}
	if len(wheel) != 2 || wheel[0] != uv.MouseWheelUp || wheel[1] != uv.MouseWheelDown {
		t.Errorf("wheel events %v, want up then down", wheel)
	}
}
