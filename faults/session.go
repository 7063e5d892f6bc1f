package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// round is one round in flight on a session.
type round struct {
	ev       Event
	fault    *Fault
	copyIn   bool
	copyData int
	copyDone bool // the client ended its COPY data
	executes bool // it runs a statement (Query or Execute), not only prepares one
	sent     bool // numbered and given its fault
	written  bool // its messages went to the server
}

// session relays one client connection.
type session struct {
	a      *Attempt
	id     int
	client net.Conn
	server net.Conn
	cr, sr *bufio.Reader
	cw, sw *bufio.Writer

	mu       sync.Mutex
	status   byte     // the last ReadyForQuery status
	inflight []*round // sent to the server, awaiting ReadyForQuery
	ready    bool     // authentication is over
	prepared map[string]string
	pooled   *backend // the server connection came from the pool
	stmtInTx int      // rounds begun inside the current transaction (client pump only)
}

// readers and writers recycle the 64 KiB buffers of sessions: every
// attempt opens connections, and allocating them anew was most of the
// proxy's garbage.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
)

func newReader(c net.Conn) *bufio.Reader {
	r := readers.Get().(*bufio.Reader)
	r.Reset(c)
	return r
}

func newWriter(c net.Conn) *bufio.Writer {
	w := writers.Get().(*bufio.Writer)
	w.Reset(c)
	return w
}

// recycle gives back the buffers of a session that is over (its pumps
// have returned): the client's, and the server's unless they are a
// pooled backend's.
func (s *session) recycle() {
	put := func(r *bufio.Reader, w *bufio.Writer) {
		if r != nil {
			r.Reset(nil)
			readers.Put(r)
		}
		if w != nil {
			w.Reset(nil)
			writers.Put(w)
		}
	}
	put(s.cr, s.cw)
	if s.pooled == nil {
		put(s.sr, s.sw)
	}
}

// serve relays one client connection; the caller did a.wg.Add(1).
func (a *Attempt) serve(client net.Conn) {
	defer a.wg.Done()
	s := &session{a: a, client: client, status: 'I', prepared: map[string]string{}, cr: newReader(client), cw: newWriter(client)}
	defer s.recycle() // after every use: serve returns once both pumps have
	defer client.Close()
	if err := s.startup(); err != nil {
		if s.server != nil {
			s.server.Close()
		}
		return
	}
	a.mu.Lock()
	if a.crashed {
		a.mu.Unlock()
		s.release(true)
		return
	}
	a.conns++
	s.id = a.conns
	a.sessions[s] = true
	a.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		err := s.serverPump()
		// A server that ends the session (a crash restart, a terminated
		// backend) closes the client's connection too, as it would without
		// the proxy: otherwise the client waits for a reply that never
		// comes, and the attempt for its timeout.
		client.Close()
		done <- err
	}()
	s.clientPump()
	client.Close()
	s.server.SetReadDeadline(time.Now()) // stop the server pump between messages
	err := <-done
	s.server.SetReadDeadline(time.Time{})
	healthy := err == nil || errors.Is(err, os.ErrDeadlineExceeded)
	pid := s.release(healthy)
	a.mu.Lock()
	delete(a.sessions, s)
	if pid != 0 {
		a.closed = append(a.closed, pid)
	}
	a.mu.Unlock()
}

// startup handles the untyped first messages: SSL and GSS encryption
// requests are refused with 'N', a cancel request is passed to the server
// on a connection of its own, a startup message opens the server
// connection.
func (s *session) startup() error {
	for {
		code, raw, err := readStartup(s.cr)
		if err != nil {
			return err
		}
		switch code {
		case codeSSL, codeGSSEnc:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		case codeCancel:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, err := s.a.proxy.dial(ctx); err == nil {
				c.Write(raw)
				c.Close()
			}
			return io.EOF
		case codeStartV3:
			if s.a.proxy.pool != nil {
				var sm pgproto3.StartupMessage
				if err := sm.Decode(raw[4:]); err != nil {
					return fmt.Errorf("%w: startup message: %v", ErrMalformed, err)
				}
				ok, err := s.attachPooled(sm.Parameters)
				if err != nil || ok {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			server, err := s.a.proxy.dial(ctx)
			if err != nil {
				s.client.Write(errorResponse("FATAL", "08006", "idemcheck proxy: cannot reach the server: "+err.Error()))
				return err
			}
			s.server = server
			s.sr, s.sw = newReader(server), newWriter(server)
			_, err = server.Write(raw)
			return err
		default:
			s.client.Write(errorResponse("FATAL", "08P01", fmt.Sprintf("idemcheck proxy: unsupported protocol request %d", code)))
			return fmt.Errorf("%w: unsupported startup request code %d", ErrMalformed, code)
		}
	}
}

// toServer writes b to the server, flushed when flush.
func (s *session) toServer(b []byte, flush bool) error {
	if _, err := s.sw.Write(b); err != nil {
		return err
	}
	if flush {
		return s.sw.Flush()
	}
	return nil
}

// toClient writes b to the client, flushed once the server has sent
// nothing more for now.
func (s *session) toClient(b []byte) error {
	if _, err := s.cw.Write(b); err != nil {
		return err
	}
	if s.sr.Buffered() == 0 {
		return s.cw.Flush()
	}
	return nil
}
