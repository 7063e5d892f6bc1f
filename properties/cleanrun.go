package properties

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
)

// cleanRun is what one clean run of a list of batches (each once, in
// order, no fault) left: its final state and each batch's conversation,
// the map faults are drawn from.
type cleanRun struct {
	state *trial.State
	convs conversations
	after []*trial.State // the state after each batch, when the run took them
}

// addPrefixes caches the clean runs of the prefixes of batches that run's
// states after each batch give (none when the run did not take them).
func (c *checker[R]) addPrefixes(batches []harness.Batch[R], run *cleanRun) {
	if len(run.after) != len(batches) {
		return
	}
	for k := 1; k < len(batches); k++ {
		c.cleanRuns.add(batchesKey(batches[:k]), &cleanRun{state: run.after[k-1], convs: run.convs[:k:k]})
	}
}

// cachedCleanRun runs batches cleanly, once per list of batches: trials
// that ask for the same batches at the same time wait for one run. When
// CrashAtomicity is checked (it judges a crash against the clean states of
// the batches before it), the run also snapshots the state after each
// batch, and those are the clean runs of the batches' prefixes: the same
// deliveries, in the same order, from the same start.
func (c *checker[R]) cachedCleanRun(batches []harness.Batch[R]) (*cleanRun, error) {
	key := batchesKey(batches)
	f, ok := c.cleanRuns.join(key, 0)
	if ok {
		return f.wait()
	}
	f.val, f.err = c.runClean(batches, c.prefixStates && len(batches) > 1)
	if f.err == nil {
		c.addPrefixes(batches, f.val)
	}
	var wf *writerFailure
	if f.err != nil && !errors.As(f.err, &wf) {
		// Only the writer's own failure is a property of the batches; any
		// other error is the run's, and the next trial tries again.
		c.cleanRuns.forget(key)
	}
	f.land()
	return f.val, f.err
}

// cleanState is the final state of the (cached) clean run of batches.
func (c *checker[R]) cleanState(batches []harness.Batch[R]) (*trial.State, error) {
	run, err := c.cachedCleanRun(batches)
	if err != nil {
		return nil, err
	}
	return run.state, nil
}

// runClean runs batches cleanly, uncached, and releases the sandbox; with
// prefixStates, it also snapshots the state after each batch.
func (c *checker[R]) runClean(batches []harness.Batch[R], prefixStates bool) (*cleanRun, error) {
	var opts []trial.RunOption
	if prefixStates {
		opts = append(opts, trial.AckedStates())
	}
	obs, err := c.run("", harness.CleanScenario(batches), opts...)
	if err != nil {
		return nil, err
	}
	defer c.release(obs.Sandbox)
	if len(obs.Exhausted) > 0 {
		return nil, c.writerFails(batches, obs)
	}
	run := &cleanRun{state: obs.Final, convs: make(conversations, len(batches)), after: obs.AckedStates}
	for _, st := range obs.Steps {
		run.convs[st.Delivery] = strategies.Conversation(st.Events)
	}
	return run, nil
}

// writerFails names a small batch the writer fails on, after the clean
// run of batches in obs failed: the batch it failed on, with records left
// out one at a time while it still fails when delivered alone (as it was,
// when it fails only after the batches before it).
func (c *checker[R]) writerFails(batches []harness.Batch[R], obs *trial.Observation) *writerFailure {
	id := obs.Exhausted[0]
	wf := &writerFailure{batch: batchOf(batches, id), err: lastErr(obs)}
	var b harness.Batch[R]
	for _, x := range batches {
		if x.ID == id {
			b = x
		}
	}
	alone := func(b harness.Batch[R]) (string, bool) {
		obs, err := c.run("", harness.CleanScenario([]harness.Batch[R]{b}))
		if err != nil {
			return "", false
		}
		defer c.release(obs.Sandbox)
		return lastErr(obs), len(obs.Exhausted) > 0
	}
	if len(batches) > 1 {
		e, fails := alone(b)
		if !fails {
			return wf
		}
		wf.err = e
	}
	for r := 0; r < len(b.Records) && len(b.Records) > 1; {
		cand := b
		cand.Records = append(append([]R(nil), b.Records[:r]...), b.Records[r+1:]...)
		if e, fails := alone(cand); fails {
			b, wf.err = cand, e
			continue
		}
		r++
	}
	wf.batch = batchOf([]harness.Batch[R]{b}, b.ID)
	return wf
}

// ErrWriterFails means the writer fails on some batch even without any
// fault, on every attempt: no law can be judged until it gets the batch
// through. Check's error wraps it.
var ErrWriterFails = errors.New("the writer fails deterministically")

// writerFailure is a batch the writer fails on in a clean run.
type writerFailure struct {
	batch string // the batch, rendered
	err   string // the last attempt's error
}

func (w *writerFailure) Error() string {
	return fmt.Sprintf("%v on %s, without any fault: %s", ErrWriterFails, w.batch, w.err)
}

func (w *writerFailure) Unwrap() error { return ErrWriterFails }

// batchOf renders the batch with id for a message: its id and records.
func batchOf[R any](batches []harness.Batch[R], id string) string {
	for _, b := range batches {
		if b.ID != id {
			continue
		}
		s := fmt.Sprintf("batch %s (%d record(s)", id, len(b.Records))
		for i, r := range b.Records {
			if i == 3 {
				s += ", ..."
				break
			}
			s += fmt.Sprintf("; %+v", r)
		}
		return s + ")"
	}
	return "batch " + id
}

// lastErr is the error of the last attempt of obs that failed.
func lastErr(obs *trial.Observation) string {
	for i := len(obs.Steps) - 1; i >= 0; i-- {
		if e := obs.Steps[i].Err; e != "" {
			return e
		}
	}
	return ""
}

func batchesKey[R any](batches []harness.Batch[R]) string {
	b, _ := json.Marshal(batches)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
