package connlimit

import "testing"

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
