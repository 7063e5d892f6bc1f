package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness/acks"
	amqp "github.com/rabbitmq/amqp091-go"
)

// machine is the RabbitMQ server of the machine (.ci/run starts one where
// none runs), or a skip; a failure where IDEMCHECK_REQUIRE_RABBITMQ is set.
func machine(t *testing.T) *Server {
	t.Helper()
	s, err := Dial(context.Background(), DefaultURL)
	if err != nil && os.Getenv("IDEMCHECK_REQUIRE_RABBITMQ") != "" {
		t.Fatalf("IDEMCHECK_REQUIRE_RABBITMQ is set, and: %v", err)
	}
	if err != nil {
		t.Skipf("no RabbitMQ at %s (.ci/run starts one): %v", DefaultURL, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func filled(t *testing.T, s *Server, quorum bool, n int) *Queue {
	t.Helper()
	q, err := s.NewQueue(context.Background(), quorum)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for i := range n {
		bodies = append(bodies, fmt.Appendf(nil, "m%d", i))
	}
	if err := s.Publish(context.Background(), q, bodies); err != nil {
		t.Fatal(err)
	}
	return q
}

// consume reads q through the proxy with manual acks, acking each
// message, reconnecting when its connection is cut, until every message
// is acked through the proxy, killed is set, or ctx ends; it returns
// every body it was given.
func consume(ctx context.Context, t *testing.T, s *Server, p *Proxy, q *Queue, killed *atomic.Bool) []string {
	t.Helper()
	var got []string
	for ctx.Err() == nil && !killed.Load() && p.Acked(q.Published()) < q.Published() {
		conn, err := amqp.Dial(s.ConsumerURL(p.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		ch.Qos(2, 0, false)
		ds, err := ch.Consume(q.Name, "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
	deliveries:
		for ctx.Err() == nil && !killed.Load() && p.Acked(q.Published()) < q.Published() {
			select {
			case d, ok := <-ds:
				if !ok {
					break deliveries
				}
				got = append(got, string(d.Body))
				d.Ack(false)
			case <-time.After(50 * time.Millisecond):
			}
		}
		conn.Close()
	}
	return got
}

func TestQueueLifecycle(t *testing.T) {
	s := machine(t)
	for _, quorum := range []bool{false, true} {
		q := filled(t, s, quorum, 3)
		if ok, err := s.Exists(q.Name); !ok || err != nil {
			t.Fatalf("queue %s: exists %v (%v)", q.Name, ok, err)
		}
		if err := s.Remove(q); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Exists(q.Name); ok || err != nil {
			t.Fatalf("queue %s left after Remove: %v (%v)", q.Name, ok, err)
		}
	}
	if ok, _ := s.Exists("idemcheck_never_declared"); ok {
		t.Fatal("a queue never declared exists")
	}
}

func TestProxyRelaysAConsumer(t *testing.T) {
	s := machine(t)
	for _, quorum := range []bool{false, true} {
		t.Run(fmt.Sprintf("quorum=%v", quorum), func(t *testing.T) {
			q := filled(t, s, quorum, 5)
			p, err := NewProxy(s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sess := p.Begin(nil, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var killed atomic.Bool
			got := consume(ctx, t, s, p, q, &killed)
			if len(got) != 5 || p.Acked(5) != 5 {
				t.Fatalf("consumed %v, %d acked; want m0-m4 once each", got, p.Acked(5))
			}
			if sess.Deliveries() != 5 || sess.Acks() != 5 || sess.Requests() == 0 {
				t.Fatalf("the session saw %d deliveries, %d acks and %d requests", sess.Deliveries(), sess.Acks(), sess.Requests())
			}
			if qs := sess.Queues(); len(qs) != 1 || qs[0] != q.Name {
				t.Fatalf("the session consumed %v; want [%s]", qs, q.Name)
			}
		})
	}
}

// A lost ack (and its connection) and a negative one each make the server
// deliver the message again; a kill before the ack leaves it unacked.
func TestAckFaults(t *testing.T) {
	s := machine(t)
	for _, tc := range []struct {
		fault       acks.Fault
		redelivered bool
	}{
		{acks.Fault{Kind: acks.Lose, Ack: 1}, true},
		{acks.Fault{Kind: acks.Nak, Ack: 2}, true},
		{acks.Fault{Kind: acks.KillAfter, Ack: 1}, false},
		{acks.Fault{Kind: acks.KillBefore, Ack: 2}, false},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			q := filled(t, s, false, 3)
			p, err := NewProxy(s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var killed atomic.Bool
			sess := p.Begin(&tc.fault, func() { killed.Store(true) })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := consume(ctx, t, s, p, q, &killed)
			if !sess.Fired() {
				t.Fatalf("%v never fired", tc.fault)
			}
			if redelivered := len(got) > 3; redelivered != tc.redelivered {
				t.Fatalf("%v: consumed %v", tc.fault, got)
			}
			switch tc.fault.Kind {
			case acks.KillAfter:
				if !killed.Load() || p.Acked(3) != 1 {
					t.Fatalf("killed %v, %d acked; want the first ack through and the consumer killed", killed.Load(), p.Acked(3))
				}
			case acks.KillBefore:
				if !killed.Load() || p.Acked(3) != 1 {
					t.Fatalf("killed %v, %d acked; want only the first ack through", killed.Load(), p.Acked(3))
				}
			default:
				if p.Acked(3) != 3 {
					t.Fatalf("%d of 3 acked after the redelivery", p.Acked(3))
				}
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	// class 60, weight 0, body size 5, flags: content-type, delivery-mode, message-id
	h := []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}
	h = append(h, 0x90, 0x80) // bits 15, 12 | bit 7
	h = append(h, 4, 'j', 's', 'o', 'n', 2, 2, '4', '2')
	if id := messageID(h); id != "42" {
		t.Fatalf("message id %q, want 42", id)
	}
	if id := messageID(h[:15]); id != "" {
		t.Fatalf("a cut header gave id %q", id)
	}
}
