package acks

import "testing"

// The fault meets its ack and no other; a fault that fired meets nothing
// more.
func TestSessionDecidesEachAck(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		want Action
	}{{KillBefore, DropAndKill}, {KillAfter, RelayAndKill}, {Lose, Swallow}, {Nak, RelayNegative}} {
		killed := 0
		s := NewSession(&Fault{Kind: tc.kind, Ack: 2}, func() { killed++ })
		s.Delivered()
		if got := s.Acked(); got != Relay {
			t.Errorf("%v: ack 1 gets %v, want relayed", tc.kind, got)
		}
		if got := s.Acked(); got != tc.want {
			t.Errorf("%v: ack 2 gets %v, want %v", tc.kind, got, tc.want)
		}
		if tc.want == DropAndKill || tc.want == RelayAndKill {
			s.Fire()
		}
		if !s.Fired() {
			t.Errorf("%v: not fired after ack 2", tc.kind)
		}
		if got := s.Acked(); got != Relay {
			t.Errorf("%v: ack 3, after the fault, gets %v", tc.kind, got)
		}
		if (killed == 1) != (tc.want == DropAndKill || tc.want == RelayAndKill) {
			t.Errorf("%v: killed %d times", tc.kind, killed)
		}
		marks := s.Marks()
		if len(marks) != 4 || marks[0].Kind != Delivery || marks[2].Fault == "" || marks[3].Fault != "" {
			t.Errorf("%v: marks %v; want the delivery, then three acks, the second faulted", tc.kind, marks)
		}
	}
}
