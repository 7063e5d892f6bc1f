package faults

import (
	"net"
	"syscall"
)

// hungUp reports, without blocking, whether conn has something to read
// or was closed by its peer (a socket's MSG_PEEK of one byte).
func hungUp(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var rerr error
	var buf [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait
	}); err != nil {
		return true
	}
	// EAGAIN: nothing to read, idle and connected; anything else is a
	// message, the peer's close (nothing read, no error) or a broken
	// socket.
	return rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK
}
