package natsjs

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// apiPrefix begins the subject of every JetStream API request.
const apiPrefix = "$JS.API."

// AckFaultKind says what the proxy does to the ack an AckFault names.
type AckFaultKind int

const (
	// KillBeforeAck kills the consumer as its ack is about to leave it:
	// the ack never reaches the server, which delivers the message again
	// after AckWait.
	KillBeforeAck AckFaultKind = iota + 1
	// KillAfterAck lets the ack go and kills the consumer right after.
	KillAfterAck
	// LoseAck loses the ack on the way: the consumer goes on believing
	// it acked, and the server delivers the message again after AckWait.
	LoseAck
	// NakAck turns the ack into a negative one: the server delivers the
	// message again at once, as after a requeue.
	NakAck
)

// AckFault is one fault at a consumer's acks: its Ack-th positive ack
// (from 1) meets Kind.
type AckFault struct {
	Kind AckFaultKind
	Ack  int
}

func (f AckFault) String() string {
	switch f.Kind {
	case KillBeforeAck:
		return fmt.Sprintf("kill before ack %d leaves", f.Ack)
	case KillAfterAck:
		return fmt.Sprintf("kill right after ack %d left", f.Ack)
	case LoseAck:
		return fmt.Sprintf("ack %d lost on the way", f.Ack)
	case NakAck:
		return fmt.Sprintf("ack %d turned into a negative ack", f.Ack)
	}
	return fmt.Sprintf("AckFault(%d)", f.Kind)
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

// Session is what one consumer process did through the proxy: the
// messages delivered to it, the acks it sent, and whether its fault
// fired.
type Session struct {
	fault *AckFault
	kill  func()

	mu         sync.Mutex
	clock      func() int
	marks      []Mark
	deliveries int
	pulls      int             // pull requests ($JS.API.CONSUMER.MSG.NEXT)
	streams    map[string]bool // the streams its JetStream API requests named
	acks       int
	naks       int // negative acks and the like, as it sent them
	fired      bool
	links      []*link
	ended      bool
}

func newSession(fault *AckFault, kill func()) *Session {
	return &Session{fault: fault, kill: kill}
}

// SetClock makes the session place its deliveries and acks by clock
// (see Mark).
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

// Pulls counts its pull requests for messages.
func (s *Session) Pulls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pulls
}

// Streams lists the streams the consumer's JetStream API requests named:
// a consumer of the wrong stream shows here.
func (s *Session) Streams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.streams))
	for name := range s.streams {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// requested notes a JetStream API request by its subject: the stream it
// names, and whether it pulls messages.
func (s *Session) requested(subject string) {
	rest, ok := strings.CutPrefix(subject, apiPrefix)
	if !ok {
		return
	}
	// CONSUMER.MSG.NEXT.<stream>.<consumer>, CONSUMER.INFO.<stream>.<consumer>,
	// CONSUMER.DURABLE.CREATE.<stream>.<consumer>, CONSUMER.CREATE.<stream>...,
	// STREAM.INFO.<stream>, ...
	toks := strings.Split(rest, ".")
	var stream string
	switch {
	case len(toks) >= 4 && toks[0] == "CONSUMER" && toks[1] == "MSG" && toks[2] == "NEXT":
		stream = toks[3]
		s.mu.Lock()
		s.pulls++
		s.mu.Unlock()
	case len(toks) >= 4 && toks[0] == "CONSUMER" && toks[1] == "DURABLE":
		stream = toks[3]
	case len(toks) >= 3 && (toks[0] == "CONSUMER" || toks[0] == "STREAM"):
		stream = toks[2]
	}
	if stream == "" {
		return
	}
	s.mu.Lock()
	if s.streams == nil {
		s.streams = map[string]bool{}
	}
	s.streams[stream] = true
	s.mu.Unlock()
}

// Acks counts its positive acks.
func (s *Session) Acks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks
}

// Naks counts its other acks: negative, in progress, terminate.
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

// End closes the session's connections; later ones are refused.
func (s *Session) End() { s.closeConns() }

func (s *Session) mark(kind MarkKind, n int, fault string) {
	m := Mark{Kind: kind, N: n, Fault: fault}
	if s.clock != nil {
		m.AfterRound = s.clock()
	}
	s.marks = append(s.marks, m)
}

func (s *Session) delivered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries++
	s.mark(Delivery, s.deliveries, "")
}

// action is what the proxy does with one ack.
type action int

const (
	relay     action = iota
	drop             // kill the consumer, close the connection
	lose             // do not relay it
	nak              // relay a negative ack instead
	killAfter        // relay it, then kill the consumer
)

// acked counts an ack of payload body and decides what becomes of it.
func (s *Session) acked(body []byte) action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(body) > 0 && !bytes.Equal(body, []byte("+ACK")) && !bytes.HasPrefix(body, []byte("+NXT")) {
		s.naks++
		return relay
	}
	s.acks++
	f := s.fault
	if f == nil || s.fired || f.Ack != s.acks {
		s.mark(Ack, s.acks, "")
		return relay
	}
	s.mark(Ack, s.acks, f.String())
	switch f.Kind {
	case KillBeforeAck:
		return drop // fire sets fired
	case KillAfterAck:
		return killAfter
	case LoseAck:
		s.fired = true
		return lose
	default:
		s.fired = true
		return nak
	}
}

// fire kills the consumer and cuts its connections.
func (s *Session) fire() {
	s.mu.Lock()
	s.fired = true
	kill := s.kill
	s.mu.Unlock()
	if kill != nil {
		kill()
	}
	s.closeConns()
}

// track adds a connection to the session, or says it ended.
func (s *Session) track(k *link) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.links = append(s.links, k)
	return true
}

func (s *Session) closeConns() {
	s.mu.Lock()
	s.ended = true
	links := s.links
	s.links = nil
	s.mu.Unlock()
	for _, k := range links {
		k.close()
	}
}
