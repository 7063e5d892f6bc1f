package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/reftest"
	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	target    *trial.Target
	broker    *kafka.Broker
	jsServer  *natsjs.Server
	rabbit    *rabbitmq.Server // the machine's, or nil
	rabbitErr error
	bin       string // the reference consumer, built once
	queueBin  string // the reference JetStream consumer, built once
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "idemcheck-consumer-test-")
		if err != nil {
			fmt.Println(err)
			return 2
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "kafka-orders")
		if out, err := exec.Command("go", "build", "-o", bin, "../../reference/consumer/kafka-orders").CombinedOutput(); err != nil {
			fmt.Printf("build the reference consumer: %v\n%s", err, out)
			return 2
		}
		queueBin = filepath.Join(dir, "queue-orders")
		if out, err := exec.Command("go", "build", "-o", queueBin, "../../reference/queue/queue-orders").CombinedOutput(); err != nil {
			fmt.Printf("build the reference queue consumer: %v\n%s", err, out)
			return 2
		}
		if broker, err = kafka.Embedded(); err != nil {
			fmt.Println(err)
			return 2
		}
		defer broker.Close()
		if jsServer, err = natsjs.Embedded(); err != nil {
			fmt.Println(err)
			return 2
		}
		defer jsServer.Close()
		if rabbit, rabbitErr = rabbitmq.Dial(context.Background(), rabbitmq.DefaultURL); rabbitErr == nil {
			defer rabbit.Close()
		}
		return reftest.Main(m, &target)
	}())
}

func program(mode string) consumer.Program {
	return consumer.Program{Command: bin + " -mode " + mode, SetupCommand: bin + " -setup -mode " + mode}
}

// batches are three batches of orders over two sources, some ids in
// several versions.
func batches() []harness.Batch[harness.Order] {
	var bs []harness.Batch[harness.Order]
	for b := range 3 {
		var rs []harness.Order
		for i := range 4 {
			rs = append(rs, harness.Order{Source: []string{"shop", "app"}[i%2], ID: int64(i), Version: int64(b + 1),
				EventDate: harness.NewDate(2026, 11, 1+b), Customer: fmt.Sprintf("c-%d", i), Amount: fmt.Sprintf("%d.50", 10*b+i)})
		}
		bs = append(bs, harness.Batch[harness.Order]{ID: fmt.Sprintf("b%d", b+1), Records: rs})
	}
	return bs
}

func run(t *testing.T, p consumer.Program, sc consumer.Scenario) *consumer.Observation {
	t.Helper()
	r := &consumer.Runner{Target: target, Broker: broker, Program: p}
	obs, err := r.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Release(context.Background()) })
	return obs
}

func rows(obs *consumer.Observation) int {
	return len(obs.Final.Tables["order_events"].Rows)
}

func diff(t *testing.T, clean, faulty *consumer.Observation) *trial.Diff {
	t.Helper()
	d, err := trial.Compare(context.Background(), clean.Final, faulty.Final, trial.IgnoreTables("consumer_offsets"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCleanRunAppliesEveryRecord(t *testing.T) {
	obs := run(t, program("exactly-once"), consumer.Scenario{Batches: batches()})
	if got := rows(obs); got != 12 {
		t.Fatalf("order_events has %d rows after a clean run of 12 records; want 12", got)
	}
	if len(obs.Processes) != 1 || obs.Processes[0].Ending != consumer.Stopped {
		t.Fatalf("processes: %+v; want one, stopped after catching up", obs.Processes)
	}
}

func TestExactlyOnceSurvivesKills(t *testing.T) {
	p := program("exactly-once")
	clean := run(t, p, consumer.Scenario{Batches: batches()})
	for _, k := range []consumer.Fault{
		{PG: faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}}},
		{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(1)}}},
		{Commit: &kafka.CommitFault{Kind: kafka.KillBeforeCommit, Commit: 1}},
		{Commit: &kafka.CommitFault{Kind: kafka.KillAfterCommit, Commit: 1}},
		{Fetch: &kafka.FetchFault{Poll: 1, Code: kerr.NotLeaderForPartition.Code}},
	} {
		t.Run(k.String(), func(t *testing.T) {
			sc := consumer.Scenario{Batches: batches(), Faults: []consumer.Fault{k}, Twice: []int{1}, Rewind: true}
			obs := run(t, p, sc)
			if !obs.Processes[0].Fired {
				t.Fatalf("%v never fired: %+v", k, obs.Processes[0])
			}
			if d := diff(t, clean, obs); !d.Equal {
				t.Fatalf("%v: the state differs from the clean run's:\n%v", sc, d)
			}
		})
	}
}

