package sshchat

import (
	"io"
	"sync"
	"time"
	"unicode/utf8"

	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
)

// escTimeout is how long an escape sequence may take to arrive whole: a
// lone ESC is the Escape key only if nothing follows it this soon. It is
// Bubble Tea's.
const escTimeout = 50 * time.Millisecond

// Bounds on what a client can make a session hold (Bubble Tea's reader has
// none): an escape sequence still waiting for its end is decoded as it is
// once it is this long, and a bracketed paste keeps this much (the input
// line takes far less).
const (
	maxPending = 4 << 10
	maxPaste   = 64 << 10
)

// keyReader turns what the client types into the input events Bubble Tea's
// own reader produces (the session's loop turns them into key and paste
// messages), in place of that reader: it builds a table of some 600 escape
// sequences for every session (about 110 KB each, a third of an idle
// session's memory) and needs two goroutines. This one decodes with the same
// decoder, which knows every sequence of that table
// (TestKeyReaderMatchesBubbleTeaTable), reads in one goroutine, and lets a
// timer complete a sequence that stops short.
type keyReader struct {
	send func(uv.Event)

	mu    sync.Mutex
	dec   uv.EventDecoder
	buf   []byte
	paste []byte // bracketed paste so far; nil outside one
	gen   int    // counts reads, so that a stale timer does nothing
	timer *time.Timer
}

// readKeys reads r until it fails, passing on events as they are complete.
func readKeys(r io.Reader, send func(uv.Event)) {
	k := &keyReader{send: send}
	var chunk [256]byte
	for {
		n, err := r.Read(chunk[:])
		if n > 0 {
			k.feed(chunk[:n])
		}
		if err != nil {
			k.mu.Lock()
			k.gen++
			k.scan(true)
			k.mu.Unlock()
			return
		}
	}
}

func (k *keyReader) feed(p []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	k.buf = append(k.buf, p...)
	k.scan(len(k.buf) > maxPending)
	if len(k.buf) > 0 {
		gen := k.gen
		if k.timer != nil {
			k.timer.Stop()
		}
		k.timer = time.AfterFunc(escTimeout, func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.gen == gen {
				k.scan(true)
			}
		})
	}
	if cap(k.buf) > 4<<10 && len(k.buf) == 0 {
		k.buf = nil // after a paste: do not keep its buffer
	}
}

// scan passes on the complete events at the start of k.buf and drops them
// from it; expired: what is left will not be completed, decode it as it is.
// It sends with k.mu held, which keeps the events in order.
func (k *keyReader) scan(expired bool) {
	buf := k.buf
	for len(buf) > 0 {
		esc := buf[0] == ansi.ESC
		n, ev := k.dec.Decode(buf)
		if n == 0 {
			break
		}
		if _, unknown := ev.(uv.UnknownEvent); unknown {
			if !expired {
				// Perhaps the start of a sequence still on its way.
				k.buf = buf
				return
			}
			buf = buf[n:]
			continue
		}
		if k.paste != nil {
			if _, end := ev.(uv.PasteEndEvent); !end {
				// Inside a bracketed paste everything is text.
				if ev, ok := ev.(uv.KeyPressEvent); ok {
					if ev.Text != "" {
						k.addPaste(ev.Text)
					} else {
						if esc && n <= 2 && !expired {
							k.buf = buf
							return
						}
						k.addPaste(string(buf[:n]))
					}
				}
				buf = buf[n:]
				continue
			}
		}
		switch e := ev.(type) {
		case uv.PasteStartEvent:
			k.paste = []byte{}
			buf = buf[n:]
			continue
		case uv.PasteEndEvent:
			// Whole characters only, as Bubble Tea's reader does.
			var text []rune
			for p := k.paste; len(p) > 0; {
				r, w := utf8.DecodeRune(p)
				if r != utf8.RuneError {
					text = append(text, r)
				}
				p = p[w:]
			}
			k.paste = nil
			k.send(uv.PasteEvent{Content: string(text)})
			buf = buf[n:]
			continue
		case uv.MultiEvent:
			if esc && n <= 2 && !expired {
				k.buf = buf
				return
			}
			for _, ev := range e {
				k.pass(ev)
			}
			buf = buf[n:]
			continue
		}
		if esc && n <= 2 && !expired {
			// ESC and one byte may be the start of a longer sequence.
			k.buf = buf
			return
		}
		k.pass(ev)
		buf = buf[n:]
	}
	k.buf = append(k.buf[:0], buf...)
}

func (k *keyReader) addPaste(text string) {
	if len(k.paste)+len(text) <= maxPaste {
		k.paste = append(k.paste, text...)
	}
}

// pass sends ev if the interface uses it: keys, pastes and the mouse wheel
// (reported after /mouse on). The rest (clicks, focus, replies to queries)
// is never asked for, and only cost an Update.
func (k *keyReader) pass(ev uv.Event) {
	switch ev.(type) {
	case uv.KeyPressEvent, uv.PasteEvent, uv.MouseWheelEvent:
		k.send(ev)
	}
}
