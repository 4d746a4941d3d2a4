package webchat

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// staticHandler serves the embedded page and its assets compressed when the
// browser accepts it (gzip or zstd, by klauspost/compress/gzhttp), with a
// content-hash ETag and "Cache-Control: no-cache": a repeat visit costs one
// 304 per file, and a new release is seen at once since the names carry no
// version.
func staticHandler(files fs.FS) (http.Handler, error) {
	etags := map[string]string{} // by URL path
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		tag := `"` + hex.EncodeToString(sum[:12]) + `"`
		etags["/"+name] = tag
		if name == "index.html" {
			etags["/"] = tag
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The compressed body's ETag gets a suffix (RFC 9110 8.8.3: it is a
	// different representation); a revalidation with either form is
	// answered 304 below, before compression is involved.
	compress, err := gzhttp.NewWrapper(gzhttp.SuffixETag("-gzip"), gzhttp.MinSize(512))
	if err != nil {
		return nil, err
	}
	fileServer := http.FileServerFS(files)
	return compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag, ok := etags[r.URL.Path]
		if !ok {
			fileServer.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		if etagMatches(r.Header.Get("If-None-Match"), tag) {
			w.Header().Set("ETag", tag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", tag)
		fileServer.ServeHTTP(w, r)
	})), nil
}

// etagMatches reports whether an If-None-Match list names tag, in its plain
// form or with the suffix a compressed response carried ("...-gzip",
// "...-zstd").
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	bare := strings.TrimSuffix(tag, `"`)
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == tag || strings.HasPrefix(candidate, bare+"-") {
			return true
		}
	}
	return false
}
