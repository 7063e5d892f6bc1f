package properties

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
)

// check checks every law that applies to consumers, one after another
// (each runs its trials Parallel at a time), and makes the report.
func (c *consumerChecker) check(ctx context.Context) (*Report, error) {
	r := &Report{Writer: c.name, Target: fmt.Sprintf("%s; %s", c.set.target, c.source()), Seed: c.set.seed,
		Checks: c.set.checks, Shard: c.set.shard, MinCoverage: c.set.minCoverage(), Laws: make([]LawReport, len(harness.AllLaws))}
	for i, law := range harness.AllLaws {
		r.Laws[i] = LawReport{Law: law, Verdict: NotClaimed, Reason: c.notClaimed(law)}
	}
	// A consumer that breaks its contract without faults settles it all.
	if _, err := c.clean(ctx, consumerSmokeBatches()); err != nil {
		if !errors.Is(err, consumer.ErrBadConsumer) {
			return nil, err
		}
		for _, law := range c.laws() {
			r.Laws[indexOf(law)] = LawReport{Law: law, Verdict: Inconclusive, Failure: WriterFails,
				Reason: "without faults, " + strings.TrimPrefix(err.Error(), consumer.ErrBadConsumer.Error()+": ")}
		}
		return r, fmt.Errorf("%w: without faults: %w", ErrWriterFails, err)
	}
	selected := selectedLaws(c.set.laws)
	var run []harness.Law
	for _, law := range c.laws() {
		if selected[law] {
			run = append(run, law)
		} else {
			r.Laws[indexOf(law)] = LawReport{Law: law, Verdict: NotRun, Reason: string(law) + " is not among the laws selected"}
		}
	}
	// Determinism first: two clean runs that differ make every other
	// verdict noise. The others then run together, each Parallel trials
	// at a time (a consumer trial mostly waits).
	if len(run) > 0 && run[0] == harness.Determinism {
		lr := c.checkLaw(ctx, harness.Determinism)
		r.Laws[indexOf(harness.Determinism)] = lr
		run = run[1:]
		if lr.Verdict == Violated || lr.Failure == ServerGone {
			settleAfter(r, lr, run)
			return r, lawsError(r.Laws)
		}
	}
	var wg sync.WaitGroup
	for _, law := range run {
		wg.Go(func() { r.Laws[indexOf(law)] = c.checkLaw(ctx, law) })
	}
	wg.Wait()
	for _, law := range run {
		if lr := r.Laws[indexOf(law)]; lr.Failure == ServerGone {
			for _, other := range run {
				if other != law {
					r.Laws[indexOf(other)] = inconclusive(LawReport{Law: other}, trial.ErrTargetGone)
				}
			}
			break
		}
	}
	return r, lawsError(r.Laws)
}

// source is where c's trials run: the Kafka broker or JetStream server.
func (c *consumerChecker) source() fmt.Stringer {
	switch {
	case c.runner.JetStream != nil:
		return c.runner.JetStream
	case c.runner.RabbitMQ != nil:
		return c.runner.RabbitMQ
	}
	return c.runner.Broker
}

// settleAfter marks the laws of rest NotRun: lr settled the certificate.
func settleAfter(r *Report, lr LawReport, rest []harness.Law) {
	for _, law := range rest {
		r.Laws[indexOf(law)] = LawReport{Law: law, Verdict: NotRun, Reason: "not run: " + string(lr.Law) + " settled the certificate: " + lr.Reason}
	}
}

// checkLaw runs law's smoke scenarios, then its random trials, Parallel
// at a time and judged in trial order; the first failure is shrunk and
// reported.
func (c *consumerChecker) checkLaw(ctx context.Context, law harness.Law) LawReport {
	start := time.Now()
	lr := c.searchLaw(ctx, law)
	lr.Duration = time.Since(start)
	return lr
}

