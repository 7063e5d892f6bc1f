// Package acks is what the queue proxies (NATS JetStream's and AMQP's)
// share: the faults they inject at a consumer's acks, and the session
// that counts one consumer process's deliveries and acks, places them on
// a timeline and decides what becomes of each ack.
package acks

import (
	"fmt"
	"io"
	"sync"
)

// Kind says what a proxy does to the ack a Fault names.
type Kind int

const (
	// KillBefore kills the consumer as its ack is about to leave it: the
	// ack never reaches the server, which delivers the message again.
	KillBefore Kind = iota + 1
	// KillAfter lets the ack go and kills the consumer right after. A
	// consumer does not wait for its ack, so what it sends meanwhile (the
	// next statement, even a commit) may reach its server before the
	// kill lands.
	KillAfter
	// Lose loses the ack on the way: the consumer goes on believing it
	// acked. JetStream delivers the message again after AckWait; on AMQP
	// the proxy also cuts the connection, as a network fault would, and
	// the server requeues it.
	Lose
	// Nak turns the ack into a negative one that requeues: the server
	// delivers the message again at once.
	Nak
)

// Kinds lists every kind.
var Kinds = []Kind{KillBefore, KillAfter, Lose, Nak}

// Fault is one fault at a consumer's acks: its Ack-th positive ack (from
// 1) meets Kind.
type Fault struct {
	Kind Kind
	Ack  int
}

func (f Fault) String() string {
	switch f.Kind {
	case KillBefore:
		return fmt.Sprintf("kill before ack %d leaves", f.Ack)
	case KillAfter:
		return fmt.Sprintf("kill right after ack %d left", f.Ack)
	case Lose:
		return fmt.Sprintf("ack %d lost on the way", f.Ack)
	case Nak:
		return fmt.Sprintf("ack %d turned into a negative ack", f.Ack)
	}
	return fmt.Sprintf("acks.Fault(%d)", f.Kind)
}

// MarkKind says what a Mark stands for.
type MarkKind int

const (
	// Delivery is a message delivered to the consumer.
	Delivery MarkKind = iota + 1
	// Ack is a positive ack the consumer sent.
	Ack
)

// Mark is one delivery or ack on a timeline: after how many of the
// consumer's PostgreSQL rounds it happened, its number among the
// session's deliveries or acks (from 1), and the fault that met it.
type Mark struct {
	Kind       MarkKind
	AfterRound int
	N          int
	Fault      string
}

func (m Mark) String() string {
	s := fmt.Sprintf("ack %d", m.N)
	if m.Kind == Delivery {
		s = fmt.Sprintf("delivery %d", m.N)
	}
	if m.Fault != "" {
		s += ": " + m.Fault
	}
	return s
}

// Action is what a proxy does with one ack.
type Action int

const (
	Relay         Action = iota // relay it
	DropAndKill                 // do not relay it; kill the consumer (Fire)
	Swallow                     // do not relay it (the session's fault fired)
	RelayNegative               // relay a negative ack that requeues instead
	RelayAndKill                // relay it, then kill the consumer (Fire)
)

// Session is what one consumer process did through a proxy: the
// messages delivered to it, the acks it sent, and whether its fault
// fired. Its connections are closed when it ends or its fault kills.
type Session struct {
	fault *Fault
	kill  func()

	mu         sync.Mutex
	clock      func() int
	marks      []Mark
	deliveries int
	acks       int
	naks       int
	fired      bool
	conns      []io.Closer
	ended      bool
}

// NewSession is a session meeting fault (nil for none), whose kill ends
// the consumer.
func NewSession(fault *Fault, kill func()) *Session {
	return &Session{fault: fault, kill: kill}
}

// SetClock makes the session place its deliveries and acks by clock (see
// Mark).
func (s *Session) SetClock(clock func() int) {
	s.mu.Lock()
	s.clock = clock
	s.mu.Unlock()
}

// Deliveries counts the messages delivered to the consumer.
func (s *Session) Deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

// Acks counts its positive acks.
func (s *Session) Acks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks
}

// Naks counts its other acks: negative, in progress, rejections.
func (s *Session) Naks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.naks
}

// Marks are its deliveries and acks, in order.
func (s *Session) Marks() []Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mark(nil), s.marks...)
}

// Fired tells whether the session's fault fired.
func (s *Session) Fired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

func (s *Session) mark(kind MarkKind, n int, fault string) {
	m := Mark{Kind: kind, N: n, Fault: fault}
	if s.clock != nil {
		m.AfterRound = s.clock()
	}
	s.marks = append(s.marks, m)
}

// Delivered counts a message delivered to the consumer.
func (s *Session) Delivered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries++
	s.mark(Delivery, s.deliveries, "")
}

// Negative counts an ack that is not a positive one.
func (s *Session) Negative() {
	s.mu.Lock()
	s.naks++
	s.mu.Unlock()
}

// Acked counts a positive ack and decides what becomes of it.
func (s *Session) Acked() Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks++
	f := s.fault
	if f == nil || s.fired || f.Ack != s.acks {
		s.mark(Ack, s.acks, "")
		return Relay
	}
	s.mark(Ack, s.acks, f.String())
	switch f.Kind {
	case KillBefore:
		return DropAndKill // Fire sets fired
	case KillAfter:
		return RelayAndKill
	case Lose:
		s.fired = true
		return Swallow
	default:
		s.fired = true
		return RelayNegative
	}
}

// Fire kills the consumer and closes its connections.
func (s *Session) Fire() {
	s.mu.Lock()
	s.fired = true
	kill := s.kill
	s.mu.Unlock()
	if kill != nil {
		kill()
	}
	s.End()
}

// Track adds a connection to the session, or says it ended (the caller
// closes it then).
func (s *Session) Track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

// Cut closes the session's connections; later ones are still taken (a
// consumer that reconnects goes on in the same session).
func (s *Session) Cut() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// End closes the session's connections; later ones are refused.
func (s *Session) End() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.Cut()
}
