package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// batch is a record batch header for base offset and n records, with a
// payload of pad bytes (what the proxy reads of a batch is its header).
func batch(base int64, n, pad int) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(base))
	b = binary.BigEndian.AppendUint32(b, uint32(61-12+pad))
	b = append(b, make([]byte, batchLastDeltaAt-12)...)
	b = binary.BigEndian.AppendUint32(b, uint32(n-1))
	return append(b, make([]byte, 61-batchHeadWithDelta+pad)...)
}

func TestBatchesBelow(t *testing.T) {
	b0, b1, b2 := batch(0, 3, 5), batch(3, 2, 0), batch(5, 4, 9)
	all := slices.Concat(b0, b1, b2)
	for _, tc := range []struct {
		limit int64
		want  []byte
	}{
		{0, nil}, {2, nil}, {3, b0}, {4, b0}, {5, slices.Concat(b0, b1)}, {9, all}, {1 << 62, all},
	} {
		if got := batchesBelow(all, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("below %d: kept %d bytes, want %d", tc.limit, len(got), len(tc.want))
		}
	}
	if n := countRecords(all); n != 9 {
		t.Errorf("counted %d records, want 9", n)
	}
	// A batch cut short, as a broker ends a response at its byte limit,
	// is kept while it begins below the limit, and never counted.
	cut := slices.Concat(b0, b1[:20])
	if got := batchesBelow(cut, 4); !slices.Equal(got, cut) {
		t.Errorf("a cut batch from 3, below 4: kept %d of %d bytes", len(got), len(cut))
	}
	if got := batchesBelow(cut, 3); !slices.Equal(got, b0) {
		t.Errorf("a cut batch from 3, below 3: kept %d bytes, want %d", len(got), len(b0))
	}
	if n := countRecords(cut); n != 3 {
		t.Errorf("counted %d records with a cut batch, want 3", n)
	}
}

// received consumes t's group through addrs, committing after each poll,
// until it has want records; it returns them in the order they came.
func received(ctx context.Context, t *testing.T, addrs []string, topic *Topic, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(topic.Group), kgo.ConsumeTopics(topic.Name),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(SessionTimeout), kgo.HeartbeatInterval(HeartbeatInterval), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		got = append(got, fs.Records()...)
		cl.CommitUncommittedOffsets(ctx)
	}
	if len(got) < want {
		t.Fatalf("received %d of %d records: %v", len(got), want, ctx.Err())
	}
	return got
}

// The gate's order holds across partitions whatever the broker serves:
// each step's records arrive before any of the next step's.
func TestGateOrdersRecordsAcrossPartitions(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, err := b.NewTopic(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Three chunks, each a record per key; the keys land on both
	// partitions.
	var ends []map[int32]int64
	for c := range 3 {
		var rs []Record
		for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
			rs = append(rs, Record{Key: []byte(k), Value: fmt.Appendf(nil, "%s%d", k, c)})
		}
		if err := b.Produce(ctx, topic, rs); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, topic.Ends())
	}
	if ends[0][0] == 0 || ends[0][1] == 0 {
		t.Fatalf("the keys landed on one partition: %v", ends[0])
	}
	// Partition 1 first, chunk by chunk, then partition 0 all at once.
	steps := []Release{{1, ends[0][1]}, {1, ends[1][1]}, {1, ends[2][1]}, {0, ends[2][0]}}
	g, err := NewGate(topic, steps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(b.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetGate(g)
	s := p.Begin(Fault{}, nil)
	got := received(ctx, t, p.Addrs(), topic, int(ends[2][0]+ends[2][1]))
	step := func(r *kgo.Record) int {
		for i, st := range steps {
			if r.Partition == st.Partition && r.Offset < st.Below {
				return i
			}
		}
		return len(steps)
	}
	for i := 1; i < len(got); i++ {
		if step(got[i]) < step(got[i-1]) {
			t.Fatalf("record %d/%d (step %d) came after %d/%d (step %d)", got[i].Partition, got[i].Offset, step(got[i])+1, got[i-1].Partition, got[i-1].Offset, step(got[i-1])+1)
		}
	}
	if s.Polls() < len(steps) {
		t.Fatalf("%d polls for %d steps", s.Polls(), len(steps))
	}
}

func TestNewGateRefusesBadSteps(t *testing.T) {
	topic := &Topic{Name: "t", Partitions: 2}
	if _, err := NewGate(topic, []Release{{2, 1}}); err == nil {
		t.Error("a step on partition 2 of a topic of 2 was taken")
	}
	if _, err := NewGate(topic, []Release{{0, 3}, {0, 2}}); err == nil {
		t.Error("a partition released below its last limit was taken")
	}
}

// A failed poll reaches the client as the error code; it fetches those
// records again and misses none.
func TestFetchFaultIsFetchedAgain(t *testing.T) {
	for _, code := range fetchCodes {
		t.Run(ErrorName(code), func(t *testing.T) {
			b, topic := newTrialTopic(t)
			p, err := NewProxy(b.Seeds())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			fault := FetchFault{Poll: 1, Code: code}
			s := p.Begin(Fault{Fetch: &fault}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := received(ctx, t, p.Addrs(), topic, 4)
			if !s.Fired() || s.Polls() < 2 {
				t.Fatalf("fired %v after %d polls; the first poll's records were never withheld", s.Fired(), s.Polls())
			}
			if len(got) != 4 {
				t.Fatalf("received %d records, want the 4 produced", len(got))
			}
			marks := s.Marks()
			if len(marks) == 0 || marks[0].Kind != Poll || marks[0].Fault == "" {
				t.Fatalf("the first mark is %v, want the failed poll", marks)
			}
		})
	}
}

var fetchCodes = []int16{kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code}