// searchLaw is checkLaw without the timing.
func (c *consumerChecker) searchLaw(ctx context.Context, law harness.Law) LawReport {
	lr := LawReport{Law: law, Faults: map[Injection]int{}}
	plan, err := c.plan(ctx, law)
	if err != nil {
		return inconclusive(lr, err)
	}
	cov := newConsumerCoverage(law, c.queue())
	count := func(t consumerTrial) {
		clean, err := c.clean(ctx, t.sc.Batches)
		if err != nil || len(clean.Processes) == 0 {
			return
		}
		var ran []consumer.Process
		if t.obs != nil {
			ran = t.obs.Processes
		}
		cov.add(clean.Processes[0], t.sc, ran)
	}
	for start := 0; start < plan.total; start += c.set.parallel {
		end := min(start+c.set.parallel, plan.total)
		trials := make([]consumerTrial, end-start)
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Go(func() {
				sc, err := plan.scenario(i)
				if err != nil {
					trials[i-start] = consumerTrial{err: err}
					return
				}
				trials[i-start] = c.judge(ctx, sc)
			})
		}
		wg.Wait()
		for k, t := range trials {
			switch {
			case lr.Verdict != "": // a trial after the first failure
				c.release(ctx, t)
			case t.err != nil:
				lr = inconclusive(lr, t.err)
			case t.finding != nil:
				lr.Trials = start + k + 1 // this part's; Merge sums them
				lr.FirstFailure = plan.offset + lr.Trials
				injections(t.sc, lr.Faults)
				count(t)
				lr = c.violated(ctx, lr, t)
			default:
				injections(t.sc, lr.Faults)
				count(t)
				c.release(ctx, t)
			}
		}
		if lr.Verdict != "" {
			lr.Coverage, lr.Explored = cov.coverage(), c.explored(lr.Trials)
			return lr
		}
		lr.Trials = end
		if c.set.progress != nil {
			c.set.progress(law, lr.Trials, lr.Faults)
		}
	}
	lr.Explored = c.explored(lr.Trials)
	return c.held(lr, cov.coverage())
}

// explored says what exhaustive mode covered (nil in random mode): the
// scenarios run on how many batch lists. Distinct states are not counted:
// a consumer's tables name each trial's own topic, so only the comparison
// with the clean run (and its options) says which states are alike.
func (c *consumerChecker) explored(points int) *Explored {
	b := c.set.exhaustive
	if b == nil {
		return nil
	}
	return &Explored{Mode: "exhaustive", Bounds: *b, Scenarios: b.BatchSets + 1, Points: points}
}

// consumerSmokeBatches are the batches every smoke scenario produces, the
// batch writers' (smokeBatches): two batches, the first of three orders,
// the second of two, one of which is a newer version of an order of the
// first. Fixed, so that the smoke scenarios always have records to fault
// (a drawn list may have none).
func consumerSmokeBatches() []harness.Batch[harness.Order] {
	o := strategies.OrderOf
	return strategies.Sequenced([][]harness.Order{{o(1, 1), o(2, 1), o(3, 2)}, {o(1, 2), o(4, 1)}})
}

// lawPlan is the trials a law runs, in order: scenario(i) for i below
// total, numbered from offset+1 in the whole run.
type lawPlan struct {
	scenario      func(i int) (consumer.Scenario, error)
	total, offset int
}

// plan is law's smoke scenarios, then its random trials; a part of a
// sharded run (Sharded) runs its share of the random trials, part 1 the
// smoke scenarios too, numbered as the whole run numbers them.
func (c *consumerChecker) plan(ctx context.Context, law harness.Law) (lawPlan, error) {
	if b := c.set.exhaustive; b != nil {
		family, err := c.explore(ctx, law, *b)
		if err != nil {
			return lawPlan{}, err
		}
		from, to := c.set.shard.trials(len(family))
		return lawPlan{total: to - from, offset: from, scenario: func(i int) (consumer.Scenario, error) { return family[from+i], nil }}, nil
	}
	smoke, err := c.smoke(ctx, law, consumerSmokeBatches())
	if err != nil {
		return lawPlan{}, err
	}
	from, to := c.set.shard.trials(c.set.checks)
	offset := 0
	if !c.set.shard.whole() && c.set.shard.Index > 1 {
		offset = len(smoke) + from
		smoke = nil
	}
	return lawPlan{total: len(smoke) + to - from, offset: offset, scenario: func(i int) (consumer.Scenario, error) {
		if i < len(smoke) {
			return smoke[i], nil
		}
		return c.draw(ctx, law, trialSeed(c.set.seed, from+i-len(smoke)+1))
	}}, nil
}

// held is lr passing with coverage cv: held, or inconclusive below the
// minimum coverage (a part applies none: Merge applies it to the union).
func (c *consumerChecker) held(lr LawReport, cv *Coverage) LawReport {
	lr.Verdict, lr.Coverage = Held, cv
	// Exhaustive mode tried every point of its family: no minimum.
	if cv != nil && c.set.shard.whole() && c.set.exhaustive == nil && float64(cv.Crashed) < c.set.minCoverage()*float64(cv.Points) {
		lr.Verdict = Inconclusive
		lr.Reason = fmt.Sprintf("only %d of the %d classes of the consumer's fault points (%d points) were hit (%.0f%%, below the minimum coverage of %.0f%%); never hit: %s; run more trials",
			cv.Crashed, cv.Points, cv.Raw(), 100*cv.Fraction(), 100*c.set.minCoverage(), cv.uncoveredList(8))
	}
	return lr
}

