package properties

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
	"github.com/twmb/franz-go/pkg/kerr"
	"pgregory.net/rapid"
)

// The injections of consumer trials, besides Wire(kind) for kills at
// PostgreSQL wire points.
const (
	KillsBeforeOffsetCommit Injection = "kill-before-offset-commit" // killed, its commit never applied
	KillsAfterOffsetCommit  Injection = "kill-after-offset-commit"  // applied, the response lost
	OffsetCommitErrors      Injection = "offset-commit-error"       // a commit answered with an error
	ProducedTwice           Injection = "produced-twice"            // a batch's records produced again
	OffsetRewinds           Injection = "offset-rewind"             // the group's offsets reset to the start (JetStream: the consumer made anew)
	KillsBeforeAck          Injection = "kill-before-ack"           // killed as its ack was about to leave
	KillsAfterAck           Injection = "kill-after-ack"            // killed right after its ack left
	NegativeAcks            Injection = "negative-ack"              // its ack turned negative, the message redelivered at once
	FetchErrors             Injection = "fetch-error"               // a poll answered with an error, its records withheld
	Interleavings           Injection = "interleaving"              // the partitions' records released in a drawn order
)

// consumerChecker checks one consumer program.
type consumerChecker struct {
	set    settings
	runner *consumer.Runner
	name   string

	mu     sync.Mutex
	cleans map[string]*cleanConsumerRun // by batches
}

// cleanConsumerRun is the clean run of one list of batches, made once.
type cleanConsumerRun struct {
	once sync.Once
	obs  *consumer.Observation
	err  error
}

func ordersKey(bs []harness.Batch[harness.Order]) string { return fmt.Sprint(bs) }

// clean is the clean run of batches: one consumer, no faults.
func (c *consumerChecker) clean(ctx context.Context, bs []harness.Batch[harness.Order]) (*consumer.Observation, error) {
	c.mu.Lock()
	cr := c.cleans[ordersKey(bs)]
	if cr == nil {
		cr = &cleanConsumerRun{}
		c.cleans[ordersKey(bs)] = cr
	}
	c.mu.Unlock()
	cr.once.Do(func() {
		cr.obs, cr.err = c.runner.Run(ctx, consumer.Scenario{Batches: bs})
		if cr.err == nil {
			cr.err = cr.obs.Release(ctx)
		}
	})
	return cr.obs, cr.err
}

// consumerTrial is one trial: its scenario, and what judging it found.
type consumerTrial struct {
	sc      consumer.Scenario
	obs     *consumer.Observation // nil when the run failed
	finding *finding
	err     error // the run could not be judged
}

// judge runs sc and compares it with the clean run of its batches; for
// Determinism sc is clean and the comparison is of two clean runs.
func (c *consumerChecker) judge(ctx context.Context, sc consumer.Scenario) consumerTrial {
	clean, err := c.clean(ctx, sc.Batches)
	if err != nil {
		return consumerTrial{sc: sc, err: err}
	}
	obs, err := c.runner.Run(ctx, sc)
	if errors.Is(err, consumer.ErrBadConsumer) {
		return consumerTrial{sc: sc, finding: &finding{kind: NeverCaughtUp, summary: "after the faults, " + strings.TrimPrefix(err.Error(), consumer.ErrBadConsumer.Error()+": ")}}
	}
	if err != nil {
		return consumerTrial{sc: sc, err: err}
	}
	d, err := trial.Compare(ctx, clean.Final, obs.Final, c.set.compare...)
	if err != nil {
		obs.Release(ctx)
		return consumerTrial{sc: sc, err: err}
	}
	t := consumerTrial{sc: sc, obs: obs}
	if !d.Equal {
		t.finding = rowsFinding(clean.Final, d)
	}
	return t
}

