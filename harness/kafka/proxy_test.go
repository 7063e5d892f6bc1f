package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeAll joins t's group through addrs, commits after each poll, and
// returns the values it read, until it has read want or ctx ends.
func consumeAll(ctx context.Context, t *testing.T, addrs []string, topic *Topic, want int) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(topic.Group), kgo.ConsumeTopics(topic.Name),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(SessionTimeout), kgo.HeartbeatInterval(HeartbeatInterval), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, err
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return got, err
		}
	}
	return got, nil
}

func newTrialTopic(t *testing.T) (*Broker, *Topic) {
	t.Helper()
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	topic, err := b.NewTopic(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Record
	for _, k := range []string{"a", "b", "c", "d"} {
		rs = append(rs, Record{Key: []byte(k), Value: []byte(k)})
	}
	if err := b.Produce(ctx, topic, rs); err != nil {
		t.Fatal(err)
	}
	return b, topic
}

func TestProxyRelaysAGroupConsumer(t *testing.T) {
	b, topic := newTrialTopic(t)
	p, err := NewProxy(b.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := p.Begin(nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := consumeAll(ctx, t, p.Addrs(), topic, 4)
	if err != nil {
		t.Fatalf("consumed %v: %v", got, err)
	}
	if lag, err := b.Lag(ctx, topic); err != nil || lag != 0 {
		t.Fatalf("lag %d, %v; want 0 after every record was committed", lag, err)
	}
	if s.Commits() == 0 || s.Fetches() == 0 {
		t.Fatalf("the session saw %d commits and %d fetches; the proxy counts neither", s.Commits(), s.Fetches())
	}
}

func TestCommitFaults(t *testing.T) {
	for _, tc := range []struct {
		fault   CommitFault
		wantLag bool // whether the first commit is lost
	}{
		{CommitFault{Kind: KillBeforeCommit, Commit: 1}, true},
		{CommitFault{Kind: KillAfterCommit, Commit: 1}, false},
		{CommitFault{Kind: FailCommit, Commit: 1, Code: kerr.RebalanceInProgress.Code}, true},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			b, topic := newTrialTopic(t)
			p, err := NewProxy(b.Seeds())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cctx, stop := context.WithCancel(ctx)
			s := p.Begin(&tc.fault, stop)
			// A fault that kills ends the consumer; one that fails the
			// commit makes the commit return the error.
			consumeAll(cctx, t, p.Addrs(), topic, 4)
			if !s.Fired() {
				t.Fatalf("%v never fired (%d commits)", tc.fault, s.Commits())
			}
			lag, err := b.Lag(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			if (lag > 0) != tc.wantLag {
				t.Fatalf("after %v the group lags %d records", tc.fault, lag)
			}
		})
	}
}
