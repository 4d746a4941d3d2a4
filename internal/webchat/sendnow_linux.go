package webchat

import (
	"syscall"
	"unsafe"
)

// sendNow makes one send(2) of p on socket fd, which never waits
// (MSG_DONTWAIT: a full send buffer is EAGAIN) and never raises SIGPIPE.
//
// It is a raw system call, without the runtime's bookkeeping around one
// that may block: a call that cannot block needs none, and in a fan-out of
// one message to thousands of members that bookkeeping (entering and
// leaving the system call, the monitor thread that wakes every 20 µs
// while system calls keep coming to take the processor back from the
// ones that last) cost about as much again as the user-space work of a
// delivery (docs/performance.md, finding 14). send rather than write:
// the socket layer directly, not the file layer first.
func sendNow(fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