// draw is trial i's scenario for law.
func (c *consumerChecker) draw(ctx context.Context, law harness.Law, seed uint64) (consumer.Scenario, error) {
	bs, err := example(strategies.Batches(strategies.Orders(), c.set.limits), seed)
	if err != nil {
		return consumer.Scenario{}, err
	}
	sc := consumer.Scenario{Batches: bs}
	if c.runner.RabbitMQ != nil {
		// Classic and quorum queues, one or the other a trial.
		if sc.Quorum, err = example(rapid.Bool(), splitmix(splitmix(seed))); err != nil {
			return sc, err
		}
	}
	switch law {
	case harness.ReplayIdempotence:
		redo, err := example(redeliveries(len(bs), c.runner.JetStream != nil), splitmix(seed))
		if err != nil {
			return sc, err
		}
		sc.Twice, sc.Rewind, sc.MsgIDs = redo.Twice, redo.Rewind, redo.MsgIDs
	case harness.OrderIndependence:
		if sc.Interleaving, err = example(interleavings(len(bs), sc.Partitions), splitmix(seed)); err != nil {
			return sc, err
		}
	case harness.RetryEquivalence:
		clean, err := c.clean(ctx, bs)
		if err != nil {
			return sc, err
		}
		if sc.Faults, err = example(consumerFaults(clean.Processes[0], c.queue()), splitmix(seed)); err != nil {
			return sc, err
		}
	case harness.ZombieSafety:
		clean, err := c.clean(ctx, bs)
		if err != nil {
			return sc, err
		}
		points := zombiePoints(clean.Processes[0].Events)
		if len(points) == 0 {
			return sc, nil // nowhere to stall: a clean trial
		}
		at, err := example(rapid.SampledFrom(points), splitmix(seed))
		if err != nil {
			return sc, err
		}
		sc.Zombie = &consumer.Zombie{At: at}
	}
	return sc, nil
}

// zombiePoints are where a consumer can be frozen as a zombie without
// holding a lock its successor needs: the first statement of each of its
// transactions, and each write it makes outside one.
func zombiePoints(events []faults.Event) []faults.Point {
	var out []faults.Point
	seen := map[int]bool{}
	for _, e := range events {
		switch {
		case e.Tx > 0 && e.Before == 'T' && !seen[e.Tx]:
			seen[e.Tx] = true
			out = append(out, faults.AtStmt(e.Tx, e.Stmt))
		case e.Tx == 0 && e.Commit > 0 && writes(e.SQL):
			out = append(out, faults.AtCommit(e.Commit))
		}
	}
	return out
}

// zombieClass is a zombie point and its class: what the round frozen
// at does, and in which transaction state.
type zombieClass struct {
	at    faults.Point
	class string
}

// zombieClasses are zombiePoints with their classes.
func zombieClasses(events []faults.Event) []zombieClass {
	byPoint := map[string]faults.Event{}
	for _, e := range events {
		byPoint[faults.AtStmt(e.Tx, e.Stmt).String()] = e
		if e.Commit > 0 {
			byPoint[faults.AtCommit(e.Commit).String()] = e
		}
	}
	var out []zombieClass
	for _, at := range zombiePoints(events) {
		e := byPoint[at.String()]
		w, _, _ := strings.Cut(strings.TrimSpace(e.SQL), " ")
		where := "outside a transaction"
		if e.Tx > 0 {
			where = "at a transaction's first statement"
		}
		out = append(out, zombieClass{at: at, class: fmt.Sprintf("frozen before %s, %s", strings.ToUpper(w), where)})
	}
	return out
}

// writes tells whether a round's SQL begins with a statement that writes.
func writes(sql string) bool {
	w, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	switch strings.ToUpper(w) {
	case "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "WITH":
		return true
	}
	return false
}

// redeliveries draws the records produced twice and whether the group is
// rewound: at least one of them; on JetStream also whether the messages
// carry IDs, by which the server drops the second copies.
func redeliveries(batches int, jetstream bool) *rapid.Generator[consumer.Scenario] {
	return rapid.Custom(func(t *rapid.T) consumer.Scenario {
		var sc consumer.Scenario
		for i := range batches {
			if rapid.Bool().Draw(t, fmt.Sprintf("twice %d", i)) {
				sc.Twice = append(sc.Twice, i)
			}
		}
		sc.Rewind = len(sc.Twice) == 0 || rapid.Bool().Draw(t, "rewind")
		sc.MsgIDs = jetstream && len(sc.Twice) > 0 && rapid.Bool().Draw(t, "message IDs")
		return sc
	})
}

// interleavings draws the order in which the records of batches batches
// on partitions partitions (0: the default) reach the consumer: a
// partition a step, each once a batch (consumer.Scenario.Interleaving).
// It shrinks toward the lower partitions first.
func interleavings(batches, partitions int) *rapid.Generator[[]int] {
	partitions = max(partitions, 2)
	if batches == 0 {
		return rapid.Just[[]int](nil)
	}
	return rapid.Custom(func(t *rapid.T) []int {
		left := make([]int, partitions)
		for p := range left {
			left[p] = batches
		}
		var out []int
		for range batches * partitions {
			var open []int
			for p, n := range left {
				if n > 0 {
					open = append(open, p)
				}
			}
			p := open[0]
			if len(open) > 1 {
				p = rapid.SampledFrom(open).Draw(t, "next partition")
			}
			left[p]--
			out = append(out, p)
		}
		return out
	})
}

