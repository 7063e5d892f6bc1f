package natsjs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func embedded(t *testing.T) *Server {
	t.Helper()
	s, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// published makes a stream with messages m0..m(n-1) on s.
func published(t *testing.T, s *Server, n int) *Stream {
	t.Helper()
	ctx := context.Background()
	st, err := s.NewStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	for i := range n {
		msgs = append(msgs, Message{ID: fmt.Sprint(i), Data: fmt.Appendf(nil, "m%d", i)})
	}
	if err := s.Publish(ctx, st, msgs); err != nil {
		t.Fatal(err)
	}
	return st
}

// consume reads st's durable consumer through url, acking each message,
// until the server has nothing pending for it, its connection is cut, or
// ctx ends; it returns every message it was given, redeliveries
// included.
func consume(ctx context.Context, t *testing.T, url string, s *Server, st *Stream) []string {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx, st.Name, st.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ctx.Err() == nil && !nc.IsClosed() {
		if n, err := s.Pending(ctx, st); err != nil || n == 0 {
			break
		}
		batch, err := c.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			break
		}
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
			m.Ack()
		}
	}
	return got
}

func TestStreamLifecycle(t *testing.T) {
	s := embedded(t)
	ctx := context.Background()
	st := published(t, s, 3)
	// A second publish of an ID is dropped by the server.
	if err := s.Publish(ctx, st, []Message{{ID: "1", Data: []byte("m1 again")}, {Data: []byte("m3")}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Stored(ctx, st); err != nil || n != 4 {
		t.Fatalf("stored %d (%v); want 4: m0-m2 and m3, the repeated ID dropped", n, err)
	}
	if n, err := s.Pending(ctx, st); err != nil || n != 4 {
		t.Fatalf("pending %d (%v); want 4", n, err)
	}
	left, err := s.Leftovers(ctx)
	if err != nil || !slices.Contains(left, st.Name) {
		t.Fatalf("leftovers %v (%v); want %s among them", left, err, st.Name)
	}
	if n, err := s.Reap(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("reaped %d (%v) streams younger than an hour", n, err)
	}
	if n, err := s.Reap(ctx, -time.Hour); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v); want this run's one stream", n, err)
	}
	if left, _ := s.Leftovers(ctx); len(left) != 0 {
		t.Fatalf("left %v after reaping", left)
	}
	if err := s.remove(ctx, "ORDERS"); err == nil {
		t.Fatal("a stream not named by idemcheck was deleted")
	}
}

func TestProxyRelaysAConsumer(t *testing.T) {
	s := embedded(t)
	st := published(t, s, 4)
	p, err := NewProxy(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sess := p.Begin(nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := consume(ctx, t, p.URL(), s, st)
	if len(got) != 4 {
		t.Fatalf("consumed %v; want m0-m3 once each", got)
	}
	if sess.Deliveries() != 4 || sess.Acks() != 4 || sess.Pulls() == 0 {
		t.Fatalf("the session saw %d deliveries, %d acks and %d pulls; want 4, 4 and some", sess.Deliveries(), sess.Acks(), sess.Pulls())
	}
	if got := sess.Streams(); !slices.Equal(got, []string{st.Name}) {
		t.Fatalf("the session saw requests about streams %v; want [%s]", got, st.Name)
	}
	if n, err := s.Pending(ctx, st); err != nil || n != 0 {
		t.Fatalf("pending %d (%v) after every message was acked", n, err)
	}
}

// A lost ack and a negative one each make the server deliver the message
// again; a kill before the ack leaves it unacked.
func TestAckFaults(t *testing.T) {
	for _, tc := range []struct {
		fault       acks.Fault
		redelivered bool
	}{
		{acks.Fault{Kind: acks.Lose, Ack: 1}, true},
		{acks.Fault{Kind: acks.Nak, Ack: 2}, true},
		{acks.Fault{Kind: acks.KillAfter, Ack: 1}, false},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			s := embedded(t)
			st := published(t, s, 3)
			p, err := NewProxy(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var killed atomic.Bool
			sess := p.Begin(&tc.fault, func() { killed.Store(true) })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := consume(ctx, t, p.URL(), s, st)
			if !sess.Fired() {
				t.Fatalf("%v never fired", tc.fault)
			}
			if redelivered := len(got) > 3; redelivered != tc.redelivered {
				t.Fatalf("%v: consumed %v", tc.fault, got)
			}
			if tc.fault.Kind == acks.KillAfter {
				if !killed.Load() {
					t.Fatal("the consumer was not killed")
				}
				if n, err := s.Pending(ctx, st); err != nil || n != 2 {
					t.Fatalf("pending %d (%v) after the first ack went through and the consumer died; want 2", n, err)
				}
			}
		})
	}
}

func TestKillBeforeAckLeavesItUnacked(t *testing.T) {
	s := embedded(t)
	st := published(t, s, 2)
	p, err := NewProxy(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var killed atomic.Bool
	p.Begin(&acks.Fault{Kind: acks.KillBefore, Ack: 1}, func() { killed.Store(true) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	consume(ctx, t, p.URL(), s, st)
	if !killed.Load() {
		t.Fatal("the consumer was not killed")
	}
	if n, err := s.Pending(ctx, st); err != nil || n != 2 {
		t.Fatalf("pending %d (%v); the ack never left, so want both", n, err)
	}
}

// Against the NATS server of the machine, when there is one: what a
// real server meets is the code the embedded one tests, and nothing is
// left on it.
func TestRealServer(t *testing.T) {
	ctx := context.Background()
	s, err := Dial(ctx, "nats://127.0.0.1:4222")
	if err != nil && os.Getenv("IDEMCHECK_REQUIRE_NATS") != "" {
		t.Fatalf("IDEMCHECK_REQUIRE_NATS is set, and: %v", err)
	}
	if err != nil {
		t.Skipf("no NATS server with JetStream at 127.0.0.1:4222 (.ci/run starts one): %v", err)
	}
	st := published(t, s, 2)
	p, err := NewProxy(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Begin(nil, nil)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if got := consume(cctx, t, p.URL(), s, st); len(got) != 2 {
		t.Fatalf("consumed %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Dial(ctx, "nats://127.0.0.1:4222")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	left, err := s2.Leftovers(ctx)
	if err != nil || slices.Contains(left, st.Name) {
		t.Fatalf("left %v (%v) on the server", left, err)
	}
}

// A store left by a killed run (its lock free) is removed by the next
// embedded server; a live one's is not.
func TestStoresOfKilledRunsAreReaped(t *testing.T) {
	live := embedded(t)
	dead, err := os.MkdirTemp("", storePattern)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	if err := os.WriteFile(filepath.Join(dead, ".lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(dead, old, old)
	os.Chtimes(live.dir, old, old)
	embedded(t)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead run's store %s is still there (%v)", dead, err)
	}
	if _, err := os.Stat(live.dir); err != nil {
		t.Errorf("the live server's store was removed: %v", err)
	}
}
