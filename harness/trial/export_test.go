package trial

import "time"

// SharedTarget gives the external tests (package trial_test, which may
// import the reference writers) the target TestMain opened.
func SharedTarget() *Target { return target }

// SetPatience shortens how long r's restores wait for old snapshots.
func (r *Reuse) SetPatience(d time.Duration) { r.patience = d }

// Waiting is how many runs wait in take for a restore under way.
func (r *Reuse) Waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting
}
