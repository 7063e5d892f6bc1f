package faults

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is what a fault does.
type Kind string

// The wire-level faults.
const (
	// CrashBefore cuts the connection before the round reaches the server:
	// the server never sees it, and an open transaction rolls back.
	CrashBefore Kind = "crash-before"
	// CrashAfter lets the round run on the server and loses its reply: at a
	// COMMIT this is the ambiguous commit (committed, yet an error for the
	// client).
	CrashAfter Kind = "crash-after"
	// CrashInCopy cuts the connection inside a COPY FROM STDIN after N
	// CopyData messages reached the server; the COPY rolls back.
	CrashInCopy Kind = "crash-in-copy"
	// Error answers the round with a synthetic error (SQLState) without
	// running it: 40001 and 40P01 are raised by the server itself, so an
	// open transaction is aborted exactly as a real one would be; 57P01 and
	// 08006 end the connection, as the real ones do.
	Error Kind = "error"
	// Pause holds the round, before it reaches the server, until Release.
	Pause Kind = "pause"
	// Delay holds the round for a while before it reaches the server.
	Delay Kind = "delay"
)

// kinds lists every fault kind.
var kinds = []Kind{CrashBefore, CrashAfter, CrashInCopy, Error, Pause, Delay}

// sqlStates are the errors Error can inject.
var sqlStates = map[string]string{
	"40001": "serialization_failure",
	"40P01": "deadlock_detected",
	"57P01": "admin_shutdown",
	"08006": "connection_failure",
}

// Point names a round of an attempt's conversation with the server, by
// number or semantically. Exactly one way is set.
type Point struct {
	Round int // the n-th round of the attempt, from 1
	// Commit: the n-th round that commits: one holding COMMIT (or END), or
	// one running a writing statement outside a transaction block, which
	// commits on its own.
	Commit int
	Copy   int // the n-th COPY FROM STDIN round
	// Tx and Stmt: the Stmt-th round inside the Tx-th explicit transaction
	// (the round that opens it, BEGIN, is not counted; its COMMIT is).
	Tx, Stmt int
}

// AtRound, AtCommit and AtCopy name a point.
func AtRound(n int) Point  { return Point{Round: n} }
func AtCommit(n int) Point { return Point{Commit: n} }
func AtCopy(n int) Point   { return Point{Copy: n} }

// AtStmt names the stmt-th round inside the tx-th transaction.
func AtStmt(tx, stmt int) Point { return Point{Tx: tx, Stmt: stmt} }

func (p Point) String() string {
	switch {
	case p.Commit > 0:
		return "commit " + strconv.Itoa(p.Commit)
	case p.Copy > 0:
		return "copy " + strconv.Itoa(p.Copy)
	case p.Tx > 0:
		return fmt.Sprintf("tx %d stmt %d", p.Tx, p.Stmt)
	default:
		return "round " + strconv.Itoa(p.Round)
	}
}

// Fault is one fault of a plan.
type Fault struct {
	Kind     Kind
	At       Point
	SQLState string        // Error only
	CopyData int           // CrashInCopy only: CopyData messages let through
	Delay    time.Duration // Delay only
}

// String prints the fault as one readable phrase that ParsePlan reads back:
// "crash-before at round 3", "crash-after at commit 1", "crash-in-copy 5 at
// copy 1", "error 40001 at tx 1 stmt 2", "pause at round 2", "delay 10ms at
// round 4".
func (f Fault) String() string {
	arg := ""
	switch f.Kind {
	case Error:
		arg = " " + f.SQLState
	case CrashInCopy:
		arg = " " + strconv.Itoa(f.CopyData)
	case Delay:
		arg = " " + f.Delay.String()
	}
	return string(f.Kind) + arg + " at " + f.At.String()
}

// IsCrash reports whether the fault ends the attempt's connections.
func (f Fault) IsCrash() bool {
	return f.Kind == CrashBefore || f.Kind == CrashAfter || f.Kind == CrashInCopy ||
		(f.Kind == Error && (f.SQLState == "57P01" || f.SQLState == "08006"))
}

