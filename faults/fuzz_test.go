package faults

import "testing"

// Any text either parses into a plan that prints and parses back to
// itself, or is refused with a message; it never panics.
func FuzzParsePlan(f *testing.F) {
	for _, s := range []string{"crash-after at commit 1", "crash-in-copy 5 at copy 1; error 40001 at tx 1 stmt 2", "delay 10ms at round 4",
		"pause at round 2", "none", "", "crash-before at round 0", "error 99999 at round 1", "boom at round 1", "crash-after at", "delay x at round 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlan(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q refused without a message", s)
			}
			return
		}
		q, err := ParsePlan(p.String())
		if err != nil || q.String() != p.String() {
			t.Fatalf("%q parsed as %q, which parses as %q, %v", s, p, q, err)
		}
	})
}
