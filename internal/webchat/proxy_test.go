package webchat

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	loopback := DefaultTrustedProxies()
	chain, err := ParseTrustedProxies("127.0.0.1/32, 10.0.0.0/8, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one entry per header line
		realIP  string
		want    string
	}{
		{"direct client, no headers", loopback, "203.0.113.7:5555", nil, "", "203.0.113.7"},
		{"untrusted peer's spoofed XFF is ignored", loopback, "203.0.113.7:5555", []string{"1.2.3.4"}, "", "203.0.113.7"},
		{"untrusted peer's spoofed X-Real-IP is ignored", loopback, "203.0.113.7:5555", nil, "1.2.3.4", "203.0.113.7"},
		{"trusted peer, XFF", loopback, "127.0.0.1:40000", []string{"198.51.100.9"}, "", "198.51.100.9"},
		{"trusted peer, X-Real-IP only", loopback, "127.0.0.1:40000", nil, "198.51.100.9", "198.51.100.9"},
		{"XFF wins over X-Real-IP", loopback, "127.0.0.1:40000", []string{"198.51.100.9"}, "192.0.2.1", "198.51.100.9"},
		{"trusted peer, no headers", loopback, "[::1]:40000", nil, "", "::1"},
		{"IPv6 trusted peer", loopback, "[::1]:40000", []string{"2001:db8::5"}, "", "2001:db8::5"},
		{"client forged the left of the chain", loopback, "127.0.0.1:40000", []string{"6.6.6.6, 198.51.100.9"}, "", "198.51.100.9"},
		{"chain through trusted hops", chain, "127.0.0.1:40000", []string{"6.6.6.6, 198.51.100.9, 10.1.1.1, 10.2.2.2"}, "", "198.51.100.9"},
		{"chain split over header lines", chain, "127.0.0.1:40000", []string{"6.6.6.6, 198.51.100.9", "10.1.1.1"}, "", "198.51.100.9"},
		{"untrusted hop stops the walk", chain, "127.0.0.1:40000", []string{"198.51.100.9, 192.0.2.50, 10.1.1.1"}, "", "192.0.2.50"},
		{"every hop trusted: left-most", chain, "127.0.0.1:40000", []string{"10.9.9.9, 10.1.1.1"}, "", "10.9.9.9"},
		{"peer not in the chain list", chain, "127.0.0.2:40000", []string{"198.51.100.9"}, "", "127.0.0.2"},
		{"garbage hop ends the walk", chain, "127.0.0.1:40000", []string{"evil, 10.1.1.1"}, "", "10.1.1.1"},
		{"garbage nearest hop: the peer", loopback, "127.0.0.1:40000", []string{"198.51.100.9, unknown"}, "", "127.0.0.1"},
		{"hops with ports and brackets", chain, "127.0.0.1:40000", []string{"198.51.100.9:1234, [2001:db8::1]:443"}, "", "198.51.100.9"},
		{"IPv4-mapped IPv6 is unmapped", loopback, "[::ffff:127.0.0.1]:40000", []string{"::ffff:198.51.100.9"}, "", "198.51.100.9"},
		{"no trusted proxies", []netip.Prefix{}, "127.0.0.1:40000", []string{"198.51.100.9"}, "198.51.100.9", "127.0.0.1"},
		{"unparsable peer kept as is", loopback, "@", nil, "", "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(nil, WithTrustedProxies(tc.trusted))
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-IP", tc.realIP)
			}
			if got := s.clientAddr(r); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"127.0.0.0/8,::1/128", []string{"127.0.0.0/8", "::1/128"}, false},
		{" 10.0.0.1 , fd00::/8 ", []string{"10.0.0.1/32", "fd00::/8"}, false},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, false},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, false},
		{"", nil, false},
		{"none", nil, false},
		{"10.0.0.0/33", nil, true},
		{"chat.example.com", nil, true},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got == nil {
			t.Errorf("%q: nil list (means default), want an explicit one", tc.in)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].String() != tc.want[i] {
				t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

func TestDefaultTrustsLoopbackOnly(t *testing.T) {
	s := New(nil)
	for peer, want := range map[string]string{"127.0.0.1:1": "198.51.100.9", "[::1]:1": "198.51.100.9", "192.0.2.1:1": "192.0.2.1", "127.0.0.65:1": "127.0.0.65"} {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", "198.51.100.9")
		if got := s.clientAddr(r); got != want {
			t.Errorf("peer %s: %q, want %q", peer, got, want)
		}
	}
}
