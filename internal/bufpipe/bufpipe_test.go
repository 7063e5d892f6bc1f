package bufpipe_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/internal/bufpipe"
	"golang.org/x/net/nettest"
)

// TestConn runs x/net's conformance tests of net.Conn: basic I/O, ping-pong,
// racing reads and writes, past, present and future deadlines, Close
// during a blocked operation and concurrent methods.
func TestConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, c2 = bufpipe.New()
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// TestWritesDoNotWaitForTheReader: both ends write before either reads,
// which deadlocks net.Pipe.
func TestWritesDoNotWaitForTheReader(t *testing.T) {
	a, b := bufpipe.New()
	defer a.Close()
	defer b.Close()
	msg := bytes.Repeat([]byte("x"), 64<<10)
	for _, c := range []net.Conn{a, b} {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Write(msg); err != nil || n != len(msg) {
			t.Fatalf("Write = %d, %v; want %d, nil without a reader", n, err, len(msg))
		}
	}
	for _, c := range []net.Conn{a, b} {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("ReadFull: %v (equal: %v)", err, bytes.Equal(got, msg))
		}
	}
}

// TestAWriterWaitsWhenTheBufferIsFull: a write of more than Size bytes
// returns only once the reader has made room, and times out otherwise.
func TestAWriterWaitsWhenTheBufferIsFull(t *testing.T) {
	a, b := bufpipe.New()
	defer a.Close()
	defer b.Close()
	a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := a.Write(make([]byte, bufpipe.Size+1))
	if n != bufpipe.Size || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past a full buffer = %d, %v; want %d, a deadline error", n, err, bufpipe.Size)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error with Timeout()", err)
	}
	a.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(make([]byte, 10))
		done <- err
	}()
	if _, err := io.ReadFull(b, make([]byte, bufpipe.Size+10)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Write after the reader made room: %v", err)
	}
}

// TestClose: the peer reads what was written before Close, then io.EOF;
// its writes fail; the closed end's own operations fail with
// net.ErrClosed.
func TestClose(t *testing.T) {
	a, b := bufpipe.New()
	defer b.Close()
	if _, err := a.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("ReadAll after the peer's Close = %q, %v; want the bytes written, then EOF", got, err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write to a closed peer: %v, want io.ErrClosedPipe", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed end: %v, want net.ErrClosed", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write to a closed end: %v, want net.ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
}
