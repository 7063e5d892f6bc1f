package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	s := p.Begin(Fault{}, nil)
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
			// The "kill" ends the in-process consumer's context; a new
			// session lets its client leave the group through the proxy
			// as it closes (a real kill would not, and the session would
			// expire).
			s := p.Begin(Fault{Commit: &tc.fault}, func() { p.Begin(Fault{}, nil); stop() })
			consumeAll(cctx, t, p.Addrs(), topic, 4)
			if !s.Fired() {
				t.Fatalf("%v never fired (%d commits)", tc.fault, s.Commits())
			}
			lctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			lag, err := b.Lag(lctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			if (lag > 0) != tc.wantLag {
				t.Fatalf("after %v the group lags %d records", tc.fault, lag)
			}
		})
	}
}

// A failed commit reaches the client as the error code, on every
// partition it named, and is not applied.
func TestFailedCommitIsAnsweredAndNotApplied(t *testing.T) {
	b, topic := newTrialTopic(t)
	p, err := NewProxy(b.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fault := CommitFault{Kind: FailCommit, Commit: 1, Code: kerr.RebalanceInProgress.Code}
	s := p.Begin(Fault{Commit: &fault}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addrs()...), kgo.ConsumerGroup(topic.Group), kgo.ConsumeTopics(topic.Name),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(SessionTimeout), kgo.HeartbeatInterval(HeartbeatInterval), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) == 0 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	var codes []int16
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic.Name: {recs[0].Partition: {Epoch: -1, Offset: recs[0].Offset + 1}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil || resp == nil {
				t.Errorf("commit: %v", err)
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					codes = append(codes, rp.ErrorCode)
				}
			}
		})
	if !s.Fired() || len(codes) != 1 || codes[0] != fault.Code {
		t.Fatalf("fired %v, the client saw codes %v; want [%d]", s.Fired(), codes, fault.Code)
	}
	if lag, err := b.Lag(ctx, topic); err != nil || lag != 4 {
		t.Fatalf("lag %d (%v) after a refused commit; want all 4 records", lag, err)
	}
}
