package webchat

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultTrustedProxiesList is the default --trusted-proxies: the loopback
// addresses a local nginx connects from. Not all of 127.0.0.0/8: any local
// user or process can send from 127.0.0.2 and would otherwise rotate its
// address with every request (sign-in guesses, caps, bans).
const DefaultTrustedProxiesList = "127.0.0.1/32,::1/128"

// DefaultTrustedProxies are the peers whose X-Forwarded-For and X-Real-IP
// headers are believed when no other list is given (DefaultTrustedProxiesList).
func DefaultTrustedProxies() []netip.Prefix {
	p, err := ParseTrustedProxies(DefaultTrustedProxiesList)
	if err != nil {
		panic("webchat: DefaultTrustedProxiesList: " + err.Error()) // a constant: caught by any test
	}
	return p
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("127.0.0.0/8,::1,10.1.2.3"). An empty list, or "none", trusts
// no proxy.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	if strings.TrimSpace(list) == "none" {
		return out, nil
	}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// WithTrustedProxies sets the peers (reverse proxies such as nginx) whose
// X-Forwarded-For and X-Real-IP headers are believed. A request from any
// other peer is attributed to the peer itself, whatever its headers say.
// nil keeps the default (loopback); an empty list trusts no one.
func WithTrustedProxies(prefixes []netip.Prefix) Option {
	return func(s *Server) {
		if prefixes != nil {
			s.trustedProxies = prefixes
		}
	}
}

// clientAddr is the real client's IP address, the one every limit and ban
// applies to. The direct peer is the client unless it is a trusted proxy;
// then the client is the right-most address of X-Forwarded-For that is not
// itself a trusted proxy (addresses to its left were written by whoever
// sent the request and may be forged), or X-Real-IP when there is no
// X-Forwarded-For. If every forwarded hop is trusted, the left-most one is
// the client; an unreadable hop ends the walk at the last readable one.
func (s *Server) clientAddr(r *http.Request) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	if len(hops) == 0 {
		if a, ok := parseHost(r.Header.Get("X-Real-Ip")); ok {
			return a.String()
		}
		return peer.String()
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHost(hops[i])
		if !ok {
			break
		}
		client = a
		if !s.trusted(a) {
			break
		}
	}
	return client.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the X-Forwarded-For hops, over every such header line
// in order, left (first client) to right (nearest proxy).
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// parseHost reads an address written as "1.2.3.4", "1.2.3.4:80", "::1",
// "[::1]" or "[::1]:80", with IPv4-mapped IPv6 addresses unmapped.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
