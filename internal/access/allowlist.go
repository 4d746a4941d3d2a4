package access

import (
	"bytes"
	"fmt"
	"os"

	gossh "golang.org/x/crypto/ssh"
)

// ReadAuthorizedKeys returns the SHA256 fingerprints of the keys in an
// authorized_keys file (comments, blank lines and options are allowed):
// the format of --admins and --allowlist.
func ReadAuthorizedKeys(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for line := 1; len(bytes.TrimSpace(data)) > 0; line++ {
		pub, _, _, rest, err := gossh.ParseAuthorizedKey(data)
		if err != nil {
			// ParseAuthorizedKey skips comments and blank lines itself; an
			// error means no key was left or a line is malformed.
			if len(keys) == 0 && len(bytes.TrimSpace(stripComments(data))) > 0 {
				return nil, fmt.Errorf("%s: no valid key: %w", path, err)
			}
			break
		}
		keys[gossh.FingerprintSHA256(pub)] = true
		data = rest
	}
	return keys, nil
}

func stripComments(data []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, t...)
		}
	}
	return out
}

// ReloadAllowlist reads the allowlist again and puts it in force, returning
// how many keys it holds. Errors: ErrNoAllowlist; the loader's error, the
// allowlist in force staying as it was.
func (b *Book) ReloadAllowlist() (int, error) {
	if b.loadAllow == nil {
		return 0, ErrNoAllowlist
	}
	allow, err := b.loadAllow()
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.allow = allow
	b.mu.Unlock()
	return len(allow), nil
}
