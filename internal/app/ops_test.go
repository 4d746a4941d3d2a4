package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The SSH front-end's failed handshakes are counted whatever the log level,
// and the log output is what the level allows.
func TestHandshakeFailuresCountedAtAnyLevel(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := 0
	log := countHandshakeFailures(base, func() { n++ })

	log.Info(sshHandshakeFailedMsg, "remote", "192.0.2.1:1234")
	log.With("component", "ssh").WithGroup("g").Info(sshHandshakeFailedMsg, "remote", "192.0.2.2:1234")
	log.Info("something else")
	log.Warn("a warning")
	if n != 2 {
		t.Fatalf("counted %d handshake failures, want 2", n)
	}
	out := buf.String()
	if strings.Contains(out, sshHandshakeFailedMsg) || strings.Contains(out, "something else") {
		t.Fatalf("info records were written at warn level:\n%s", out)
	}
	if !strings.Contains(out, "a warning") {
		t.Fatalf("the warning was not written:\n%s", out)
	}

	buf.Reset()
	base = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log = countHandshakeFailures(base, func() { n++ })
	log.Debug("debug line")
	log.Info(sshHandshakeFailedMsg)
	if n != 3 || !strings.Contains(buf.String(), "debug line") || !strings.Contains(buf.String(), sshHandshakeFailedMsg) {
		t.Fatalf("at debug level: n=%d, output:\n%s", n, buf.String())
	}
}
