package acks

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// Tracker is a proxy session as a Front sees it: it takes the
// connections made in it, and ends them.
type Tracker interface {
	Track(io.Closer) bool
	End()
}

// Front is a proxy's listener on 127.0.0.1: each connection a consumer
// makes is paired with one to the upstream server, belongs to the session
// current when it came (Begin), and is relayed by serve, whose link
// closes both sides and whose relays run until the connection ends.
type Front[S Tracker] struct {
	upstream string
	ln       net.Listener
	serve    func(s S, client, server net.Conn) (link io.Closer, relays []func())

	mu      sync.Mutex
	session S
	wg      sync.WaitGroup
}

// Listen starts a front for upstream (host:port) whose connections go to
// session first until Begin names another.
func Listen[S Tracker](upstream string, first S, serve func(s S, client, server net.Conn) (io.Closer, []func())) (*Front[S], error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	f := &Front[S]{upstream: upstream, ln: ln, serve: serve, session: first}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the address consumers connect to.
func (f *Front[S]) Addr() *net.TCPAddr { return f.ln.Addr().(*net.TCPAddr) }

// Begin makes s the session of the connections accepted from now on.
func (f *Front[S]) Begin(s S) {
	f.mu.Lock()
	f.session = s
	f.mu.Unlock()
}

// Close stops the listener, ends the current session's connections and
// waits for every relay.
func (f *Front[S]) Close() {
	f.mu.Lock()
	s := f.session
	f.mu.Unlock()
	f.ln.Close()
	s.End()
	f.wg.Wait()
}

func (f *Front[S]) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		s := f.session
		f.mu.Unlock()
		up, err := net.Dial("tcp", f.upstream)
		if err != nil {
			c.Close()
			continue
		}
		link, relays := f.serve(s, c, up)
		if !s.Track(link) {
			link.Close()
			continue
		}
		for _, relay := range relays {
			f.wg.Add(1)
			go func() { defer f.wg.Done(); relay() }()
		}
	}
}
