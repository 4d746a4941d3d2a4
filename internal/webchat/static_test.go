package webchat

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tertulia/tertulia/internal/room"
)

// get asks the web front-end for path with the given request headers.
func get(t *testing.T, h http.Handler, path string, headers map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestStaticFilesAreCompressedAndRevalidated(t *testing.T) {
	h := New(room.NewHub()).Handler()
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		plain := get(t, h, path, nil)
		body, _ := io.ReadAll(plain.Body)
		if plain.StatusCode != 200 || plain.Header.Get("Content-Encoding") != "" || len(body) == 0 {
			t.Fatalf("%s without Accept-Encoding: status %d, encoding %q, %d bytes", path, plain.StatusCode, plain.Header.Get("Content-Encoding"), len(body))
		}
		tag := plain.Header.Get("ETag")
		if tag == "" || plain.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag %q, Cache-Control %q; want a validator and no-cache", path, tag, plain.Header.Get("Cache-Control"))
		}

		zipped := get(t, h, path, map[string]string{"Accept-Encoding": "gzip"})
		if zipped.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s with Accept-Encoding gzip: Content-Encoding %q", path, zipped.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(zipped.Body)
		if err != nil {
			t.Fatal(err)
		}
		unzipped, _ := io.ReadAll(zr)
		if string(unzipped) != string(body) {
			t.Fatalf("%s: gzip body differs from the plain one", path)
		}
		zipTag := zipped.Header.Get("ETag")
		if zipTag == tag || !strings.Contains(zipTag, "gzip") {
			t.Fatalf("%s: compressed ETag %q must differ from plain %q", path, zipTag, tag)
		}
		if !strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s: Vary %q", path, zipped.Header.Get("Vary"))
		}

		for _, validator := range []string{tag, zipTag} {
			again := get(t, h, path, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": validator})
			if again.StatusCode != http.StatusNotModified {
				t.Fatalf("%s revalidated with %s: status %d, want 304", path, validator, again.StatusCode)
			}
		}
		if stale := get(t, h, path, map[string]string{"If-None-Match": `"0000"`}); stale.StatusCode != 200 {
			t.Fatalf("%s with an old validator: status %d, want 200", path, stale.StatusCode)
		}
	}
}
