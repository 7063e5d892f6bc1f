package bufpipe

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Size is how many bytes each direction holds before a Write waits for
// the reader: about what a Unix socket pair buffers on Linux.
const Size = 256 << 10

// New returns the two ends of a buffered in-memory connection.
func New() (net.Conn, net.Conn) {
	ab, ba := newHalf(), newHalf()
	return newEnd(ba, ab), newEnd(ab, ba)
}

// half is one direction of the connection: what one end wrote and the
// other has not read yet.
type half struct {
	mu     sync.Mutex
	buf    []byte
	off    int  // buf[off:] is unread
	closed bool // the writing end is closed: reads drain, then io.EOF
	gone   bool // the reading end is closed: writes fail

	readable chan struct{} // poked when bytes arrive or the writer closes
	writable chan struct{} // poked when bytes are read or the reader goes
}

func newHalf() *half {
	return &half{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

// poke wakes one waiter of c, if any; a waiter that finds nothing to do
// waits again, and one that leaves something for others pokes again.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// end is one end of the connection: it reads in and writes out.
type end struct {
	in, out *half

	once sync.Once
	done chan struct{} // closed by Close

	readDeadline, writeDeadline deadline
}

func newEnd(in, out *half) *end {
	return &end{in: in, out: out, done: make(chan struct{}),
		readDeadline: newDeadline(), writeDeadline: newDeadline()}
}

// Read reads what the other end wrote; after the other end's Close, the
// rest of it and then io.EOF.
func (e *end) Read(b []byte) (int, error) {
	h := e.in
	for {
		if err := e.check(&e.readDeadline); err != nil {
			return 0, &net.OpError{Op: "read", Net: "pipe", Err: err}
		}
		if len(b) == 0 {
			return 0, nil
		}
		h.mu.Lock()
		if len(h.buf) > h.off {
			k := copy(b, h.buf[h.off:])
			h.off += k
			if h.off == len(h.buf) {
				h.buf, h.off = h.buf[:0], 0
			} else {
				poke(h.readable) // for another reader
			}
			h.mu.Unlock()
			poke(h.writable)
			return k, nil
		}
		if h.closed {
			h.mu.Unlock()
			return 0, io.EOF
		}
		h.mu.Unlock()
		select {
		case <-h.readable:
		case <-e.readDeadline.wait():
		case <-e.done:
		}
	}
}

// Write writes b for the other end to read, waiting while Size bytes are
// unread; it fails once the other end is closed.
func (e *end) Write(b []byte) (int, error) {
	h := e.out
	n := 0
	for {
		if err := e.check(&e.writeDeadline); err != nil {
			return n, &net.OpError{Op: "write", Net: "pipe", Err: err}
		}
		h.mu.Lock()
		if h.gone {
			h.mu.Unlock()
			return n, &net.OpError{Op: "write", Net: "pipe", Err: io.ErrClosedPipe}
		}
		if len(b) == 0 {
			h.mu.Unlock()
			return 0, nil
		}
		if room := Size - (len(h.buf) - h.off); room > 0 {
			k := min(room, len(b)-n)
			if h.off > 0 && cap(h.buf)-len(h.buf) < k {
				h.buf, h.off = h.buf[:copy(h.buf, h.buf[h.off:])], 0
			}
			h.buf = append(h.buf, b[n:n+k]...)
			n += k
			full := k == room
			h.mu.Unlock()
			poke(h.readable)
			if !full {
				poke(h.writable) // room left for another writer
			}
			if n == len(b) {
				return n, nil // written, whatever the reader does next
			}
			continue
		}
		h.mu.Unlock()
		select {
		case <-h.writable:
		case <-e.writeDeadline.wait():
		case <-e.done:
		}
	}
}

// check returns why an operation under deadline d cannot go on, if it
// cannot: this end is closed, or d has passed.
func (e *end) check(d *deadline) error {
	switch {
	case isClosed(e.done):
		return net.ErrClosed
	case isClosed(d.wait()):
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Close closes this end: its reads and writes fail, the other end reads
// what is left and then io.EOF, and its writes fail.
func (e *end) Close() error {
	closed := false
	e.once.Do(func() {
		closed = true
		close(e.done)
		e.in.mu.Lock()
		e.in.gone = true
		e.in.buf, e.in.off = nil, 0
		e.in.mu.Unlock()
		poke(e.in.writable)
		e.out.mu.Lock()
		e.out.closed = true
		e.out.mu.Unlock()
		poke(e.out.readable)
	})
	if !closed {
		return &net.OpError{Op: "close", Net: "pipe", Err: net.ErrClosed}
	}
	return nil
}

type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "bufpipe" }

func (e *end) LocalAddr() net.Addr  { return addr{} }
func (e *end) RemoteAddr() net.Addr { return addr{} }

func (e *end) SetDeadline(t time.Time) error {
	if err := e.SetReadDeadline(t); err != nil {
		return err
	}
	return e.SetWriteDeadline(t)
}

func (e *end) SetReadDeadline(t time.Time) error {
	if isClosed(e.done) {
		return &net.OpError{Op: "set", Net: "pipe", Err: net.ErrClosed}
	}
	e.readDeadline.set(t)
	return nil
}

func (e *end) SetWriteDeadline(t time.Time) error {
	if isClosed(e.done) {
		return &net.OpError{Op: "set", Net: "pipe", Err: net.ErrClosed}
	}
	e.writeDeadline.set(t)
	return nil
}

// deadline is a channel closed when a point in time passes (net.Pipe's
// design): set moves it, wait returns the channel to select on.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed
}

func newDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set makes the deadline t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it has closed cancel
	}
	d.timer = nil
	passed := isClosed(d.cancel)
	if t.IsZero() {
		if passed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if passed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !passed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// isClosed says whether c is closed (without waiting).
func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