// inconclusive is lr ended by an error that is no finding.
func inconclusive(lr LawReport, err error) LawReport {
	lr.Verdict, lr.Reason = Inconclusive, err.Error()
	if errors.Is(err, trial.ErrTargetGone) {
		lr.Failure, lr.cause = ServerGone, err
	}
	return lr
}

// violated shrinks the failing trial t and reports it.
func (c *consumerChecker) violated(ctx context.Context, lr LawReport, t consumerTrial) LawReport {
	if lr.Law == harness.Determinism {
		lr.Verdict, lr.Failure, lr.Reason = Violated, Nondeterministic, "two clean runs of the same records differ"
		lr.Counterexample = c.counterexample(ctx, lr.Law, t)
		return lr
	}
	t, lr.ShrinkTrials = c.shrink(ctx, t)
	lr.Verdict, lr.Failure, lr.Reason = Violated, t.finding.kind, t.finding.summary
	lr.Counterexample = c.counterexample(ctx, lr.Law, t)
	return lr
}

// counterexample renders a failing trial, keeping its sandbox unless
// DiscardFaultyStates.
func (c *consumerChecker) counterexample(ctx context.Context, law harness.Law, t consumerTrial) *Counterexample {
	records := 0
	for _, b := range t.sc.Batches {
		records += len(b.Records)
	}
	var partitions map[string]int32
	if t.obs != nil {
		partitions = t.obs.Partitions
	}
	ce := &Counterexample{Law: law, Summary: t.finding.summary, Scenario: renderConsumerScenario(t.sc, partitions),
		Records: records, Batches: len(t.sc.Batches), Processes: processes(t),
		Replay: fmt.Sprintf("properties.Seed(%d), or idemcheck certify --consumer ... --seed %d, repeats these trials", c.set.seed, c.set.seed)}
	if t.finding.diff != nil {
		ce.Diff = t.finding.diff.String()
	}
	if t.obs != nil {
		var tl []string
		for i, p := range t.obs.Processes {
			tl = append(tl, fmt.Sprintf("consumer process %d: %v", i+1, p))
			ce.Steps = append(ce.Steps, laneOf(i, p))
		}
		ce.Timeline = strings.Join(tl, "\n")
		if c.set.discardFaulty {
			t.obs.Release(ctx)
		} else {
			t.obs.Sandbox.Keep()
			ce.Sandbox, ce.DropSandbox = t.obs.Sandbox.String(), t.obs.Sandbox.DropSQL()
		}
	}
	return ce
}

// processes counts a trial's consumer processes: those that ran, or for
// a trial that ended early those it would have run.
func processes(t consumerTrial) int {
	if t.obs != nil {
		return len(t.obs.Processes)
	}
	n := len(t.sc.Faults) + 1
	if t.sc.Zombie != nil {
		n += 2
	}
	if t.sc.Rewind {
		n++
	}
	return n
}

// laneOf is consumer process i as a lane of the certificate's timeline:
// its PostgreSQL rounds, its fault, its polls and offset commits, how it
// ended.
func laneOf(i int, p consumer.Process) trial.Step {
	outcome, how := trial.Failed, p.Ending.String()
	if p.Ending == consumer.Stopped {
		outcome, how = trial.Stopped, ""
	}
	plan := fmt.Sprintf("%d polls with records, %d commits", p.Polls, p.Commits)
	if !p.Fault.IsZero() {
		plan = p.Fault.String() + "; " + plan
	}
	return trial.Step{Delivery: i, Attempt: 1, Label: fmt.Sprintf("consumer process %d", i+1), Plan: plan,
		Outcome: outcome, Err: how, Events: p.Events, Marks: p.Marks}
}

// renderConsumerScenario is sc for people: what was produced (with each
// record's partition, @p1, where partitions knows it) and what each
// consumer process met.
func renderConsumerScenario(sc consumer.Scenario, partitions map[string]int32) string {
	var b strings.Builder
	for i, batch := range sc.Batches {
		fmt.Fprintf(&b, "batch %d:", i+1)
		for _, o := range batch.Records {
			fmt.Fprintf(&b, " %s/%d v%d %s", o.Source, o.ID, o.Version, o.Amount)
			if p, ok := partitions[consumer.Key(o)]; ok {
				fmt.Fprintf(&b, " @p%d", p)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(sc.String())
	return b.String()
}