// fetchErrors are the codes a broker answers a poll with when leadership
// moved or its metadata is behind: retriable, the records fetched again.
var fetchErrors = []int16{kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code}

// commitErrors are the codes a coordinator answers commits with in a
// rebalance, after a move, and to a fenced member.
var commitErrors = []int16{kerr.RebalanceInProgress.Code, kerr.NotCoordinator.Code, kerr.IllegalGeneration.Code}

// ackFaults are the faults at a JetStream consumer's acks.
var ackFaults = []acks.Kind{acks.KillBefore, acks.KillAfter, acks.Lose, acks.Nak}

// consumerFaults draws the faults of one or two successive processes, at
// the points the clean process had: a PostgreSQL crash point
// (strategies.CrashIn, by class), one of its offset commits (on
// JetStream: acks), or one of its polls (Kafka only).
func consumerFaults(clean consumer.Process, jetstream bool) *rapid.Generator[[]consumer.Fault] {
	conv := strategies.Conversation(clean.Events)
	// Kills at PostgreSQL rounds are where most of the consumer's points
	// are; commits have three kinds of fault; a failed poll, which a
	// client retries on its own, is drawn least.
	const atRound, atCommit, atPoll = "a PostgreSQL round", "an offset commit", "a poll"
	var where []string
	if conv.Rounds() > 0 {
		where = append(where, atRound, atRound, atRound)
	}
	if clean.Commits > 0 {
		where = append(where, atCommit, atCommit)
	}
	if clean.Polls > 0 && !jetstream {
		where = append(where, atPoll)
	}
	if len(where) == 0 {
		return rapid.Just[[]consumer.Fault](nil) // nothing to fault: a clean trial
	}
	one := rapid.Custom(func(t *rapid.T) consumer.Fault {
		switch rapid.SampledFrom(where).Draw(t, "at") {
		case atRound:
			return consumer.Fault{PG: faults.Plan{strategies.CrashIn(conv).Draw(t, "wire crash")}}
		case atPoll:
			return consumer.Fault{Fetch: &kafka.FetchFault{
				Poll: rapid.IntRange(1, clean.Polls).Draw(t, "poll"),
				Code: rapid.SampledFrom(fetchErrors).Draw(t, "fetch error")}}
		}
		if jetstream {
			return consumer.Fault{Ack: &acks.Fault{
				Kind: rapid.SampledFrom(ackFaults).Draw(t, "ack fault"),
				Ack:  rapid.IntRange(1, clean.Commits).Draw(t, "ack")}}
		}
		f := kafka.CommitFault{
			Kind:   rapid.SampledFrom([]kafka.CommitFaultKind{kafka.KillBeforeCommit, kafka.KillAfterCommit, kafka.FailCommit}).Draw(t, "commit fault"),
			Commit: rapid.IntRange(1, clean.Commits).Draw(t, "commit"),
		}
		if f.Kind == kafka.FailCommit {
			f.Code = rapid.SampledFrom(commitErrors).Draw(t, "error")
		}
		return consumer.Fault{Commit: &f}
	})
	return rapid.SliceOfN(one, 1, 2)
}

