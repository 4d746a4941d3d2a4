package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gorilla/websocket"
)

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","nick":"alice"}`,
		`{"type":"say","room":"lobby","text":"hello"}`,
		`{"type":"say","room":"lobby","text":"\u001b[2J\u001b[Hcleared"}`,
		`{"type":"say","text":"\u001b]8;;https://evil.example/\u001b\\click\u001b]8;;\u001b\\"}`,
		`{"type":"say","text":"hi\b\b\b\b\b\b\balice: forged"}`,
		`{"type":"say","text":"innocent\ralice: evil"}`,
		`{"type":"say","text":"abc\u202efed \u0000 nul"}`,
		`{"type":"say","text":"<script>alert(1)</script><img src=x onerror=alert(1)>"}`,
		`{"type":"hello","nick":"al\u200bice"}`,
		`{"type":"hello","nick":"\u0430lice"}`,
		`{"type":"history","room":"lobby","before":18446744073709551615,"limit":-1}`,
		`{"type":"history","before":18446744073709551616}`,
		`{"type":"history","before":"1"}`,
		`{"type":"switch","room":"dev"}`,
		`{"type":"say","text":"a","text":"b"}`,
		`{"TYPE":"Say","Text":"case-insensitive keys"}`,
		`{}`, `[]`, `null`, `"hello"`, `1e999`, ``, `{`, `{"type":`, "{\"type\":\"say\",\"text\":\"\xff\xfe\"}",
	} {
		f.Add(websocket.TextMessage, []byte(s))
	}
	f.Add(websocket.BinaryMessage, []byte(`{"type":"hello","nick":"alice"}`))
	f.Add(websocket.CloseMessage, []byte{0x03, 0xe8})
	f.Fuzz(func(t *testing.T, typ int, data []byte) {
		fr, err := DecodeClientFrame(typ, data)
		var fe *FrameError
		if err != nil && (!errors.As(err, &fe) || fe.Code != "bad_frame") {
			t.Fatalf("DecodeClientFrame(%d, %q): error %v is not a bad_frame", typ, data, err)
		}
		if typ != websocket.TextMessage {
			if err == nil {
				t.Fatalf("DecodeClientFrame(%d, %q) accepted a non-text frame", typ, data)
			}
			return
		}
		if err == nil {
			// What decoded re-encodes and decodes to the same frame.
			again, err := json.Marshal(fr)
			if err != nil {
				t.Fatal(err)
			}
			fr2, err := DecodeClientFrame(websocket.TextMessage, again)
			// A ping id is kept as sent; re-encoding may escape it
			// differently, not change its value.
			var id1, id2 any
			_ = json.Unmarshal(fr.ID, &id1)
			_ = json.Unmarshal(fr2.ID, &id2)
			sameID := reflect.DeepEqual(id1, id2)
			fr.ID, fr2.ID = nil, nil
			if err != nil || !sameID || !reflect.DeepEqual(fr2, fr) {
				t.Fatalf("round trip of %q: %+v -> %s -> %+v (%v)", data, fr, again, fr2, err)
			}
		}
		// Any string, whatever its bytes, sent in a well-formed frame
		// arrives (invalid UTF-8 as U+FFFD, byte by byte, like JSON).
		s := string(data)
		want := string([]rune(s))
		obj, _ := json.Marshal(map[string]any{"type": "say", "room": s, "text": s, "nick": s, "before": len(data), "limit": 7})
		got, err := DecodeClientFrame(websocket.TextMessage, obj)
		if err != nil {
			t.Fatalf("DecodeClientFrame(%s): %v", obj, err)
		}
		if got.Type != "say" || got.Room != want || got.Text != want || got.Nick != want || got.Before != uint64(len(data)) || got.Limit != 7 {
			t.Fatalf("DecodeClientFrame(%s) = %+v", obj, got)
		}
	})
}
