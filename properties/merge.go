package properties

import (
	"errors"
	"fmt"
)

// ErrParts means the reports given to Merge are not the parts of one
// sharded certification.
var ErrParts = errors.New("properties: not the parts of one certification")

// Merge combines the reports of every part of a sharded certification
// (see Sharded), in any order, into the certificate the whole run gives:
// the same laws and verdicts, first failures numbered as the whole run
// numbers them. Per law: violated if any part violated it (with the
// counterexample of the earliest failing trial); else inconclusive or not
// run if a part says so; else held, once the faults fired and the crash
// points crashed over all parts (their union) meet the coverage minimum.
// The findings that settle a whole certificate (two clean runs that
// differ, a writer that fails without faults, the server gone) are then
// applied as Check applies them (settleLaws).
// Trials, shrink trials, fault counts and exhaustive points are summed
// (distinct states counted over all parts); the duration is the
// longest part's (parts run side by side). The error wraps ErrParts when
// the reports are not every part of one run (writer, seed, checks and
// part count must agree, each part present once).
func Merge(parts ...*Report) (*Report, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no parts given", ErrParts)
	}
	first := parts[0]
	of := max(first.Shard.Of, 1)
	seen := make([]bool, of+1)
	for _, p := range parts {
		switch {
		case p.Writer != first.Writer:
			return nil, fmt.Errorf("%w: writers %q and %q differ", ErrParts, first.Writer, p.Writer)
		case p.Seed != first.Seed || p.Checks != first.Checks:
			return nil, fmt.Errorf("%w: seed %d with %d checks and seed %d with %d checks differ: every part must run with the same --seed and --checks",
				ErrParts, first.Seed, first.Checks, p.Seed, p.Checks)
		case max(p.Shard.Of, 1) != of:
			return nil, fmt.Errorf("%w: part %s and part %s split the run differently", ErrParts, first.Shard, p.Shard)
		case p.MinCoverage != first.MinCoverage:
			return nil, fmt.Errorf("%w: minimum coverage %g and %g differ", ErrParts, first.MinCoverage, p.MinCoverage)
		case len(p.Laws) != len(first.Laws):
			return nil, fmt.Errorf("%w: %d and %d laws", ErrParts, len(first.Laws), len(p.Laws))
		}
		i := max(p.Shard.Index, 1)
		if seen[i] {
			return nil, fmt.Errorf("%w: part %d/%d given twice", ErrParts, i, of)
		}
		seen[i] = true
	}
	for i := 1; i <= of; i++ {
		if !seen[i] {
			return nil, fmt.Errorf("%w: part %d/%d is missing", ErrParts, i, of)
		}
	}
	out := &Report{Writer: first.Writer, Target: first.Target, Seed: first.Seed, Checks: first.Checks, MinCoverage: first.MinCoverage}
	for _, p := range parts {
		out.Phases.add(p.Phases)
	}
	for i := range first.Laws {
		var laws []LawReport
		for _, p := range parts {
			if p.Laws[i].Law != first.Laws[i].Law {
				return nil, fmt.Errorf("%w: law %d is %s in one part and %s in another", ErrParts, i+1, first.Laws[i].Law, p.Laws[i].Law)
			}
			laws = append(laws, p.Laws[i])
		}
		lr, err := mergeLaw(laws, first.MinCoverage)
		if err != nil {
			return nil, err
		}
		out.Laws = append(out.Laws, lr)
	}
	settleLaws(out.Laws)
	return out, nil
}

