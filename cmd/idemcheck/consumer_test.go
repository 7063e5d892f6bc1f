package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/properties"
)

// builtOnce builds the command of package pkg (relative to this one)
// once, beside the idemcheck binary of the tests, and returns its path.
func builtOnce(pkg string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		bin := filepath.Join(filepath.Dir(binary), filepath.Base(pkg))
		out, err := exec.Command(goTool(), "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return "", &exec.Error{Name: "go build " + pkg + ": " + string(out), Err: err}
		}
		return bin, nil
	})
}

// kafkaOrders and queueOrders are the reference consumers, built once.
var (
	kafkaOrders = builtOnce("../../reference/consumer/kafka-orders")
	queueOrders = builtOnce("../../reference/queue/queue-orders")
)

// consumerArgs are the flags that certify the consumer of lang in mode:
// the reference Go consumer (its own setup), or the Python and Node ones
// of testdata (their setup.sql).
func consumerArgs(t *testing.T, lang, mode string) []string {
	t.Helper()
	switch lang {
	case "go":
		bin, err := kafkaOrders()
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--consumer", bin + " -mode " + mode, "--setup", bin + " -setup -mode " + mode, "--ignore-table", "consumer_offsets"}
	case "python":
		needTools(t, "/usr/bin/python3")
		return []string{"--consumer", "/usr/bin/python3 testdata/consumers/confluent_consumer.py " + mode, "--setup-sql", "testdata/consumers/setup.sql"}
	case "node":
		needTools(t, "node", "npm")
		nodePackages(t)
		return []string{"--consumer", "node testdata/recipes/node/kafkajs_consumer.js " + mode, "--setup-sql", "testdata/consumers/setup.sql"}
	}
	t.Fatalf("no consumer in %s", lang)
	return nil
}

// TestCertifyConsumers certifies a correct and a broken consumer in Go,
// Python and Node on the embedded broker. The correct ones hold every law
// that applies, the commit-first ones lose a record under RetryEquivalence;
// both for any seed (the smoke scenarios hold the faults that matter).
//
// Not in parallel with other tests: the Node and Python consumers use the
// 500 ms session timeout, and on a loaded machine a member that misses
// its heartbeats is removed from the group (a real rebalance); kafkajs
// then fails its commit with ILLEGAL_GENERATION and the consumer exits.
func TestCertifyConsumers(t *testing.T) {
	for _, lang := range []string{"go", "python", "node"} {
		t.Run(lang, func(t *testing.T) {
			// --checks 3 does not reach the default coverage; the smoke
			// scenarios fire every kind of fault whatever the seed.
			got := certify(t, exitOK, append(consumerArgs(t, lang, "exactly-once"), "--checks", "3", "--min-coverage", "0")...)
			for _, law := range []string{"Determinism", "ReplayIdempotence", "OrderIndependence", "RetryEquivalence", "ZombieSafety"} {
				if got[law].Verdict != "held" {
					t.Errorf("exactly-once %s: %s (%s), want held", law, got[law].Verdict, got[law].Reason)
				}
			}
			if got["CrashAtomicity"].Verdict != "not-claimed" {
				t.Errorf("CrashAtomicity: %s, want not-claimed (not checked for consumers yet)", got["CrashAtomicity"].Verdict)
			}
			got = certify(t, exitViolation, append(consumerArgs(t, lang, "commit-first"), "--checks", "3", "--laws", "RetryEquivalence")...)
			if l := got["RetryEquivalence"]; l.Verdict != "violated" || l.Failure != properties.LostRows {
				t.Errorf("commit-first RetryEquivalence: %s, %s (%s); want violated, lost-rows", l.Verdict, l.Failure, l.Reason)
			}
		})
	}
}

// brokerProcess runs idemcheck broker in another process and returns its
// address: what --kafka meets on a real cluster (a broker over TCP that
// is not this process's), here with the embedded one.
func brokerProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(binary, "broker", "--port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("idemcheck broker said %q: %v", line, err)
	}
	_, rest, _ := strings.Cut(line, " at ")
	addr, _, _ := strings.Cut(rest, ";")
	if addr == "" {
		t.Fatalf("no address in %q", line)
	}
	return addr
}

