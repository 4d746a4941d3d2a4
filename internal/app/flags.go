package app

import (
	"net/netip"
	"strings"

	"github.com/tertulia/tertulia/internal/webchat"
)

// The settings below are written as text on the command line; cmd/tertulia
// parses and formats them here so that it imports no package but app.

// ParseTrustedProxies reads --trusted-proxies: comma-separated CIDRs or
// addresses, or "none".
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	return webchat.ParseTrustedProxies(list)
}

// FormatTrustedProxies writes prefixes as ParseTrustedProxies reads them.
func FormatTrustedProxies(prefixes []netip.Prefix) string {
	if len(prefixes) == 0 {
		return "none"
	}
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// ParseList reads a comma-separated list, dropping empty items.
func ParseList(list string) []string {
	var out []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
