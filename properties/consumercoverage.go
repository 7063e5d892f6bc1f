package properties

import (
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/strategies"
)

// consumerCoverage counts, for a fault law of consumers, the classes of
// fault points the clean processes of its trials had and those a fault
// fired at: RetryEquivalence's PostgreSQL crash classes (by what the
// last step did, wherever in the stream: strategies.StreamCrashPoints),
// its kinds of offset-commit (or ack) fault and its failed polls,
// ZombieSafety's stall points (by what the round stalled at does). The
// other laws have no fault points.
type consumerCoverage struct {
	law       harness.Law
	jetstream bool // acks instead of offset commits, no failed polls
	classes   map[string]*pointClass
	crashed   map[string]bool
}

func newConsumerCoverage(law harness.Law, jetstream bool) *consumerCoverage {
	return &consumerCoverage{law: law, jetstream: jetstream, classes: map[string]*pointClass{}, crashed: map[string]bool{}}
}

// ackClasses name the ack faults as classes.
var ackClasses = map[acks.Kind]string{
	acks.KillBefore: "killed before an ack leaves",
	acks.KillAfter:  "killed right after an ack left",
	acks.Lose:       "an ack lost",
	acks.Nak:        "an ack turned negative",
}

// commitClasses name the offset-commit faults as classes.
var commitClasses = map[kafka.CommitFaultKind]string{
	kafka.KillBeforeCommit: "killed before an offset commit is applied",
	kafka.KillAfterCommit:  "killed after an offset commit is applied, its response lost",
	kafka.FailCommit:       "an offset commit refused",
}

// pollClass names the failed polls as a class.
const pollClass = "a poll answered with an error"

// add counts one judged trial: clean is the clean process of its batches,
// ran the processes of the trial (nil when it could not be run through).
func (cv *consumerCoverage) add(clean consumer.Process, sc consumer.Scenario, ran []consumer.Process) {
	points := map[string]string{} // fault point name -> class
	switch cv.law {
	case harness.RetryEquivalence:
		for _, p := range strategies.StreamCrashPoints(strategies.Conversation(clean.Events)) {
			cv.see(p.Class, p.Name, p.Round)
			points[p.Fault.String()] = p.Class
		}
		switch {
		case clean.Commits > 0 && cv.jetstream:
			for kind, name := range ackClasses {
				cv.see(name, name, 1<<20+int(kind))
			}
		case clean.Commits > 0:
			for kind, name := range commitClasses {
				cv.see(name, name, 1<<20+int(kind))
			}
		}
		if clean.Polls > 0 && !cv.jetstream {
			cv.see(pollClass, pollClass, 1<<21)
		}
	case harness.ZombieSafety:
		for i, z := range zombieClasses(clean.Events) {
			cv.see(z.class, "frozen at "+z.at.String(), i)
			points["frozen at "+z.at.String()] = z.class
		}
	}
	for _, p := range ran {
		if !p.Fired {
			continue
		}
		switch {
		case p.Fault.Ack != nil:
			cv.crashed[ackClasses[p.Fault.Ack.Kind]] = true
		case p.Fault.Commit != nil:
			cv.crashed[commitClasses[p.Fault.Commit.Kind]] = true
		case p.Fault.Fetch != nil:
			cv.crashed[pollClass] = true
		case cv.law == harness.ZombieSafety && len(p.Fault.PG) > 0:
			if class, ok := points["frozen at "+p.Fault.PG[0].At.String()]; ok {
				cv.crashed[class] = true
			}
		case len(p.Fault.PG) > 0:
			if class, ok := points[p.Fault.PG[0].String()]; ok {
				cv.crashed[class] = true
			}
		}
	}
}

func (cv *consumerCoverage) see(class, point string, order int) {
	c := cv.classes[class]
	if c == nil {
		c = &pointClass{first: order, points: map[string]bool{}}
		cv.classes[class] = c
	}
	c.points[point] = true
}

// coverage is the Coverage of the trials counted (nil for a law without
// fault points).
func (cv *consumerCoverage) coverage() *Coverage { return coverageOf(cv.classes, cv.crashed) }
