package properties

import (
	"sync"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// keptSandboxes are the sandboxes kept for inspection: each violated
// law's latest failing trial's (after shrinking, its minimal one).
type keptSandboxes struct {
	mu    sync.Mutex
	byLaw map[harness.Law]*trial.Sandbox
}

// swap makes sb law's kept sandbox and returns the one kept before.
func (k *keptSandboxes) swap(law harness.Law, sb *trial.Sandbox) (prev *trial.Sandbox) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byLaw == nil {
		k.byLaw = map[harness.Law]*trial.Sandbox{}
	}
	prev, k.byLaw[law] = k.byLaw[law], sb
	return prev
}

// keep keeps the sandbox of law's failing trial, releasing the one kept
// for law before, so only each law's latest (after shrinking: its minimal)
// stays. With DiscardFaultyStates nothing is kept: the sandbox is
// released at once (the counterexample already holds its diff).
func (c *checker[R]) keep(law harness.Law, sb *trial.Sandbox) {
	if c.set.discardFaulty {
		c.release(sb)
		return
	}
	prev := c.kept.swap(law, sb)
	sb.Keep()
	if prev != nil && prev != sb {
		prev.Unkeep()
		c.release(prev)
	}
}

// releaseFinding releases a finding's sandbox (a kept one stays).
func (c *checker[R]) releaseFinding(f *finding) {
	if f.obs != nil {
		c.release(f.obs.Sandbox)
	}
}
