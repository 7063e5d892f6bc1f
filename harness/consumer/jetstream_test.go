package consumer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/trial"
)

func queueProgram(mode string) consumer.Program {
	return consumer.Program{Command: queueBin + " -mode " + mode, SetupCommand: queueBin + " -setup -mode " + mode}
}

func runJS(t *testing.T, p consumer.Program, sc consumer.Scenario) *consumer.Observation {
	t.Helper()
	r := &consumer.Runner{Target: target, JetStream: jsServer, Program: p}
	obs, err := r.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Release(context.Background()) })
	return obs
}

func diffJS(t *testing.T, clean, faulty *consumer.Observation) *trial.Diff {
	t.Helper()
	d, err := trial.Compare(context.Background(), clean.Final, faulty.Final, trial.IgnoreTables("processed_messages"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestJetStreamCleanRun(t *testing.T) {
	obs := runJS(t, queueProgram("exactly-once"), consumer.Scenario{Batches: batches()})
	if got := rows(obs); got != 12 {
		t.Fatalf("order_events has %d rows after a clean run of 12 messages; want 12", got)
	}
	p := obs.Processes[0]
	if p.Ending != consumer.Stopped || p.Commits != 12 || p.Polls != 12 {
		t.Fatalf("process %v; want 12 deliveries and 12 acks, stopped after catching up", p)
	}
}

func TestJetStreamExactlyOnceSurvivesFaults(t *testing.T) {
	p := queueProgram("exactly-once")
	clean := runJS(t, p, consumer.Scenario{Batches: batches()})
	for _, k := range []consumer.Fault{
		{PG: faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}}},
		{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(2)}}},
		{Ack: &acks.Fault{Kind: acks.KillBefore, Ack: 1}},
		{Ack: &acks.Fault{Kind: acks.KillAfter, Ack: 2}},
		{Ack: &acks.Fault{Kind: acks.Lose, Ack: 1}},
		{Ack: &acks.Fault{Kind: acks.Nak, Ack: 3}},
	} {
		t.Run(k.String(), func(t *testing.T) {
			sc := consumer.Scenario{Batches: batches(), Faults: []consumer.Fault{k}, Twice: []int{1}, Rewind: true}
			obs := runJS(t, p, sc)
			if !obs.Processes[0].Fired {
				t.Fatalf("%v never fired: %+v", k, obs.Processes[0])
			}
			if d := diffJS(t, clean, obs); !d.Equal {
				t.Fatalf("%v: the state differs from the clean run's:\n%v", sc, d)
			}
		})
	}
}

// Each broken mode, under the fault that breaks it, leaves a state the
// clean run does not; published twice with message IDs, the server drops
// the second copies, and even the consumer without a dedup key is safe.
func TestJetStreamBrokenConsumersAreCaught(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		sc    consumer.Scenario
		equal bool
	}{
		// Killed before its first commit, after its first ack (see the
		// RabbitMQ test: a kill right after the ack may come too late).
		{"ack-first", consumer.Scenario{Faults: []consumer.Fault{{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(1)}}}}}, false},
		{"late-ack", consumer.Scenario{Faults: []consumer.Fault{{Ack: &acks.Fault{Kind: acks.Lose, Ack: 1}}}}, false},
		{"late-ack", consumer.Scenario{Twice: []int{0}}, false},
		{"late-ack", consumer.Scenario{Twice: []int{0}, MsgIDs: true}, true},
		{"late-ack", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtStmt(1, 1)}}, false},
		{"exactly-once", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtStmt(1, 1)}}, true},
		{"check-then-insert", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtCommit(2)}}, false},
	} {
		tc.sc.Batches = batches()
		t.Run(tc.mode+"/"+tc.sc.String(), func(t *testing.T) {
			p := queueProgram(tc.mode)
			clean := runJS(t, p, consumer.Scenario{Batches: batches()})
			obs := runJS(t, p, tc.sc)
			if d := diffJS(t, clean, obs); d.Equal != tc.equal {
				t.Fatalf("%s under %v: equal to the clean run %v, want %v\n%v\n%v", tc.mode, tc.sc, d.Equal, tc.equal, obs.Processes, d)
			}
		})
	}
}

func TestJetStreamContractErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		program consumer.Program
		want    string
	}{
		{"never pulls", consumer.Program{Command: "sleep 600", CatchUpTimeout: 2 * time.Second}, "never pulled"},
		{"reads another stream", consumer.Program{Command: "IDEMCHECK_STREAM=ORDERS_ELSEWHERE " + queueBin + " -mode exactly-once",
			SetupCommand: queueBin + " -setup"}, "never about its stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &consumer.Runner{Target: target, JetStream: jsServer, Program: tc.program}
			_, err := r.Run(context.Background(), consumer.Scenario{Batches: batches()})
			if !errors.Is(err, consumer.ErrBadConsumer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want ErrBadConsumer saying %q", err, tc.want)
			}
		})
	}
}
