package wire_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// frameKeys returns a JSON object's top-level keys in order, or nil if data
// is not one (the docs elide some examples with "...").
func frameKeys(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return keys
}

// docLines returns the lines of docs/protocol.md with their indentation and
// example arrows removed.
func docLines(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(doc), "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(strings.TrimPrefix(l, "← "), "→ ")
		lines = append(lines, l)
	}
	return lines
}

// Every frame in the golden files has an example in docs/protocol.md with
// the same fields in the same order.
func TestDocsShowEveryGoldenFrame(t *testing.T) {
	documented := map[string]bool{}
	for _, l := range docLines(t) {
		if keys := frameKeys([]byte(l)); keys != nil {
			documented[strings.Join(keys, ",")] = true
		}
	}
	var names []string
	for _, c := range goldenCases() {
		names = append(names, c.name)
	}
	for _, c := range frameCases() {
		names = append(names, c.name)
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if keys := strings.Join(frameKeys(data), ","); !documented[keys] {
			t.Errorf("%s.json: no example in docs/protocol.md has the fields %s: %s", name, keys, data)
		}
	}
}

// Every line shape in the golden files is in docs/protocol.md: a documented
// line whose words are the golden line's, names and values aside.
func TestDocsShowEveryGoldenLineShape(t *testing.T) {
	documented := map[string]bool{}
	for _, l := range docLines(t) {
		// Line-mode examples are in code spans in tables, or indented.
		for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(l, -1) {
			documented[lineShape(m[1])] = true
		}
		documented[lineShape(l)] = true
	}
	for _, c := range goldenCases() {
		data, err := os.ReadFile(filepath.Join("testdata", c.name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" && !documented[lineShape(l)] {
				t.Errorf("%s.txt: the line %q has no example of its shape in docs/protocol.md", c.name, l)
			}
		}
	}
}

var (
	shapeTime  = regexp.MustCompile(`@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
	shapeRoom  = regexp.MustCompile(`#[a-z0-9_-]+`)
	shapeCount = regexp.MustCompile(`\(\d+\)`)
	shapeNum   = regexp.MustCompile(`\b\d+\b`)
)

// lineShape keeps what a parser relies on in a line (the markers, the
// fixed words, the brackets) and abstracts the rest: room names, times,
// numbers, and after the fixed part the free text.
func lineShape(l string) string {
	l = shapeTime.ReplaceAllString(l, "@TIME")
	l = shapeRoom.ReplaceAllString(l, "#ROOM")
	l = shapeCount.ReplaceAllString(l, "(N)")
	l = shapeNum.ReplaceAllString(l, "N")
	for _, fixed := range []struct{ prefix, shape string }{
		{"-!- welcome ", "-!- welcome NICK"},
		{"-!- error: ", "-!- error: TEXT"},
		{"-!- rooms (N):", "-!- rooms (N):"},
		{"-!-   #ROOM (N)", "-!-   #ROOM (N) TOPIC"},
		{"-!- missed N messages in #ROOM", "-!- missed N messages in #ROOM"},
		{"-!- missed N private messages", "-!- missed N private messages"},
		{"[pm] |", "[pm] | TEXT"},
		{"[pm] @TIME ", "[pm] @TIME NICK -> NICK: TEXT"},
		{"[pm] ", "[pm] NICK -> NICK: TEXT"},
	} {
		if strings.HasPrefix(l, fixed.prefix) {
			return fixed.shape
		}
	}
	if strings.HasPrefix(l, "-!- ") {
		return "-!- NOTICE"
	}
	room, rest, ok := strings.Cut(l, " ")
	if !ok || room != "#ROOM" {
		return l
	}
	at := ""
	if strings.HasPrefix(rest, "@TIME ") {
		at, rest = "@TIME ", rest[len("@TIME "):]
	}
	switch {
	case rest == "|" || strings.HasPrefix(rest, "| "):
		return room + " " + at + "| TEXT"
	case strings.HasPrefix(rest, "<") && strings.Contains(rest, "> "):
		return room + " " + at + "<NICK> TEXT"
	case strings.HasPrefix(rest, "* "):
		return room + " " + at + "* NICK TEXT"
	case strings.HasPrefix(rest, "--> ") && strings.Contains(rest, " joined ("):
		return room + " --> NICK joined (VIA)"
	case strings.HasPrefix(rest, "<-- ") && strings.Contains(rest, " left ("):
		return room + " <-- NICK left (REASON)"
	case strings.HasPrefix(rest, "--- topic: ") && strings.Contains(rest, " (set by "):
		return room + " --- topic: TEXT (set by NICK)"
	case strings.HasPrefix(rest, "--- topic: "):
		return room + " --- topic: TEXT"
	case strings.HasPrefix(rest, "--- ") && strings.Contains(rest, " is now known as "):
		return room + " --- NICK is now known as NICK"
	case strings.HasPrefix(rest, "members (N): "):
		return room + " members (N): LIST"
	case strings.HasPrefix(rest, "away ") && strings.Contains(rest, ": "):
		return room + " away NICK: REASON"
	case strings.HasPrefix(rest, "back "):
		return room + " back NICK"
	}
	return l
}
