package consumer_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/consumer"
)

// needRabbit skips a test without the machine's RabbitMQ (.ci/run starts
// one and sets IDEMCHECK_REQUIRE_RABBITMQ, which makes it a failure).
func needRabbit(t *testing.T) {
	t.Helper()
	if rabbit != nil {
		return
	}
	if os.Getenv("IDEMCHECK_REQUIRE_RABBITMQ") != "" {
		t.Fatalf("IDEMCHECK_REQUIRE_RABBITMQ is set, and: %v", rabbitErr)
	}
	t.Skipf("no RabbitMQ on this machine (.ci/run starts one): %v", rabbitErr)
}

func runAMQP(t *testing.T, p consumer.Program, sc consumer.Scenario) *consumer.Observation {
	t.Helper()
	r := &consumer.Runner{Target: target, RabbitMQ: rabbit, Program: p}
	obs, err := r.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Release(context.Background()) })
	return obs
}

func TestRabbitMQCleanRun(t *testing.T) {
	needRabbit(t)
	for _, quorum := range []bool{false, true} {
		obs := runAMQP(t, queueProgram("exactly-once"), consumer.Scenario{Batches: batches(), Quorum: quorum})
		if got := rows(obs); got != 12 {
			t.Fatalf("order_events has %d rows after a clean run of 12 messages; want 12", got)
		}
		if p := obs.Processes[0]; p.Ending != consumer.Stopped || p.Commits != 12 || p.Polls != 12 {
			t.Fatalf("process %v; want 12 deliveries and 12 acks, stopped after catching up", p)
		}
	}
}

func TestRabbitMQExactlyOnceSurvivesFaults(t *testing.T) {
	needRabbit(t)
	p := queueProgram("exactly-once")
	clean := runAMQP(t, p, consumer.Scenario{Batches: batches()})
	for _, k := range []consumer.Fault{
		{PG: faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}}},
		{Ack: &acks.Fault{Kind: acks.KillBefore, Ack: 1}},
		{Ack: &acks.Fault{Kind: acks.KillAfter, Ack: 2}},
		{Ack: &acks.Fault{Kind: acks.Lose, Ack: 1}},
		{Ack: &acks.Fault{Kind: acks.Nak, Ack: 3}},
	} {
		t.Run(k.String(), func(t *testing.T) {
			sc := consumer.Scenario{Batches: batches(), Faults: []consumer.Fault{k}, Twice: []int{1}, Rewind: true, Quorum: k.Ack != nil && k.Ack.Kind == acks.Lose}
			obs := runAMQP(t, p, sc)
			if !obs.Processes[0].Fired {
				t.Fatalf("%v never fired: %+v", k, obs.Processes[0])
			}
			if d := diffJS(t, clean, obs); !d.Equal {
				t.Fatalf("%v: the state differs from the clean run's:\n%v", sc, d)
			}
		})
	}
}

func TestRabbitMQBrokenConsumersAreCaught(t *testing.T) {
	needRabbit(t)
	for _, tc := range []struct {
		mode  string
		sc    consumer.Scenario
		equal bool
	}{
		// Killed before its first commit, after its first ack (a kill
		// right after the ack is sent can come after that commit: the
		// consumer does not wait for its ack, so that fault alone does not
		// always lose the message).
		{"ack-first", consumer.Scenario{Faults: []consumer.Fault{{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(1)}}}}}, false},
		{"late-ack", consumer.Scenario{Faults: []consumer.Fault{{Ack: &acks.Fault{Kind: acks.Lose, Ack: 1}}}}, false},
		{"late-ack", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtStmt(1, 1)}}, false},
		{"exactly-once", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtStmt(1, 1)}}, true},
		{"check-then-insert", consumer.Scenario{Zombie: &consumer.Zombie{At: faults.AtCommit(2)}}, false},
	} {
		tc.sc.Batches = batches()
		t.Run(tc.mode+"/"+tc.sc.String(), func(t *testing.T) {
			p := queueProgram(tc.mode)
			clean := runAMQP(t, p, consumer.Scenario{Batches: batches()})
			obs := runAMQP(t, p, tc.sc)
			if d := diffJS(t, clean, obs); d.Equal != tc.equal {
				t.Fatalf("%s under %v: equal to the clean run %v, want %v\n%v\n%v", tc.mode, tc.sc, d.Equal, tc.equal, obs.Processes, d)
			}
		})
	}
}

func TestRabbitMQContractErrors(t *testing.T) {
	needRabbit(t)
	for _, tc := range []struct {
		name    string
		program consumer.Program
		want    string
	}{
		{"never consumes", consumer.Program{Command: "sleep 600", CatchUpTimeout: 2 * time.Second}, "never consumed from queue"},
		{"reads another queue", consumer.Program{Command: "IDEMCHECK_QUEUE=orders_elsewhere " + queueBin + " -mode exactly-once",
			SetupCommand: queueBin + " -setup"}, "never from its queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &consumer.Runner{Target: target, RabbitMQ: rabbit, Program: tc.program}
			_, err := r.Run(context.Background(), consumer.Scenario{Batches: batches()})
			if !errors.Is(err, consumer.ErrBadConsumer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want ErrBadConsumer saying %q", err, tc.want)
			}
		})
	}
}