// mergeLaw merges one law's reports from every part.
func mergeLaw(parts []LawReport, minCoverage float64) (LawReport, error) {
	out := LawReport{Law: parts[0].Law, Verdict: Held, Faults: map[Injection]int{}}
	claimed := 0
	var earliest *LawReport
	var cov []*Coverage
	var explored []*Explored
	for i := range parts {
		p := &parts[i]
		if p.Verdict == NotClaimed {
			out.Reason = p.Reason
			continue
		}
		claimed++
		out.Trials += p.Trials
		out.ShrinkTrials += p.ShrinkTrials
		out.InTx += p.InTx
		out.AtCommit += p.AtCommit
		out.AfterCommit += p.AfterCommit
		out.Duration = max(out.Duration, p.Duration)
		for k, n := range p.Faults {
			out.Faults[k] += n
		}
		if p.Coverage != nil {
			cov = append(cov, p.Coverage)
		}
		if p.Explored != nil {
			explored = append(explored, p.Explored)
		}
		switch p.Verdict {
		case Violated:
			if earliest == nil || earliest.Verdict != Violated || p.FirstFailure < earliest.FirstFailure {
				earliest = p
			}
		case Inconclusive, NotRun:
			// The first such part, or one whose finding settles the
			// certificate, so that settleLaws sees it whatever the order
			// of the parts.
			if earliest == nil || (earliest.Verdict != Violated && earliest.Failure == NoFailure && p.Failure != NoFailure) {
				earliest = p
			}
		}
	}
	switch {
	case claimed == 0:
		out.Verdict = NotClaimed
		return out, nil
	case claimed < len(parts):
		return out, fmt.Errorf("%w: %s is claimed in some parts only", ErrParts, out.Law)
	}
	out.Coverage = mergeCoverage(cov)
	ex, err := mergeExplored(explored) // a part that stopped at a smoke scenario explored nothing
	if err != nil {
		return out, err
	}
	out.Explored = ex
	if earliest != nil {
		out.Verdict, out.Reason, out.FirstFailure, out.Counterexample = earliest.Verdict, earliest.Reason, earliest.FirstFailure, earliest.Counterexample
		out.Failure, out.NondeterministicColumns = earliest.Failure, earliest.NondeterministicColumns
		return out, nil
	}
	if why := uncovered(specOf(out.Law), out.Faults, out.Trials, out.Coverage, minCoverage); why != "" {
		out.Verdict, out.Reason = Inconclusive, why
	}
	return out, nil
}

// mergeExplored joins the parts' exhaustive exploration of one law: the
// points summed, the distinct states counted over all parts (nil when no
// part explored).
func mergeExplored(parts []*Explored) (*Explored, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	out := *parts[0]
	out.Points, out.StateIDs = 0, nil
	ids := map[string]bool{}
	for _, p := range parts {
		if p.Bounds != out.Bounds || p.Scenarios != out.Scenarios {
			return nil, fmt.Errorf("%w: parts explored different families (%+v over %d batch lists, %+v over %d)", ErrParts, out.Bounds, out.Scenarios, p.Bounds, p.Scenarios)
		}
		out.Points += p.Points
		for _, id := range p.StateIDs {
			ids[id] = true
		}
	}
	if len(parts) > 1 {
		out.States = len(ids)
	}
	return &out, nil
}

// mergeCoverage joins the parts' coverage of one law: the classes any
// part saw, crashed if any part crashed them, each standing for the most
// points a part saw of it (nil when no part counted any).
func mergeCoverage(parts []*Coverage) *Coverage {
	if len(parts) == 0 {
		return nil
	}
	var order []string           // every class, in the order the parts list them
	crashed := map[string]bool{} // class: crashed by some part
	raw := map[string]int{}
	for _, cv := range parts {
		for _, list := range [][]string{cv.CrashedAt, cv.Uncovered} {
			for _, p := range list {
				if _, seen := crashed[p]; !seen {
					order = append(order, p)
					crashed[p] = false
				}
			}
		}
		for _, p := range cv.CrashedAt {
			crashed[p] = true
		}
		for p, n := range cv.RawPoints {
			raw[p] = max(raw[p], n)
		}
	}
	out := &Coverage{Points: len(order), RawPoints: raw}
	for _, p := range order {
		if crashed[p] {
			out.Crashed++
			out.CrashedAt = append(out.CrashedAt, p)
		} else {
			out.Uncovered = append(out.Uncovered, p)
		}
	}
	return out
}
