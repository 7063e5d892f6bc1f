package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/certificate"
	"github.com/idemcheck/idemcheck/properties"
	refconsumer "github.com/idemcheck/idemcheck/reference/consumer"
	refqueue "github.com/idemcheck/idemcheck/reference/queue"
)

// referenceConsumerCmd runs the reference consumer (kafka-orders) from
// this binary, for the consumer lessons: no separate build needed.
type referenceConsumerCmd struct {
	Mode  string `arg:"" help:"How to apply polls (kafka-orders -mode)."`
	Setup bool   `help:"Create the tables and exit."`
}

func (c referenceConsumerCmd) Run(e *env) error {
	args := []string{"-mode", c.Mode}
	if c.Setup {
		args = append(args, "-setup")
	}
	if code := refconsumer.Main(args, os.Stdin, e.stderr); code != 0 {
		os.Exit(code)
	}
	return nil
}

// referenceQueueCmd runs the reference JetStream consumer (queue-orders)
// from this binary, for the queue lessons.
type referenceQueueCmd struct {
	Mode  string `arg:"" help:"How to handle messages (queue-orders -mode)."`
	Setup bool   `help:"Create the tables and exit."`
}

func (c referenceQueueCmd) Run(e *env) error {
	args := []string{"-mode", c.Mode}
	if c.Setup {
		args = append(args, "-setup")
	}
	if code := refqueue.Main(args, e.stderr); code != 0 {
		os.Exit(code)
	}
	return nil
}

// consumerLessonChecks caps a consumer lesson's random trials: a consumer
// trial starts processes and waits for group sessions, and the smoke
// scenarios catch every broken mode.
const consumerLessonChecks = 5

// consumerLessons breaks each broken consumer live on the embedded
// broker, then shows the reference consumer holding the same law.
func (c lessonsCmd) consumerLessons(e *env, tg *trial.Target, lessons []refconsumer.Lesson, first, of int) ([]lessonResult, error) {
	if len(lessons) == 0 {
		return nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	broker, err := kafka.Embedded()
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	program := func(m refconsumer.Mode) consumer.Program {
		cmd := self + " reference-consumer " + string(m)
		return consumer.Program{Command: cmd, SetupCommand: cmd + " --setup"}
	}
	var results []lessonResult
	for i, l := range lessons {
		fmt.Fprintf(e.stdout, "\n━━ %d/%d %s: %s\n   consequence: %s\n", first+i, of, l.Name(), l.AntiPattern, l.Consequence)
		opts := []properties.Option{properties.OnTarget(tg), properties.OnBroker(broker), properties.Laws(l.Law),
			properties.Checks(min(c.Checks, consumerLessonChecks)), properties.ShrinkTime(c.ShrinkTime),
			properties.Compare(trial.IgnoreTables("consumer_offsets")),
			// A lesson shows the fix holding at a teaching budget, not a
			// certificate: coverage is certify's to demand.
			properties.MinCoverage(0)}
		if c.Parallel > 0 {
			opts = append(opts, properties.Parallel(c.Parallel))
		}
		if !c.Keep {
			opts = append(opts, properties.DiscardFaultyStates())
		}
		fix := "consumer/" + string(refconsumer.ExactlyOnce)
		r := lessonResult{AntiPattern: l.Name(), Source: l.Source, Tags: []string{"consumer", "kafka"}, Law: string(l.Law), Fix: fix}
		r.run = certificate.LessonRun{Name: l.Name(), AntiPattern: l.AntiPattern, Consequence: l.Consequence, Source: l.Source, Tags: r.Tags,
			Law: string(l.Law), Fix: fix}
		broken, err := properties.CheckConsumer(e.ctx, program(l.Mode), opts...)
		if broken == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", l.Name(), err)
		}
		lr := lawOf(broken, l.Law)
		r.Trials = lr.Trials
		if lr.Verdict == properties.Violated {
			ce := lr.Counterexample
			r.Trials, r.Caught, r.Summary = lr.FirstFailure, true, ce.Summary
			r.Batches, r.Records, r.Processes = ce.Batches, ce.Records, ce.Processes
			r.run.Caught, r.run.Counterexample = true, ce
			fmt.Fprintf(e.stdout, "   source: %s\n   breaks %s (caught at trial %d, shrunk to %d batch(es), %d record(s)):\n%s\n",
				l.Source, l.Law, lr.FirstFailure, ce.Batches, ce.Records, indentBy(ce.String(), "   │ "))
		} else {
			fmt.Fprintf(e.stdout, "   NOT caught by %s in %d trials (%s: %s)\n", l.Law, lr.Trials, lr.Verdict, lr.Reason)
		}
		fixed, err := properties.CheckConsumer(e.ctx, program(refconsumer.ExactlyOnce), opts...)
		if fixed == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", fix, err)
		}
		fr := lawOf(fixed, l.Law)
		r.FixHeld, r.FixTrials, r.run.FixVerdict = fr.Verdict == properties.Held, fr.Trials, fr.Verdict
		fmt.Fprintf(e.stdout, "   fix: %s (%s), %s %s over %d trials (faults: %s)\n",
			fix, l.Fix, l.Law, fr.Verdict, fr.Trials, orDash(fr.FaultSummary()))
		results = append(results, r)
	}
	return results, nil
}

