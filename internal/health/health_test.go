package health

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	Healthz().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	pass := Check{"ssh", func(context.Context) error { return nil }}
	fail := Check{"store", func(context.Context) error { return errors.New("database is locked") }}
	// A check that ignores its context: the probe still answers in time.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := Check{"slow", func(context.Context) error { <-release; return nil }}
	boom := Check{"boom", func(context.Context) error { panic("oops") }}
	for _, tc := range []struct {
		name   string
		checks []Check
		code   int
		body   []string
	}{
		{"no checks", nil, 200, nil},
		{"all pass", []Check{pass, {"http", nil}}, 200, []string{"ok ssh\n", "ok http\n"}},
		{"one fails", []Check{pass, fail}, 503, []string{"ok ssh\n", "fail store: database is locked\n"}},
		{"hung check times out", []Check{pass, hang}, 503, []string{"ok ssh\n", "fail slow: no answer: context deadline exceeded\n"}},
		{"panicking check fails", []Check{boom}, 503, []string{"fail boom: check panicked: oops\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			start := time.Now()
			Readyz(100*time.Millisecond, func() []Check { return tc.checks }).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("readyz took %v", took)
			}
			if rec.Code != tc.code {
				t.Errorf("code %d, want %d; body %q", rec.Code, tc.code, rec.Body)
			}
			for _, b := range tc.body {
				if !strings.Contains(rec.Body.String(), b) {
					t.Errorf("body %q lacks %q", rec.Body, b)
				}
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("readyz may be cached")
			}
		})
	}
}
