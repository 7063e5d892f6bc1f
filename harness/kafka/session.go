package kafka

import (
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// CommitFaultKind says what the proxy does to the OffsetCommit request a
// CommitFault names.
type CommitFaultKind int

const (
	// KillBeforeCommit kills the consumer while its commit is held in the
	// proxy: the commit is never applied.
	KillBeforeCommit CommitFaultKind = iota + 1
	// KillAfterCommit lets the commit through and kills the consumer
	// before the response reaches it: applied, and the consumer never
	// learns so (the ambiguous commit).
	KillAfterCommit
	// FailCommit answers the commit with an error code on every
	// partition without applying it, as a coordinator does in a
	// rebalance (REBALANCE_IN_PROGRESS), after a move (NOT_COORDINATOR)
	// or to a fenced member (ILLEGAL_GENERATION).
	FailCommit
)

// CommitFault is one fault at a consumer's OffsetCommit requests: the
// Commit-th request of a session (from 1) meets Kind.
type CommitFault struct {
	Kind   CommitFaultKind
	Commit int
	Code   int16 // FailCommit only: the error code, as kerr numbers them
}

func (f CommitFault) String() string {
	switch f.Kind {
	case KillBeforeCommit:
		return fmt.Sprintf("kill before offset commit %d is applied", f.Commit)
	case KillAfterCommit:
		return fmt.Sprintf("kill after offset commit %d is applied, its response lost", f.Commit)
	case FailCommit:
		return fmt.Sprintf("offset commit %d fails with %s", f.Commit, ErrorName(f.Code))
	}
	return fmt.Sprintf("CommitFault(%d)", f.Kind)
}

// FetchFault is one fault at a consumer's polls: the Poll-th Fetch
// response of a session (from 1) that carries records answers every
// partition with Code instead, its records withheld, as a broker does
// when leadership moved (NOT_LEADER_OR_FOLLOWER) or its metadata is
// behind (UNKNOWN_TOPIC_OR_PARTITION). A consumer must fetch those
// records again, not skip them.
type FetchFault struct {
	Poll int
	Code int16 // the error code, as kerr numbers them
}

func (f FetchFault) String() string {
	return fmt.Sprintf("poll %d fails with %s", f.Poll, ErrorName(f.Code))
}

// Fault is the one fault a session applies: at an offset commit, at a
// poll, or none (the zero Fault).
type Fault struct {
	Commit *CommitFault
	Fetch  *FetchFault
}

func (f Fault) String() string {
	switch {
	case f.Commit != nil:
		return f.Commit.String()
	case f.Fetch != nil:
		return f.Fetch.String()
	}
	return "no fault"
}

// Session is what one consumer process did through the proxy: the
// Fetch and OffsetCommit requests it sent, the polls that brought it
// records, and whether its fault fired.
type Session struct {
	fault Fault
	kill  func()
	// clock, when set, says where the consumer is in its other
	// conversation (its PostgreSQL rounds so far), to place polls and
	// commits on a timeline.
	clock func() int

	mu      sync.Mutex
	marks   []Mark
	commits int
	fetches int
	polls   int             // Fetch responses that carried records
	topics  map[string]bool // the topics its Metadata requests named
	fired   bool
	links   []*link
	ended   bool
}

func newSession(fault Fault, kill func()) *Session {
	return &Session{fault: fault, kill: kill}
}

// MarkKind says which request a Mark stands for.
type MarkKind int

const (
	// Poll is a Fetch response that carried records to the consumer.
	Poll MarkKind = iota + 1
	// Commit is an OffsetCommit request.
	Commit
)

// Mark is one poll or offset commit on a timeline: after how many of the
// consumer's PostgreSQL rounds it happened, its number among the
// session's polls or commits (from 1), the records a poll brought, and
// the fault that met it ("" for none).
type Mark struct {
	Kind       MarkKind
	AfterRound int
	N          int
	Records    int // Poll only
	Fault      string
}

func (m Mark) String() string {
	s := fmt.Sprintf("offset commit %d", m.N)
	if m.Kind == Poll {
		s = fmt.Sprintf("poll %d: %d records", m.N, m.Records)
	}
	if m.Fault != "" {
		s += ": " + m.Fault
	}
	return s
}

// SetClock makes the session place its polls and commits by clock (see
// Mark).
func (s *Session) SetClock(clock func() int) {
	s.mu.Lock()
	s.clock = clock
	s.mu.Unlock()
}

// Marks are the session's polls and OffsetCommit requests, in order.
func (s *Session) Marks() []Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mark(nil), s.marks...)
}

// Commits counts the OffsetCommit requests the session's consumer sent.
func (s *Session) Commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// Fetches counts its Fetch requests.
func (s *Session) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Polls counts the Fetch responses that carried it records (a fault's
// withheld ones included).
func (s *Session) Polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// Topics lists the topics the consumer asked the brokers about (in its
// Metadata requests): a consumer of the wrong topic shows here.
func (s *Session) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.topics))
	for t := range s.topics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Fired tells whether the session's fault fired.
func (s *Session) Fired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// End closes the session's connections; later ones are refused.
func (s *Session) End() { s.closeConns() }

// action is what the proxy does with one request.
type action int

const (
	relay          action = iota
	drop                  // kill the consumer, close the connection
	answer                // answer with the fault's error, do not relay
	killOnResponse        // relay, and kill when its response comes
)

// observe counts req and decides what becomes of it.
func (s *Session) observe(req request) action {
	s.mu.Lock()
	switch req.key {
	case int16(kmsg.Fetch):
		s.fetches++
		s.mu.Unlock()
		return relay
	case int16(kmsg.Metadata):
		s.noteTopics(req)
		s.mu.Unlock()
		return relay
	case int16(kmsg.OffsetCommit):
		s.commits++
		m := Mark{Kind: Commit, N: s.commits}
		if s.clock != nil {
			m.AfterRound = s.clock()
		}
		if f := s.fault.Commit; f != nil && !s.fired && f.Commit == s.commits {
			m.Fault = f.String()
		}
		s.marks = append(s.marks, m)
	default:
		s.mu.Unlock()
		return relay
	}
	f := s.fault.Commit
	if f == nil || s.fired || f.Commit != s.commits {
		s.mu.Unlock()
		return relay
	}
	switch f.Kind {
	case KillBeforeCommit:
		s.mu.Unlock()
		s.fire()
		return drop
	case FailCommit:
		s.fired = true
		s.mu.Unlock()
		return answer
	default:
		s.mu.Unlock()
		return killOnResponse
	}
}

// polled counts a Fetch response that carries records and tells
// whether the session's FetchFault meets it (it fires then).
func (s *Session) polled(records int) (fail *FetchFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	m := Mark{Kind: Poll, N: s.polls, Records: records}
	if s.clock != nil {
		m.AfterRound = s.clock()
	}
	if f := s.fault.Fetch; f != nil && !s.fired && f.Poll == s.polls {
		s.fired, fail = true, f
		m.Fault = f.String()
	}
	s.marks = append(s.marks, m)
	return fail
}

// noteTopics records the topic names of a Metadata request (s.mu held).
func (s *Session) noteTopics(req request) {
	var m kmsg.MetadataRequest
	m.SetVersion(req.version)
	if m.ReadFrom(req.body) != nil {
		return
	}
	if s.topics == nil {
		s.topics = map[string]bool{}
	}
	for _, t := range m.Topics {
		if t.Topic != nil {
			s.topics[*t.Topic] = true
		}
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