// smoke are the fixed scenarios a law runs first, on batches bs: the
// classic losses and duplicates at once.
func (c *consumerChecker) smoke(ctx context.Context, law harness.Law, bs []harness.Batch[harness.Order]) ([]consumer.Scenario, error) {
	var out []consumer.Scenario
	switch law {
	case harness.Determinism:
		out = append(out, consumer.Scenario{Batches: bs})
	case harness.ReplayIdempotence:
		all := make([]int, len(bs))
		for i := range all {
			all[i] = i
		}
		out = append(out, consumer.Scenario{Batches: bs, Twice: all}, consumer.Scenario{Batches: bs, Rewind: true})
	case harness.OrderIndependence:
		// Each partition's records all before the other's, both ways.
		var first, second []int
		for range bs {
			first, second = append(first, 0), append(second, 1)
		}
		out = append(out, consumer.Scenario{Batches: bs, Interleaving: append(first, second...)},
			consumer.Scenario{Batches: bs, Interleaving: append(second, first...)})
	case harness.ZombieSafety:
		clean, err := c.clean(ctx, bs)
		if err != nil {
			return nil, err
		}
		if ps := zombiePoints(clean.Processes[0].Events); len(ps) > 0 {
			out = append(out, consumer.Scenario{Batches: bs, Zombie: &consumer.Zombie{At: ps[0]}})
			if len(ps) > 1 {
				out = append(out, consumer.Scenario{Batches: bs, Zombie: &consumer.Zombie{At: ps[len(ps)-1]}})
			}
		}
	case harness.RetryEquivalence:
		clean, err := c.clean(ctx, bs)
		if err != nil {
			return nil, err
		}
		p := clean.Processes[0]
		conv := strategies.Conversation(p.Events)
		var ks []consumer.Fault
		if n := conv.Commits(); n > 0 {
			for _, at := range []int{1, n} {
				ks = append(ks, consumer.Fault{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(at)}}},
					consumer.Fault{PG: faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(at)}}})
			}
		}
		switch {
		case c.queue():
			for _, at := range []int{1, p.Commits} {
				if at > 0 {
					for _, kind := range ackFaults {
						ks = append(ks, consumer.Fault{Ack: &acks.Fault{Kind: kind, Ack: at}})
					}
				}
			}
		default:
			for _, at := range []int{1, p.Commits} {
				if at > 0 {
					ks = append(ks, consumer.Fault{Commit: &kafka.CommitFault{Kind: kafka.KillBeforeCommit, Commit: at}},
						consumer.Fault{Commit: &kafka.CommitFault{Kind: kafka.KillAfterCommit, Commit: at}})
				}
			}
			if p.Commits > 0 {
				ks = append(ks, consumer.Fault{Commit: &kafka.CommitFault{Kind: kafka.FailCommit, Commit: 1, Code: kerr.RebalanceInProgress.Code}})
			}
			if p.Polls > 0 {
				ks = append(ks, consumer.Fault{Fetch: &kafka.FetchFault{Poll: 1, Code: kerr.NotLeaderForPartition.Code}})
			}
		}
		if conv.Commits() > 0 {
			// A serialization failure the consumer must retry, not skip.
			ks = append(ks, consumer.Fault{PG: faults.Plan{{Kind: faults.Error, SQLState: "40001", At: faults.AtCommit(1)}}})
		}
		for _, k := range ks {
			out = append(out, consumer.Scenario{Batches: bs, Faults: []consumer.Fault{k}})
		}
	}
	if c.runner.RabbitMQ != nil {
		for i := range out {
			out[i].Quorum = i%2 == 1 // classic and quorum queues alike
		}
	}
	return out, nil
}

// injections counts what sc injected into t's tally.
func injections(sc consumer.Scenario, into map[Injection]int) {
	if len(sc.Twice) > 0 {
		into[ProducedTwice]++
	}
	if sc.Rewind {
		into[OffsetRewinds]++
	}
	if len(sc.Twice) > 0 || sc.Rewind {
		into[Replays]++ // records delivered more than once, either way
	}
	if sc.Zombie != nil {
		into[Zombies]++
	}
	if len(sc.Interleaving) > 0 {
		into[Interleavings]++
		into[Reorders]++ // records delivered in another order, as for batch writers
	}
	for _, k := range sc.Faults {
		switch {
		case k.Ack != nil:
			into[map[acks.Kind]Injection{acks.KillBefore: KillsBeforeAck, acks.KillAfter: KillsAfterAck,
				acks.Lose: LostAcks, acks.Nak: NegativeAcks}[k.Ack.Kind]]++
		case k.Fetch != nil:
			into[FetchErrors]++
		case k.Commit == nil:
			for _, f := range k.PG {
				into[Wire(f.Kind)]++
			}
		case k.Commit.Kind == kafka.KillBeforeCommit:
			into[KillsBeforeOffsetCommit]++
		case k.Commit.Kind == kafka.KillAfterCommit:
			into[KillsAfterOffsetCommit]++
		default:
			into[OffsetCommitErrors]++
		}
	}
}

// shrink makes a failing scenario smaller while it still fails: fewer
// kills, fewer batches produced twice, no rewind, fewer batches and
// records, earlier offset commits and polls, an interleaving closer to
// partition order. It stops after ShrinkTime.
func (c *consumerChecker) shrink(ctx context.Context, failing consumerTrial) (consumerTrial, int) {
	limit := c.set.shrinkTime
	if limit <= 0 {
		limit = DefaultShrinkTime
	}
	deadline := time.Now().Add(limit)
	tried := 0
	for progress := true; progress && time.Now().Before(deadline); {
		progress = false
		for _, cand := range simpler(failing.sc) {
			if time.Now().After(deadline) {
				break
			}
			tried++
			t := c.judge(ctx, cand)
			if t.err == nil && t.finding != nil {
				c.release(ctx, failing)
				failing, progress = t, true
				break
			}
			c.release(ctx, t)
		}
	}
	return failing, tried
}

