package sshchat

import (
	"testing"
	"unsafe"
)

// Every terminal session keeps one model for its whole life: it fits the
// heap's 8,192-byte size class (one byte more and it is allocated 9,472).
func TestModelFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(tuiModel{}); size > 8192 {
		t.Errorf("a terminal session's model is %d bytes, over 8,192: move fields it seldom uses behind a pointer", size)
	}
}
