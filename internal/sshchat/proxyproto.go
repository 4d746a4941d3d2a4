package sshchat

import (
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// WithProxyProtocol makes the server take the client's address from a
// PROXY protocol header (v1 or v2, as HAProxy and nginx's stream module
// send with proxy_protocol on) on connections from the trusted prefixes
// (--trusted-proxies), so that bans, caps and logs see the client, not the
// balancer. A connection from a trusted peer without a header is served as
// it is (an operator on the proxy host may still ssh in directly); from
// anywhere else no header is ever read, so one there fails the handshake.
func WithProxyProtocol(trusted []netip.Prefix) Option {
	return func(s *Server) {
		if trusted == nil {
			trusted = []netip.Prefix{}
		}
		s.proxyFrom = trusted
	}
}

// proxyListener reads PROXY headers, within the handshake timeout, from
// trusted peers only. The header is read by the connection's own goroutine
// (the first RemoteAddr or Read), never by the accept loop.
func (s *Server) proxyListener(ln net.Listener) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: s.handshakeTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil {
				addr := ap.Addr().Unmap()
				for _, p := range s.proxyFrom {
					if p.Contains(addr) {
						return proxyproto.USE, nil
					}
				}
			}
			return proxyproto.SKIP, nil
		},
	}
}