func (c *consumerChecker) release(ctx context.Context, t consumerTrial) {
	if t.obs != nil {
		t.obs.Release(ctx)
	}
}

// simpler lists the scenarios one step simpler than sc, simplest first.
func simpler(sc consumer.Scenario) []consumer.Scenario {
	var out []consumer.Scenario
	with := func(edit func(*consumer.Scenario)) {
		c := sc
		c.Faults = append([]consumer.Fault(nil), sc.Faults...)
		c.Twice = append([]int(nil), sc.Twice...)
		c.Batches = append([]harness.Batch[harness.Order](nil), sc.Batches...)
		c.Interleaving = append([]int(nil), sc.Interleaving...)
		edit(&c)
		out = append(out, c)
	}
	for i := range sc.Faults {
		with(func(c *consumer.Scenario) { c.Faults = append(c.Faults[:i], c.Faults[i+1:]...) })
	}
	if sc.Rewind && len(sc.Twice) > 0 {
		with(func(c *consumer.Scenario) { c.Rewind = false })
	}
	if sc.MsgIDs {
		with(func(c *consumer.Scenario) { c.MsgIDs = false })
	}
	for i := range sc.Twice {
		if len(sc.Twice) > 1 || sc.Rewind {
			with(func(c *consumer.Scenario) { c.Twice = append(c.Twice[:i], c.Twice[i+1:]...) })
		}
	}
	for b := range sc.Batches {
		if len(sc.Batches) > 1 {
			with(func(c *consumer.Scenario) {
				c.Batches, c.Twice = dropBatch(c.Batches, c.Twice, b)
				c.Interleaving = dropStep(c.Interleaving, b)
			})
		}
	}
	for b, batch := range sc.Batches {
		for r := range batch.Records {
			if len(batch.Records) > 1 {
				with(func(c *consumer.Scenario) {
					recs := append([]harness.Order(nil), batch.Records...)
					c.Batches[b].Records = append(recs[:r], recs[r+1:]...)
				})
			}
		}
	}
	for i, k := range sc.Faults {
		if k.Commit != nil && k.Commit.Commit > 1 {
			with(func(c *consumer.Scenario) {
				f := *k.Commit
				f.Commit--
				c.Faults[i] = consumer.Fault{Commit: &f}
			})
		}
		if k.Ack != nil && k.Ack.Ack > 1 {
			with(func(c *consumer.Scenario) {
				f := *k.Ack
				f.Ack--
				c.Faults[i] = consumer.Fault{Ack: &f}
			})
		}
		if k.Fetch != nil && k.Fetch.Poll > 1 {
			with(func(c *consumer.Scenario) {
				f := *k.Fetch
				f.Poll--
				c.Faults[i] = consumer.Fault{Fetch: &f}
			})
		}
	}
	// An interleaving closer to partition order: one step of a higher
	// partition moved after a lower one's.
	for i := 1; i < len(sc.Interleaving); i++ {
		if sc.Interleaving[i] < sc.Interleaving[i-1] {
			with(func(c *consumer.Scenario) {
				c.Interleaving[i-1], c.Interleaving[i] = c.Interleaving[i], c.Interleaving[i-1]
			})
		}
	}
	return out
}

// dropStep removes from an interleaving what it says of batch b: each
// partition's (b+1)-th step.
func dropStep(interleaving []int, b int) []int {
	if len(interleaving) == 0 {
		return nil
	}
	seen := map[int]int{}
	var out []int
	for _, p := range interleaving {
		if seen[p] != b {
			out = append(out, p)
		}
		seen[p]++
	}
	return out
}

// dropBatch removes batch b, renumbering the batches produced twice.
func dropBatch(bs []harness.Batch[harness.Order], twice []int, b int) ([]harness.Batch[harness.Order], []int) {
	var tw []int
	for _, i := range twice {
		switch {
		case i < b:
			tw = append(tw, i)
		case i > b:
			tw = append(tw, i-1)
		}
	}
	return append(bs[:b], bs[b+1:]...), tw
}