// leftovers lists what idemcheck left on the broker at addr.
func leftovers(t *testing.T, addr string) []string {
	t.Helper()
	b, err := kafka.Dial(context.Background(), []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	left, err := b.Leftovers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return left
}

func TestCertifyConsumerOnAClusterByAddress(t *testing.T) {
	addr := brokerProcess(t)
	got := certify(t, exitOK, append(consumerArgs(t, "go", "exactly-once"), "--checks", "3", "--min-coverage", "0", "--kafka", addr)...)
	if got["RetryEquivalence"].Verdict != "held" {
		t.Errorf("RetryEquivalence: %s (%s)", got["RetryEquivalence"].Verdict, got["RetryEquivalence"].Reason)
	}
	if left := leftovers(t, addr); len(left) > 0 {
		t.Errorf("the run left %v on the cluster", left)
	}
	code, _, stderr := idemcheck(t, "certify", "--consumer", "true", "--kafka", "127.0.0.1:1")
	if code != exitUsage || !strings.Contains(stderr, "--kafka 127.0.0.1:1: kafka: no broker answers") {
		t.Errorf("an unreachable --kafka: exit %d, %s", code, stderr)
	}
}

// An interrupted certification leaves no topic, group or process behind.
func TestInterruptedConsumerRunLeavesNothing(t *testing.T) {
	addr := brokerProcess(t)
	args := append([]string{"certify", "--checks", "50", "--kafka", addr}, consumerArgs(t, "go", "exactly-once")...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the run has a topic of its own on the cluster.
	deadline := time.Now().Add(30 * time.Second)
	for len(leftovers(t, addr)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run never created a topic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if left := leftovers(t, addr); len(left) > 0 {
		t.Errorf("after SIGINT the run left %v on the cluster", left)
	}
	bin, _ := kafkaOrders() // this test binary's own: other packages' tests run theirs
	if out, _ := exec.Command("pgrep", "-f", bin+" -mode").Output(); len(out) > 0 {
		t.Errorf("consumer processes outlived the run: %s", out)
	}
}

// queueArgs are the flags that certify the JetStream consumer of lang
// in mode: the reference Go consumer (its own setup), or the Node one of
// testdata (queue_setup.sql).
func queueArgs(t *testing.T, lang, mode string) []string {
	t.Helper()
	switch lang {
	case "go":
		bin, err := queueOrders()
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--source", "nats", "--consumer", bin + " -mode " + mode, "--setup", bin + " -setup -mode " + mode}
	case "node":
		needTools(t, "node", "npm")
		nodePackages(t)
		return []string{"--source", "nats", "--consumer", "node testdata/recipes/node/nats_consumer.js " + mode,
			"--setup-sql", "testdata/consumers/queue_setup.sql"}
	}
	t.Fatalf("no JetStream consumer in %s", lang)
	return nil
}

// amqpArgs are the flags that certify the RabbitMQ consumer of lang in
// mode: the reference Go consumer, or the Python (pika) and Node
// (amqplib) ones of testdata.
func amqpArgs(t *testing.T, lang, mode string) []string {
	t.Helper()
	setup := []string{"--setup-sql", "testdata/consumers/queue_setup.sql"}
	switch lang {
	case "go":
		bin, err := queueOrders()
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--source", "amqp", "--consumer", bin + " -mode " + mode, "--setup", bin + " -setup -mode " + mode}
	case "python":
		needTools(t, "/usr/bin/python3")
		return append([]string{"--source", "amqp", "--consumer", "/usr/bin/python3 testdata/consumers/pika_consumer.py " + mode}, setup...)
	case "node":
		needTools(t, "node", "npm")
		nodePackages(t)
		return append([]string{"--source", "amqp", "--consumer", "node testdata/recipes/node/amqplib_consumer.js " + mode}, setup...)
	}
	t.Fatalf("no RabbitMQ consumer in %s", lang)
	return nil
}

// machineRabbit skips a test without the machine's RabbitMQ (a failure
// where IDEMCHECK_REQUIRE_RABBITMQ is set, as .ci/run sets it), and
// returns a function listing idemcheck's queues on it (by rabbitmqctl:
// AMQP cannot list queues).
func machineRabbit(t *testing.T) func() []string {
	t.Helper()
	r, err := rabbitmq.Dial(context.Background(), rabbitmq.DefaultURL)
	if err != nil && os.Getenv("IDEMCHECK_REQUIRE_RABBITMQ") != "" {
		t.Fatalf("IDEMCHECK_REQUIRE_RABBITMQ is set, and: %v", err)
	}
	if err != nil {
		t.Skipf("no RabbitMQ at %s (.ci/run starts one): %v", rabbitmq.DefaultURL, err)
	}
	r.Close()
	needTools(t, "rabbitmqctl")
	return func() []string {
		out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "name").Output()
		if err != nil {
			t.Fatalf("rabbitmqctl list_queues: %v", err)
		}
		var names []string
		for _, name := range strings.Fields(string(out)) {
			if strings.HasPrefix(name, rabbitmq.Prefix) {
				names = append(names, name)
			}
		}
		return names
	}
}

// newSince lists the names list gives now that were not in before,
// waiting (up to 20 s) for those of runs that are still ending, for
// instance other packages' tests on the same server: what a run leaks
// stays, what another run holds for a moment goes.
func newSince(t *testing.T, before []string, list func() []string) []string {
	t.Helper()
	was := map[string]bool{}
	for _, name := range before {
		was[name] = true
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var added []string
		for _, name := range list() {
			if !was[name] {
				added = append(added, name)
			}
		}
		if len(added) == 0 || time.Now().After(deadline) {
			return added
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The reference RabbitMQ consumer and the Python and Node ones hold every
// law that applies; their ack-first modes lose a message; no queue of the
// runs is left on the server.
func TestCertifyRabbitMQConsumers(t *testing.T) {
	queues := machineRabbit(t)
	before := queues()
	for _, lang := range []string{"go", "python", "node"} {
		t.Run(lang, func(t *testing.T) {
			got := certify(t, exitOK, append(amqpArgs(t, lang, "exactly-once"), "--checks", "3", "--min-coverage", "0")...)
			for _, law := range []string{"Determinism", "ReplayIdempotence", "RetryEquivalence", "ZombieSafety"} {
				if got[law].Verdict != "held" {
					t.Errorf("exactly-once %s: %s (%s), want held", law, got[law].Verdict, got[law].Reason)
				}
			}
			got = certify(t, exitViolation, append(amqpArgs(t, lang, "ack-first"), "--checks", "3", "--laws", "RetryEquivalence")...)
			if l := got["RetryEquivalence"]; l.Verdict != "violated" || l.Failure != properties.LostRows {
				t.Errorf("ack-first RetryEquivalence: %s, %s (%s); want violated, lost-rows", l.Verdict, l.Failure, l.Reason)
			}
		})
	}
	if left := newSince(t, before, queues); len(left) > 0 {
		t.Errorf("the runs left queues %v on the server", left)
	}
	code, _, stderr := idemcheck(t, "certify", "--source", "amqp", "--consumer", "true", "--amqp", "amqp://guest:guest@127.0.0.1:1/")
	if code != exitUsage || !strings.Contains(stderr, "rabbitmq: no server answers") {
		t.Errorf("an unreachable --amqp: exit %d, %s", code, stderr)
	}
}

// An interrupted RabbitMQ certification leaves no queue or process
// behind.
func TestInterruptedRabbitMQRunLeavesNothing(t *testing.T) {
	queues := machineRabbit(t)
	before := queues()
	args := append([]string{"certify", "--checks", "50"}, amqpArgs(t, "go", "exactly-once")...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(queues()) <= len(before) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run never declared a queue")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if left := newSince(t, before, queues); len(left) > 0 {
		t.Errorf("after SIGINT the run left %v on the server", left)
	}
}

// machineNATS is the NATS server of the machine (.ci/run starts one with
// JetStream where none runs), or a skip; a failure where
// IDEMCHECK_REQUIRE_NATS is set, as .ci/run sets it.
func machineNATS(t *testing.T) *natsjs.Server {
	t.Helper()
	s, err := natsjs.Dial(context.Background(), "nats://127.0.0.1:4222")
	if err != nil && os.Getenv("IDEMCHECK_REQUIRE_NATS") != "" {
		t.Fatalf("IDEMCHECK_REQUIRE_NATS is set, and: %v", err)
	}
	if err != nil {
		t.Skipf("no NATS server with JetStream at 127.0.0.1:4222 (.ci/run starts one): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func streamsLeft(t *testing.T, s *natsjs.Server) []string {
	t.Helper()
	left, err := s.Leftovers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// The reference JetStream consumer holds every law that applies on the
// embedded server and on the machine's; ack-first loses a message; the
// machine's server is left as it was.
func TestCertifyJetStreamConsumers(t *testing.T) {
	// It mostly waits; no other parallel test uses the machine's NATS,
	// whose streams it counts.
	t.Parallel()
	for _, lang := range []string{"go", "node"} {
		t.Run(lang, func(t *testing.T) {
			got := certify(t, exitOK, append(queueArgs(t, lang, "exactly-once"), "--checks", "3", "--min-coverage", "0")...)
			for _, law := range []string{"Determinism", "ReplayIdempotence", "RetryEquivalence", "ZombieSafety"} {
				if got[law].Verdict != "held" {
					t.Errorf("exactly-once %s: %s (%s), want held", law, got[law].Verdict, got[law].Reason)
				}
			}
			if got["OrderIndependence"].Verdict != "not-claimed" {
				t.Errorf("OrderIndependence: %s, want not-claimed on JetStream", got["OrderIndependence"].Verdict)
			}
			got = certify(t, exitViolation, append(queueArgs(t, lang, "ack-first"), "--checks", "3", "--laws", "RetryEquivalence")...)
			if l := got["RetryEquivalence"]; l.Verdict != "violated" || l.Failure != properties.LostRows {
				t.Errorf("ack-first RetryEquivalence: %s, %s (%s); want violated, lost-rows", l.Verdict, l.Failure, l.Reason)
			}
		})
	}
	t.Run("machine's server", func(t *testing.T) {
		s := machineNATS(t)
		before := streamsLeft(t, s)
		got := certify(t, exitOK, append(queueArgs(t, "go", "exactly-once"), "--checks", "3", "--min-coverage", "0", "--nats", s.URL())...)
		if got["RetryEquivalence"].Verdict != "held" {
			t.Errorf("RetryEquivalence: %s (%s)", got["RetryEquivalence"].Verdict, got["RetryEquivalence"].Reason)
		}
		if left := newSince(t, before, func() []string { return streamsLeft(t, s) }); len(left) > 0 {
			t.Errorf("the run left %v on the server", left)
		}
	})
	code, _, stderr := idemcheck(t, "certify", "--source", "nats", "--consumer", "true", "--nats", "nats://127.0.0.1:1")
	if code != exitUsage || !strings.Contains(stderr, "--nats nats://127.0.0.1:1: natsjs: no server answers") {
		t.Errorf("an unreachable --nats: exit %d, %s", code, stderr)
	}
	code, _, stderr = idemcheck(t, "certify", "--consumer", "true", "--nats", "nats://127.0.0.1:4222")
	if code != exitUsage || !strings.Contains(stderr, "add --source nats") {
		t.Errorf("--nats without --source nats: exit %d, %s", code, stderr)
	}
}

// An interrupted JetStream certification leaves no stream or process
// behind on the machine's server.
func TestInterruptedJetStreamRunLeavesNothing(t *testing.T) {
	s := machineNATS(t)
	before := streamsLeft(t, s)
	args := append([]string{"certify", "--checks", "50", "--nats", s.URL()}, queueArgs(t, "go", "exactly-once")...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(streamsLeft(t, s)) <= len(before) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run never created a stream")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if left := newSince(t, before, func() []string { return streamsLeft(t, s) }); len(left) > 0 {
		t.Errorf("after SIGINT the run left %v on the server", left)
	}
	bin, _ := queueOrders()
	if out, _ := exec.Command("pgrep", "-f", bin+" -mode").Output(); len(out) > 0 {
		t.Errorf("consumer processes outlived the run: %s", out)
	}
}

// A queue consumer that takes its messages and never acks one is told so
// (exit 2), on JetStream and on RabbitMQ.
func TestQueueConsumersThatAckNothingAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		need func(*testing.T)
	}{
		{"jetstream", []string{"--source", "nats", "--consumer", `node -e '
const { connect } = require("nats");
(async () => {
  const nc = await connect({ servers: process.env.IDEMCHECK_NATS_URL });
  const c = await nc.jetstream().consumers.get(process.env.IDEMCHECK_STREAM, process.env.IDEMCHECK_CONSUMER);
  for (;;) for await (const m of await c.fetch({ max_messages: 10, expires: 1000 })) {}
})()'`}, func(t *testing.T) { needTools(t, "node", "npm"); nodePackages(t) }},
		{"rabbitmq", []string{"--source", "amqp", "--consumer", `/usr/bin/python3 -c '
import os, pika
ch = pika.BlockingConnection(pika.URLParameters(os.environ["IDEMCHECK_AMQP_URL"])).channel()
ch.basic_consume(queue=os.environ["IDEMCHECK_QUEUE"], on_message_callback=lambda *a: None)
ch.start_consuming()'`}, func(t *testing.T) { machineRabbit(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.need(t)
			args := append([]string{"certify", "--setup-sql", "testdata/consumers/queue_setup.sql", "--timeout", "3s", "--checks", "1"}, tc.args...)
			cmd := exec.Command(binary, args...)
			cmd.Dir = "."
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join("testdata", "recipes", "node", "node_modules"))
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), "never acked one") {
				t.Fatalf("exit %d; want 2 and the consumer named as one that never acks:\n%s", code, out)
			}
		})
	}
}
