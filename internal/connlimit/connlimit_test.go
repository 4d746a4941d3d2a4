package connlimit

import (
	"fmt"
	"testing"
	"time"
)

func TestPerAddressAndTotal(t *testing.T) {
	l := New(2, 3)
	r1, err := l.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire("a"); err != ErrPerAddr {
		t.Fatalf("third from a: %v", err)
	}
	if _, err := l.Acquire("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire("c"); err != ErrTotal {
		t.Fatalf("fourth in total: %v", err)
	}
	r1()
	r1() // idempotent
	if l.Open() != 2 {
		t.Fatalf("open = %d", l.Open())
	}
	if _, err := l.Acquire("c"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestNewConnectionsArePaced(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(0, 0, WithRate(1, 3), WithClock(func() time.Time { return now }))
	for i := range 3 {
		release, err := l.Acquire("a")
		if err != nil {
			t.Fatalf("connection %d of the burst: %v", i+1, err)
		}
		release() // closing does not give the start back
	}
	if _, err := l.Acquire("a"); err != ErrRate {
		t.Fatalf("fourth new connection at once: %v, want ErrRate", err)
	}
	if _, err := l.Acquire("b"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := l.Acquire("a"); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	if _, err := l.Acquire("a"); err != ErrRate {
		t.Fatalf("again at once: %v, want ErrRate", err)
	}
}

func TestRateTableIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(0, 0, WithRate(1, 2), WithClock(func() time.Time { return now }))
	for i := range maxTracked + 10 {
		if _, err := l.Acquire(fmt.Sprintf("10.0.%d.%d", i/256, i%256)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.starts); n > maxTracked {
		t.Fatalf("rate table holds %d addresses, more than %d", n, maxTracked)
	}
}

func TestPacingOff(t *testing.T) {
	l := New(0, 0, WithRate(-1, 20))
	for range 100 {
		if _, err := l.Acquire("a"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIPv6CountsPerSlash64(t *testing.T) {
	l := New(2, 0)
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if _, err := l.Acquire(a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	if _, err := l.Acquire("2001:db8:1:2:dead:beef::1"); err != ErrPerAddr {
		t.Fatalf("third address of one /64: %v, want ErrPerAddr", err)
	}
	if _, err := l.Acquire("2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	// IPv4 (also written IPv4-in-IPv6) stays per address.
	for _, a := range []string{"192.0.2.1", "192.0.2.1", "::ffff:192.0.2.2"} {
		if _, err := l.Acquire(a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7/32",
		"::ffff:192.0.2.7":        "192.0.2.7/32",
		"2001:db8:1::10":          "2001:db8:1::/64",
		"2001:db8:1::11":          "2001:db8:1::/64",
		"2001:db8:1:0:ffff::1":    "2001:db8:1::/64",
		"fe80::1%eth0":            "fe80::/64",
		"2001:db8:2::1":           "2001:db8:2::/64",
		"::1":                     "::/64",
		"2001:db8:1:ffff:1:2:3:4": "2001:db8:1:ffff::/64",
	} {
		p, ok := SourceOf(in)
		if !ok || p.String() != want {
			t.Errorf("SourceOf(%q) = %v %v, want %s", in, p, ok, want)
		}
	}
	if _, ok := SourceOf("not an address"); ok {
		t.Error("SourceOf accepted a non-address")
	}
	if sourceOf("2001:db8:1::10") != sourceOf("2001:db8:1::11") || sourceOf("2001:db8:1::10") == sourceOf("2001:db8:2::10") {
		t.Error("the per-address tables do not count an IPv6 /64 as one source")
	}
}