// Each broken mode, under the fault that breaks it, leaves a state the
// clean run does not.
func TestBrokenConsumersAreCaught(t *testing.T) {
	for _, tc := range []struct {
		mode string
		sc   consumer.Scenario
	}{
		{"commit-first", consumer.Scenario{Faults: []consumer.Fault{{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(1)}}}}}},
		{"insert-then-commit", consumer.Scenario{Faults: []consumer.Fault{{Commit: &kafka.CommitFault{Kind: kafka.KillBeforeCommit, Commit: 1}}}}},
		{"insert-then-commit", consumer.Scenario{Twice: []int{0}}},
		{"offsets-apart", consumer.Scenario{Faults: []consumer.Fault{{PG: faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(2)}}}}}},
		{"skip-failed", consumer.Scenario{Faults: []consumer.Fault{{PG: faults.Plan{{Kind: faults.Error, SQLState: "40001", At: faults.AtCommit(1)}}}}}},
	} {
		tc.sc.Batches = batches()
		t.Run(tc.mode+"/"+tc.sc.String(), func(t *testing.T) {
			p := program(tc.mode)
			clean := run(t, p, consumer.Scenario{Batches: batches()})
			if d := diff(t, clean, run(t, p, tc.sc)); d.Equal {
				t.Fatalf("%s under %v left the clean run's state", tc.mode, tc.sc)
			}
		})
	}
}

func TestContractErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		program consumer.Program
		want    string
	}{
		{"exits", consumer.Program{Command: "echo bye; exit 3"}, "exited before catching up"},
		{"never fetches", consumer.Program{Command: "sleep 600", CatchUpTimeout: 2 * time.Second}, "never fetched"},
		{"reads another topic", consumer.Program{Command: "IDEMCHECK_TOPIC=orders-elsewhere " + bin + " -mode exactly-once",
			SetupCommand: bin + " -setup", CatchUpTimeout: 2 * time.Second}, "asked the brokers about [orders-elsewhere], never about its topic"},
		{"ignores SIGTERM", consumer.Program{Command: "trap '' TERM; " + bin + " -mode exactly-once & wait; sleep 600",
			SetupCommand: bin + " -setup", StopTimeout: time.Second}, "did not exit within 1s of SIGTERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &consumer.Runner{Target: target, Broker: broker, Program: tc.program}
			_, err := r.Run(context.Background(), consumer.Scenario{Batches: batches()})
			if !errors.Is(err, consumer.ErrBadConsumer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want ErrBadConsumer saying %q", err, tc.want)
			}
		})
	}
}

// A rebalance zombie: the exactly-once consumer's late transaction is
// fenced; the unfenced one's applies its records a second time.
func TestZombies(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		at    faults.Point // the first write: a transaction's first statement, or an insert on its own
		equal bool
	}{{"exactly-once", faults.AtStmt(1, 1), true}, {"unfenced", faults.AtStmt(1, 1), false}, {"insert-then-commit", faults.AtCommit(1), false}, {"commit-first", faults.AtCommit(1), true}} {
		t.Run(tc.mode, func(t *testing.T) {
			z := &consumer.Zombie{At: tc.at}
			p := program(tc.mode)
			clean := run(t, p, consumer.Scenario{Batches: batches()})
			obs := run(t, p, consumer.Scenario{Batches: batches(), Zombie: z})
			if len(obs.Processes) < 2 || !obs.Processes[0].Fired {
				t.Fatalf("the zombie never froze: %v", obs.Processes)
			}
			if d := diff(t, clean, obs); d.Equal != tc.equal {
				t.Fatalf("%s with %v: equal to the clean run: %v, want %v\n%v\n%v", tc.mode, z, d.Equal, tc.equal, obs.Processes, d)
			}
		})
	}
}

// An interleaving plays: the consumer polls the released records step by
// step, and the reference's state is the clean run's.
func TestInterleavingIsPlayed(t *testing.T) {
	p := program("exactly-once")
	// Eight keys a batch: both partitions have records of every batch.
	var bs []harness.Batch[harness.Order]
	for b := range 3 {
		var rs []harness.Order
		for i := range 8 {
			rs = append(rs, harness.Order{Source: "shop", ID: int64(i), Version: int64(b + 1), EventDate: harness.NewDate(2026, 11, 1),
				Customer: "c", Amount: "1"})
		}
		bs = append(bs, harness.Batch[harness.Order]{Records: rs})
	}
	clean := run(t, p, consumer.Scenario{Batches: bs})
	sc := consumer.Scenario{Batches: bs, Interleaving: []int{1, 1, 0, 0, 0, 1}}
	obs := run(t, p, sc)
	if d := diff(t, clean, obs); !d.Equal {
		t.Fatalf("%v: the state differs from the clean run's:\n%v", sc, d)
	}
	// Each step's records came in a poll of their own (or several),
	// where the clean run may have had them all at once.
	if got := obs.Processes[0].Polls; got < len(sc.Interleaving) {
		t.Errorf("%d polls with records under %v; each of its %d steps' records are released apart", got, sc, len(sc.Interleaving))
	}
	var polls int
	for _, m := range obs.Processes[0].Marks {
		if m.Kind == trial.PollMark {
			polls++
		}
	}
	if polls != obs.Processes[0].Polls {
		t.Errorf("%d poll marks for %d polls", polls, obs.Processes[0].Polls)
	}
}

func TestBadInterleavingIsRefused(t *testing.T) {
	r := &consumer.Runner{Target: target, Broker: broker, Program: program("exactly-once")}
	_, err := r.Run(context.Background(), consumer.Scenario{Batches: batches(), Interleaving: []int{0, 1, 0}})
	if err == nil || !strings.Contains(err.Error(), "once a batch") {
		t.Fatalf("got %v; want the interleaving refused", err)
	}
}
