//go:build !linux

package webchat

import "syscall"

// sendNow makes one write(2) of p on socket fd, which is non-blocking: a
// full send buffer is EAGAIN. (On Linux a raw send: sendnow_linux.go.)
func sendNow(fd uintptr, p []byte) (int, error) {
	return syscall.Write(int(fd), p)
}