// Plan is the wire faults of one attempt, as plain data. The first fault
// whose point a round matches fires; a round matches at most one fault.
type Plan []Fault

// String prints the plan as one line ("none" when empty) that ParsePlan
// reads back.
func (p Plan) String() string {
	if len(p) == 0 {
		return "none"
	}
	parts := make([]string, len(p))
	for i, f := range p {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ")
}

// ParsePlan reads what Plan.String prints.
func ParsePlan(s string) (Plan, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var p Plan
	for _, part := range strings.Split(s, ";") {
		f, err := parseFault(part)
		if err != nil {
			return nil, err
		}
		p = append(p, f)
	}
	return p, nil
}

// parseFault reads what Fault.String prints.
func parseFault(s string) (Fault, error) {
	s = strings.TrimSpace(s)
	head, at, ok := strings.Cut(s, " at ")
	if !ok {
		return Fault{}, fmt.Errorf("faults: %q: want \"<kind> [arg] at <point>\", e.g. \"crash-after at commit 1\"", s)
	}
	words := strings.Fields(head)
	if len(words) == 0 {
		return Fault{}, fmt.Errorf("faults: %q: no fault kind", s)
	}
	f := Fault{Kind: Kind(words[0])}
	args := words[1:]
	want := 0
	switch f.Kind {
	case CrashBefore, CrashAfter, Pause:
	case Error:
		want = 1
		if len(args) == 1 {
			f.SQLState = args[0]
			if _, ok := sqlStates[f.SQLState]; !ok {
				return Fault{}, fmt.Errorf("faults: %q: SQLSTATE %s cannot be injected; use one of 40001, 40P01, 57P01, 08006", s, f.SQLState)
			}
		}
	case CrashInCopy:
		want = 1
		if len(args) == 1 {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return Fault{}, fmt.Errorf("faults: %q: %q is not a number of CopyData messages", s, args[0])
			}
			f.CopyData = n
		}
	case Delay:
		want = 1
		if len(args) == 1 {
			d, err := time.ParseDuration(args[0])
			if err != nil {
				return Fault{}, fmt.Errorf("faults: %q: %w", s, err)
			}
			f.Delay = d
		}
	default:
		return Fault{}, fmt.Errorf("faults: %q: unknown fault kind %q; want one of %v", s, words[0], kinds)
	}
	if len(args) != want {
		return Fault{}, fmt.Errorf("faults: %q: %s takes %d argument(s)", s, f.Kind, want)
	}
	p, err := parsePoint(at)
	if err != nil {
		return Fault{}, fmt.Errorf("faults: %q: %w", s, err)
	}
	f.At = p
	return f, nil
}

func parsePoint(s string) (Point, error) {
	w := strings.Fields(s)
	num := func(x string) (int, error) {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a positive number", x)
		}
		return n, nil
	}
	var err error
	var p Point
	switch {
	case len(w) == 2 && w[0] == "round":
		p.Round, err = num(w[1])
	case len(w) == 2 && w[0] == "commit":
		p.Commit, err = num(w[1])
	case len(w) == 2 && w[0] == "copy":
		p.Copy, err = num(w[1])
	case len(w) == 4 && w[0] == "tx" && w[2] == "stmt":
		if p.Tx, err = num(w[1]); err == nil {
			p.Stmt, err = num(w[3])
		}
	default:
		err = errors.New(`a point is "round N", "commit N", "copy N" or "tx N stmt M"`)
	}
	return p, err
}

// MarshalText writes the plan as its one-line form, for scenario files.
func (p Plan) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (p *Plan) UnmarshalText(b []byte) error {
	q, err := ParsePlan(string(b))
	*p = q
	return err
}

// MarshalText writes the point as "round 3", "commit 1", ...
func (p Point) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (p *Point) UnmarshalText(b []byte) error {
	q, err := parsePoint(string(b))
	*p = q
	return err
}
