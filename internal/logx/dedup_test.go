package logx

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A full disk refuses every message; logging each refusal once flooded the
// log (3300 lines in 40 s). The same error is written once per window,
// with the count held back.
func TestRepeatedErrorsWrittenOncePerWindow(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	log := slog.New(NewDedup(slog.NewTextHandler(&buf, nil), 10*time.Second, func() time.Time { return now }))
	full := errors.New("database or disk is full (13)")
	for i := 0; i < 3300; i++ {
		log.Error("store message", "room", "lobby", "nick", "n", "err", full)
		if i%100 == 99 {
			now = now.Add(time.Second) // 3300 refusals over 33 s
		}
	}
	log.Error("store message", "err", errors.New("disk I/O error"))
	log.Info("a plain line", "err", full)
	log.Warn("disconnect", "nick", "a")
	log.Warn("disconnect", "nick", "a")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var stored, repeated int
	for _, l := range lines {
		if strings.Contains(l, "database or disk is full") && strings.Contains(l, "level=ERROR") {
			stored++
			if strings.Contains(l, "repeated=") {
				repeated++
			}
		}
	}
	if stored != 4 || repeated != 3 {
		t.Errorf("3300 identical errors over 33 s gave %d lines (%d with a count), want 4 (3):\n%s", stored, repeated, buf.String())
	}
	if !strings.Contains(buf.String(), "repeated=999") {
		t.Errorf("the held-back count is missing:\n%s", buf.String())
	}
	for _, want := range []string{"disk I/O error", "a plain line"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%q was held back", want)
		}
	}
	if n := strings.Count(buf.String(), "msg=disconnect"); n != 2 {
		t.Errorf("warnings without an error were deduplicated: %d of 2", n)
	}
}
