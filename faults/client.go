package faults

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/internal/sqlsplit"
)

// clientPump reads the client's messages. Messages of a round are held
// until the round's end (Sync or Query) or a Flush, then its fault is
// decided and they go to the server together. COPY data flows through.
func (s *session) clientPump() {
	var cur *round
	var held []byte
	for {
		m, err := readMessage(s.cr)
		if err != nil {
			return
		}
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready || m.typ == 'p' { // authentication
			if err := s.toServer(m.raw, true); err != nil {
				return
			}
			continue
		}
		switch m.typ {
		case 'X': // Terminate
			if s.pooled == nil {
				s.toServer(m.raw, true)
			}
			return
		case 'd', 'c', 'f': // CopyData, CopyDone, CopyFail
			if !s.copyMessage(m) {
				return
			}
			continue
		}
		if cur == nil {
			cur = &round{}
		}
		sql, ok, err := clientSQL(m, s.prepared)
		if err != nil {
			s.client.Write(errorResponse("FATAL", "08P01", "idemcheck proxy: "+err.Error()))
			return
		}
		if ok && !strings.Contains(cur.ev.SQL, sql) {
			if cur.ev.SQL != "" {
				cur.ev.SQL += "; "
			}
			cur.ev.SQL += sql
		}
		held = append(held, m.raw...)
		if m.typ == 'Q' || m.typ == 'E' {
			cur.executes = true
		}
		end := m.typ == 'S' || m.typ == 'Q'
		if !end && m.typ != 'H' {
			continue
		}
		if !cur.sent {
			if !s.begin(cur) {
				return
			}
		}
		if cur.fault != nil && cur.fault.Kind == Error {
			if !s.inject(cur) {
				return
			}
		} else if err := s.toServer(held, true); err != nil {
			return
		}
		cur.written = true
		held = held[:0]
		if end {
			cur = nil
		}
	}
}

// copyMessage passes on a message of the COPY the client is sending
// (CopyData, CopyDone, CopyFail), or crashes the attempt when the COPY's
// round crashes after as many CopyData messages. It returns false when
// the pump is to end.
func (s *session) copyMessage(m message) bool {
	r := s.copyRound()
	if r != nil && r.fault != nil && r.fault.Kind == CrashInCopy && r.copyData >= r.fault.CopyData {
		s.fire(r, r.fault)
		s.a.crash(r.fault)
		return false
	}
	if r != nil && m.typ == 'd' {
		s.mu.Lock()
		r.copyData++
		s.mu.Unlock()
	}
	if r != nil && m.typ != 'd' {
		r.copyDone = true
	}
	return s.toServer(m.raw, s.cr.Buffered() == 0) == nil
}

// begin numbers a round that is about to reach the server, finds its
// fault and applies what happens before the server sees it. It returns
// false when the attempt crashed.
func (s *session) begin(r *round) bool {
	a := s.a
	s.mu.Lock()
	before := s.status
	s.mu.Unlock()
	stmts := sqlsplit.Split(r.ev.SQL)
	commit := false
	for _, st := range stmts {
		commit = commit || sqlsplit.IsCommit(st) || (before == 'I' && sqlsplit.Writes(st))
		r.copyIn = r.copyIn || isCopyIn(st)
	}
	commit = commit && r.executes
	a.mu.Lock()
	a.rounds++
	r.ev = Event{Conn: s.id, Round: a.rounds, SQL: sqlsplit.Abbreviate(r.ev.SQL, 120), Before: before}
	var p Point
	p.Round = a.rounds
	if commit {
		a.commits++
		p.Commit = a.commits
	}
	if r.copyIn {
		a.copies++
		p.Copy = a.copies
	}
	if before == 'T' || before == 'E' {
		s.stmtInTx++
		p.Tx, p.Stmt = a.txs, s.stmtInTx
	} else {
		s.stmtInTx = 0
	}
	r.ev.Commit, r.ev.Copy, r.ev.Tx, r.ev.Stmt = p.Commit, p.Copy, p.Tx, p.Stmt
	for i := range a.plan {
		if matches(a.plan[i].At, p) {
			f := a.plan[i]
			r.fault = &f
			break
		}
	}
	r.sent = true
	s.mu.Lock()
	s.inflight = append(s.inflight, r)
	s.mu.Unlock()
	a.mu.Unlock()
	return s.before(r)
}

// before applies what r's fault does before the server sees the round:
// a crash, a pause until Release (or a kill), a delay. It returns false
// when the attempt crashed.
func (s *session) before(r *round) bool {
	a := s.a
	if r.fault == nil {
		return true
	}
	switch r.fault.Kind {
	case CrashBefore:
		s.fire(r, r.fault)
		s.a.crash(r.fault)
		return false
	case Pause:
		s.fire(r, nil)
		a.mu.Lock()
		select {
		case <-a.paused:
		default:
			close(a.paused)
		}
		a.mu.Unlock()
		select {
		case <-a.release:
		case <-a.crashCh:
			// Killed while stalled: the round never reached the server.
			a.mu.Lock()
			a.events = append(a.events, r.ev)
			a.mu.Unlock()
			return false
		}
	case Delay:
		s.fire(r, nil)
		select {
		case <-time.After(r.fault.Delay):
		case <-a.crashCh:
			return false
		}
	}
	return true
}

func matches(want, got Point) bool {
	switch {
	case want.Commit > 0:
		return want.Commit == got.Commit
	case want.Copy > 0:
		return want.Copy == got.Copy
	case want.Tx > 0:
		return want.Tx == got.Tx && want.Stmt == got.Stmt
	default:
		return want.Round == got.Round
	}
}

// fire records that r's fault fired (f nil: a non-crash fault recorded
// when the round ends). Crash faults complete the round's event now.
func (s *session) fire(r *round, f *Fault) {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	r.ev.Fault = r.fault
	if f == nil {
		a.fired = append(a.fired, *r.fault)
		return
	}
	if f.IsCrash() {
		a.events = append(a.events, r.ev)
	}
}

// inject answers r with its synthetic error. Serialization failures and
// deadlocks are raised by the server itself (so an open transaction is
// aborted for real); admin shutdown and connection failure end the
// connection, as they do for real.
func (s *session) inject(r *round) bool {
	f := r.fault
	name := sqlStates[f.SQLState]
	switch f.SQLState {
	case "57P01", "08006":
		s.fire(r, f)
		// Crashed from now on: a client that reads the FATAL and exits
		// must find its attempt crashed, even before crash has run.
		s.a.mu.Lock()
		s.a.ending = true
		s.a.mu.Unlock()
		s.client.Write(errorResponse("FATAL", f.SQLState, "idemcheck: injected "+name))
		s.a.crash(f)
		return false
	}
	s.a.mu.Lock()
	s.a.fired = append(s.a.fired, *f)
	r.ev.Fault = f
	s.a.mu.Unlock()
	sql := fmt.Sprintf(`DO $idemcheck$ BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = 'idemcheck: injected %s'; END $idemcheck$`, f.SQLState, name)
	q := make([]byte, 5, 6+len(sql))
	q[0] = 'Q'
	q = append(q, sql...)
	q = append(q, 0)
	binary.BigEndian.PutUint32(q[1:5], uint32(len(q)-1))
	return s.toServer(q, true) == nil
}

// copyRound is the round whose COPY data the client is sending.
func (s *session) copyRound() *round {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.inflight) - 1; i >= 0; i-- {
		if s.inflight[i].copyIn {
			return s.inflight[i]
		}
	}
	return nil
}
