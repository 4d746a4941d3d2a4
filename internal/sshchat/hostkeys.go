package sshchat

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// ed25519KeyFile is the host key generated on first start.
const ed25519KeyFile = "ssh_host_ed25519_key"

// LoadHostKeys returns every private host key in dir, generating an ed25519
// key there first if none exists, so clients see the same host key on every
// start. Files that are not private keys (README, *.pub) are skipped.
func LoadHostKeys(dir string) ([]gossh.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	edPath := filepath.Join(dir, ed25519KeyFile)
	if _, err := os.Stat(edPath); errors.Is(err, os.ErrNotExist) {
		if err := generateEd25519(edPath); err != nil {
			return nil, fmt.Errorf("generate host key: %w", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var signers []gossh.Signer
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".pub") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if !strings.Contains(string(data), "PRIVATE KEY") {
			continue
		}
		signer, err := gossh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", e.Name(), err)
		}
		signers = append(signers, signer)
	}
	return signers, nil
}

func generateEd25519(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := gossh.MarshalPrivateKey(priv, "tertulia host key")
	if err != nil {
		return err
	}
	// O_EXCL: two processes starting at once must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	return os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
}
