package faults

import (
	"encoding/binary"
)

// serverPump relays the server's messages and completes rounds at
// ReadyForQuery. The reply of a CrashAfter round is swallowed, then the
// attempt crashes.
func (s *session) serverPump() error {
	for {
		m, err := readMessage(s.sr)
		if err != nil {
			return err
		}
		if m.typ == 'K' && len(m.raw) >= 9 {
			s.a.mu.Lock()
			s.a.pids = append(s.a.pids, binary.BigEndian.Uint32(m.raw[5:9]))
			s.a.mu.Unlock()
		}
		s.mu.Lock()
		if !s.ready {
			if m.typ == 'Z' {
				s.ready = true
				s.status = m.raw[5]
			}
			s.mu.Unlock()
			if err := s.toClient(m.raw); err != nil {
				return err
			}
			continue
		}
		var r *round
		if len(s.inflight) > 0 {
			r = s.inflight[0]
		}
		s.mu.Unlock()
		if r != nil {
			tag, code, err := serverTag(m)
			if err != nil {
				return err
			}
			if tag != "" {
				r.ev.Tags = append(r.ev.Tags, tag)
			}
			if code != "" && r.ev.SQLState == "" {
				r.ev.SQLState = code
			}
		}
		// A CrashAfter round's reply is swallowed, except the COPY
		// sub-protocol's messages, without which the client would never
		// send its data (CopyInResponse) or read the server's (COPY TO):
		// the round would never end and both sides would wait forever.
		swallow := r != nil && r.fault != nil && r.fault.Kind == CrashAfter && !copyFlow(m.typ)
		if m.typ == 'Z' && r != nil {
			status := m.raw[5]
			r.ev.After = status
			r.ev.Committed = committed(r.ev)
			s.mu.Lock()
			r.ev.CopyData = r.copyData
			s.status = status
			s.inflight = s.inflight[1:]
			s.mu.Unlock()
			s.a.mu.Lock()
			if r.ev.Before == 'I' && status == 'T' {
				s.a.txs++
			}
			if swallow {
				r.ev.Fault = r.fault
				s.a.fired = append(s.a.fired, *r.fault)
			}
			s.a.events = append(s.a.events, r.ev)
			s.a.mu.Unlock()
			if swallow {
				s.a.crash(nil)
				return nil // the server is idle: the backend can be reset
			}
		}
		if swallow {
			continue
		}
		if err := s.toClient(m.raw); err != nil {
			if m.typ == 'Z' {
				return nil // the server is idle; only the client is gone
			}
			return err
		}
	}
}

// copyFlow reports whether a server message of type typ drives a COPY:
// CopyInResponse, CopyOutResponse, CopyBothResponse, and COPY TO's
// CopyData and CopyDone.
func copyFlow(typ byte) bool {
	switch typ {
	case 'G', 'H', 'W', 'd', 'c':
		return true
	}
	return false
}

// committed judges from a completed round whether it committed something.
func committed(e Event) bool {
	if e.SQLState != "" && e.After != 'I' {
		return false
	}
	for _, t := range e.Tags {
		if t == "COMMIT" {
			return true
		}
	}
	return e.Before == 'I' && e.After == 'I' && e.SQLState == "" && len(e.Tags) > 0
}