// consumerLessonsNamed are the consumer lessons name selects: all for "",
// the one named, or none.
func consumerLessonsNamed(name string) []refconsumer.Lesson {
	var out []refconsumer.Lesson
	for _, l := range refconsumer.Lessons() {
		if name == "" || strings.EqualFold(name, l.Name()) {
			out = append(out, l)
		}
	}
	return out
}

// queueLessons breaks each broken JetStream consumer live on the
// embedded NATS server, then shows the reference consumer holding the
// same law.
func (c lessonsCmd) queueLessons(e *env, tg *trial.Target, lessons []refqueue.Lesson, first, of int) ([]lessonResult, error) {
	if len(lessons) == 0 {
		return nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := natsjs.Embedded()
	if err != nil {
		return nil, err
	}
	defer js.Close()
	program := func(m refqueue.Mode) consumer.Program {
		cmd := self + " reference-queue-consumer " + string(m)
		return consumer.Program{Command: cmd, SetupCommand: cmd + " --setup"}
	}
	var results []lessonResult
	for i, l := range lessons {
		fmt.Fprintf(e.stdout, "\n━━ %d/%d %s: %s\n   consequence: %s\n", first+i, of, l.Name(), l.AntiPattern, l.Consequence)
		opts := []properties.Option{properties.OnTarget(tg), properties.OnNATS(js), properties.Laws(l.Law),
			properties.Checks(min(c.Checks, consumerLessonChecks)), properties.ShrinkTime(c.ShrinkTime), properties.MinCoverage(0)}
		if c.Parallel > 0 {
			opts = append(opts, properties.Parallel(c.Parallel))
		}
		if !c.Keep {
			opts = append(opts, properties.DiscardFaultyStates())
		}
		fix := "queue/" + string(refqueue.ExactlyOnce)
		r := lessonResult{AntiPattern: l.Name(), Source: l.Source, Tags: []string{"consumer", "nats"}, Law: string(l.Law), Fix: fix}
		r.run = certificate.LessonRun{Name: l.Name(), AntiPattern: l.AntiPattern, Consequence: l.Consequence, Source: l.Source, Tags: r.Tags,
			Law: string(l.Law), Fix: fix}
		broken, err := properties.CheckConsumer(e.ctx, program(l.Mode), opts...)
		if broken == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", l.Name(), err)
		}
		lr := lawOf(broken, l.Law)
		r.Trials = lr.Trials
		if lr.Verdict == properties.Violated {
			ce := lr.Counterexample
			r.Trials, r.Caught, r.Summary = lr.FirstFailure, true, ce.Summary
			r.Batches, r.Records, r.Processes = ce.Batches, ce.Records, ce.Processes
			r.run.Caught, r.run.Counterexample = true, ce
			fmt.Fprintf(e.stdout, "   source: %s\n   breaks %s (caught at trial %d, shrunk to %s):\n%s\n",
				l.Source, l.Law, lr.FirstFailure, ce.Size(), indentBy(ce.String(), "   │ "))
		} else {
			fmt.Fprintf(e.stdout, "   NOT caught by %s in %d trials (%s: %s)\n", l.Law, lr.Trials, lr.Verdict, lr.Reason)
		}
		fixed, err := properties.CheckConsumer(e.ctx, program(refqueue.ExactlyOnce), opts...)
		if fixed == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", fix, err)
		}
		fr := lawOf(fixed, l.Law)
		r.FixHeld, r.FixTrials, r.run.FixVerdict = fr.Verdict == properties.Held, fr.Trials, fr.Verdict
		fmt.Fprintf(e.stdout, "   fix: %s (%s), %s %s over %d trials (faults: %s)\n",
			fix, l.Fix, l.Law, fr.Verdict, fr.Trials, orDash(fr.FaultSummary()))
		results = append(results, r)
	}
	return results, nil
}

// queueLessonsNamed are the queue lessons name selects: all for "", the
// one named, or none.
func queueLessonsNamed(name string) []refqueue.Lesson {
	var out []refqueue.Lesson
	for _, l := range refqueue.Lessons() {
		if name == "" || strings.EqualFold(name, l.Name()) {
			out = append(out, l)
		}
	}
	return out
}
