package natsjs

import (
	"sort"
	"strings"
	"sync"

	"github.com/idemcheck/idemcheck/harness/acks"
)

// apiPrefix begins the subject of every JetStream API request.
const apiPrefix = "$JS.API."

// Session is what one consumer process did through the proxy: its
// deliveries, acks and fault (acks.Session), and the pull requests it
// made and streams it asked about.
type Session struct {
	*acks.Session

	mu      sync.Mutex
	pulls   int             // pull requests ($JS.API.CONSUMER.MSG.NEXT)
	streams map[string]bool // the streams its JetStream API requests named
}

func newSession(fault *acks.Fault, kill func()) *Session {
	return &Session{Session: acks.NewSession(fault, kill)}
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
	pull := false
	switch {
	case len(toks) >= 4 && toks[0] == "CONSUMER" && toks[1] == "MSG" && toks[2] == "NEXT":
		stream, pull = toks[3], true
	case len(toks) >= 4 && toks[0] == "CONSUMER" && toks[1] == "DURABLE":
		stream = toks[3]
	case len(toks) >= 3 && (toks[0] == "CONSUMER" || toks[0] == "STREAM"):
		stream = toks[2]
	}
	if stream == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pull {
		s.pulls++
	}
	if s.streams == nil {
		s.streams = map[string]bool{}
	}
	s.streams[stream] = true
}
