package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
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

// consumerLessons breaks each broken Kafka consumer live on the embedded
// broker, then shows the reference consumer holding the same law.
func (c lessonsCmd) consumerLessons(e *env, tg *trial.Target, lessons []refconsumer.Lesson, first, of int) ([]lessonResult, error) {
	if len(lessons) == 0 {
		return nil, nil
	}
	broker, err := kafka.Embedded()
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	var ls []liveLesson
	for _, l := range lessons {
		ls = append(ls, liveLesson{name: l.Name(), antiPattern: l.AntiPattern, consequence: l.Consequence, source: l.Source,
			law: l.Law, fix: l.Fix, mode: string(l.Mode)})
	}
	return c.liveLessons(e, tg, ls, lessonSource{command: "reference-consumer", fix: string(refconsumer.ExactlyOnce), tag: "kafka",
		opts: []properties.Option{properties.OnBroker(broker), properties.Compare(trial.IgnoreTables("consumer_offsets"))}}, first, of)
}

// liveLesson is a broken consumer mode as a lesson, whatever its source.
type liveLesson struct {
	name, antiPattern, consequence, source, fix, mode string
	law                                               harness.Law
}

// lessonSource is what the lessons of one source share: the hidden
// command that runs their reference consumer, its correct mode, the tag
// of the source, and the options that check on it.
type lessonSource struct {
	command, fix, tag string
	opts              []properties.Option
}

// liveLessons breaks each lesson's mode live on its source, then shows
// the reference consumer's correct mode holding the same law.
func (c lessonsCmd) liveLessons(e *env, tg *trial.Target, lessons []liveLesson, src lessonSource, first, of int) ([]lessonResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	program := func(mode string) consumer.Program {
		cmd := self + " " + src.command + " " + mode
		return consumer.Program{Command: cmd, SetupCommand: cmd + " --setup"}
	}
	prefix, _, _ := strings.Cut(lessons[0].name, "/")
	fix := prefix + "/" + src.fix
	var results []lessonResult
	for i, l := range lessons {
		fmt.Fprintf(e.stdout, "\n━━ %d/%d %s: %s\n   consequence: %s\n", first+i, of, l.name, l.antiPattern, l.consequence)
		opts := append([]properties.Option{properties.OnTarget(tg), properties.Laws(l.law),
			properties.Checks(min(c.Checks, consumerLessonChecks)), properties.ShrinkTime(c.ShrinkTime),
			// A lesson shows the fix holding at a teaching budget, not a
			// certificate: coverage is certify's to demand.
			properties.MinCoverage(0)}, src.opts...)
		if c.Parallel > 0 {
			opts = append(opts, properties.Parallel(c.Parallel))
		}
		if !c.Keep {
			opts = append(opts, properties.DiscardFaultyStates())
		}
		r := lessonResult{AntiPattern: l.name, Source: l.source, Tags: []string{"consumer", src.tag}, Law: string(l.law), Fix: fix}
		r.run = certificate.LessonRun{Name: l.name, AntiPattern: l.antiPattern, Consequence: l.consequence, Source: l.source, Tags: r.Tags,
			Law: string(l.law), Fix: fix}
		broken, err := properties.CheckConsumer(e.ctx, program(l.mode), opts...)
		if broken == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", l.name, err)
		}
		lr := lawOf(broken, l.law)
		r.Trials = lr.Trials
		if lr.Verdict == properties.Violated {
			ce := lr.Counterexample
			r.Trials, r.Caught, r.Summary = lr.FirstFailure, true, ce.Summary
			r.Batches, r.Records, r.Processes = ce.Batches, ce.Records, ce.Processes
			r.run.Caught, r.run.Counterexample = true, ce
			fmt.Fprintf(e.stdout, "   source: %s\n   breaks %s (caught at trial %d, shrunk to %s):\n%s\n",
				l.source, l.law, lr.FirstFailure, ce.Size(), indentBy(ce.String(), "   │ "))
		} else {
			fmt.Fprintf(e.stdout, "   NOT caught by %s in %d trials (%s: %s)\n", l.law, lr.Trials, lr.Verdict, lr.Reason)
		}
		fixed, err := properties.CheckConsumer(e.ctx, program(src.fix), opts...)
		if fixed == nil {
			return nil, fmt.Errorf("lessons: %s could not be checked: %w", fix, err)
		}
		fr := lawOf(fixed, l.law)
		r.FixHeld, r.FixTrials, r.run.FixVerdict = fr.Verdict == properties.Held, fr.Trials, fr.Verdict
		fmt.Fprintf(e.stdout, "   fix: %s (%s), %s %s over %d trials (faults: %s)\n",
			fix, l.fix, l.law, fr.Verdict, fr.Trials, orDash(fr.FaultSummary()))
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
	js, err := natsjs.Embedded()
	if err != nil {
		return nil, err
	}
	defer js.Close()
	var ls []liveLesson
	for _, l := range lessons {
		ls = append(ls, liveLesson{name: l.Name(), antiPattern: l.AntiPattern, consequence: l.Consequence, source: l.Source,
			law: l.Law, fix: l.Fix, mode: string(l.Mode)})
	}
	return c.liveLessons(e, tg, ls, lessonSource{command: "reference-queue-consumer", fix: string(refqueue.ExactlyOnce), tag: "nats",
		opts: []properties.Option{properties.OnNATS(js)}}, first, of)
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
