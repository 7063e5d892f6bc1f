package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Prefix begins the name of every topic and group the harness creates;
// nothing else is ever deleted.
const Prefix = "idemcheck_"

// SessionTimeout is the group session timeout consumers are asked to use
// (IDEMCHECK_SESSION_TIMEOUT_MS). A restarted consumer gets its
// partitions only once the killed member's session has expired, as on a
// real cluster; with client defaults (10-45 s) every restart would wait
// that long.
const SessionTimeout = 500 * time.Millisecond

// HeartbeatInterval is the heartbeat interval that goes with it
// (IDEMCHECK_HEARTBEAT_INTERVAL_MS): clients refuse one longer than the
// session timeout.
const HeartbeatInterval = 100 * time.Millisecond

// Broker is a Kafka cluster to run consumer trials on: the embedded one
// (franz-go's kfake, a Kafka protocol implementation in this process, not
// Apache Kafka) or an existing cluster reached by its seed brokers. The
// harness creates its own topics and groups on it, named with Prefix and
// the run, and deletes only those.
type Broker struct {
	seeds []string
	fake  *kfake.Cluster
	cl    *kgo.Client
	adm   *kadm.Client
	run   string
	n     atomic.Int64

	mu       sync.Mutex
	owned    map[string]bool // topics (and the groups of the same name) not yet removed
	closing  bool            // Close began: no topic is created any more
	creating sync.WaitGroup  // NewTopic calls under way, which Close waits for
}

// Embedded starts an in-process broker listening on 127.0.0.1 with a
// group minimum session timeout low enough for SessionTimeout.
func Embedded() (*Broker, error) { return EmbeddedOn(0) }

// EmbeddedOn is Embedded listening on 127.0.0.1:port (0: any free port).
func EmbeddedOn(port int) (*Broker, error) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("kafka: start the embedded broker: %w", err)
	}
	b, err := open(fake.ListenAddrs())
	if err != nil {
		fake.Close()
		return nil, err
	}
	b.fake = fake
	return b, nil
}

// Dial reaches an existing cluster (Kafka, Redpanda, or any broker of
// the protocol) by its seed brokers, host:port each.
func Dial(ctx context.Context, seeds []string) (*Broker, error) {
	if len(seeds) == 0 {
		return nil, errors.New("kafka: no seed brokers given (want host:port[,host:port...])")
	}
	b, err := open(seeds)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.adm.BrokerMetadata(ctx); err != nil {
		b.cl.Close()
		return nil, fmt.Errorf("kafka: no broker answers at %v: %w (is it running, and is that its advertised listener?)", seeds, err)
	}
	return b, nil
}

func open(seeds []string) (*Broker, error) {
	// Records go uncompressed: every client reads those (kafkajs has no
	// snappy, franz-go's default, without a plugin). Every trial produces
	// to a topic just created, which the client learns of from a
	// metadata request; at the default minimum age of 5 s between two,
	// a produce waited up to 250 ms for one.
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.MetadataMinAge(10*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return nil, fmt.Errorf("kafka: client for %v: %w", seeds, err)
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	return &Broker{seeds: seeds, cl: cl, adm: kadm.NewClient(cl), run: run, owned: map[string]bool{}}, nil
}

// Seeds are the addresses the broker is reached at.
func (b *Broker) Seeds() []string { return b.seeds }

// IsEmbedded tells whether the broker runs in this process.
func (b *Broker) IsEmbedded() bool { return b.fake != nil }

func (b *Broker) String() string {
	if b.fake != nil {
		return fmt.Sprintf("embedded broker (kfake) at %v", b.seeds)
	}
	return fmt.Sprintf("Kafka cluster at %v", b.seeds)
}

// Topic is one trial's topic and the group its consumer joins (the same
// name).
type Topic struct {
	Name       string
	Group      string
	Partitions int

	id   [16]byte // as the cluster numbers it (Kafka 2.8+)
	mu   sync.Mutex
	ends map[int32]int64 // each partition's end: only the harness produces to a trial's topic
	keys map[string]int32
}

// NewTopic creates a topic of its own for one trial, with partitions
// partitions, and names its group.
func (b *Broker) NewTopic(ctx context.Context, partitions int) (*Topic, error) {
	name := fmt.Sprintf("%s%s_%d_%d", Prefix, b.run, time.Now().Unix(), b.n.Add(1))
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil, errors.New("kafka: the broker is being closed")
	}
	b.owned[name] = true
	b.creating.Add(1)
	b.mu.Unlock()
	// A creation under way when Close begins is waited for: else its
	// topic would reach the cluster after Close deleted what it owned.
	defer b.creating.Done()
	resp, err := b.adm.CreateTopic(ctx, int32(partitions), 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: create topic %s: %w", name, err)
	}
	return &Topic{Name: name, Group: name, Partitions: partitions, id: resp.ID, ends: map[int32]int64{}}, nil
}

// Record is one message to produce: its key decides its partition.
type Record struct {
	Key, Value []byte
}

// Produce writes records to t in order and waits until every one is
// acknowledged. A key's records land in one partition, in order.
func (b *Broker) Produce(ctx context.Context, t *Topic, records []Record) error {
	rs := make([]*kgo.Record, len(records))
	for i, r := range records {
		rs[i] = &kgo.Record{Topic: t.Name, Key: r.Key, Value: r.Value}
	}
	if err := b.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("kafka: produce to %s: %w", t.Name, err)
	}
	t.mu.Lock()
	if t.keys == nil {
		t.keys = map[string]int32{}
	}
	for _, r := range rs {
		t.ends[r.Partition] = max(t.ends[r.Partition], r.Offset+1)
		t.keys[string(r.Key)] = r.Partition
	}
	t.mu.Unlock()
	return nil
}

// PartitionOf is the partition the records of key went to (false: none
// was produced).
func (t *Topic) PartitionOf(key []byte) (int32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.keys[string(key)]
	return p, ok
}

// Ends are the ends of t's partitions: the offset the next record
// produced to each will take.
func (t *Topic) Ends() map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ends := make(map[int32]int64, t.Partitions)
	for p := range t.Partitions {
		ends[int32(p)] = t.ends[int32(p)]
	}
	return ends
}

// Lag is how far t's group is from the end of t: the records not yet
// committed, summed over partitions. The ends are those Produce wrote
// (only the harness produces to a trial's topic), so a check is one
// round trip, however often the runner asks.
func (b *Broker) Lag(ctx context.Context, t *Topic) (int64, error) {
	committed, err := b.adm.FetchOffsets(ctx, t.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // no member has committed yet
	}
	if err != nil {
		return 0, fmt.Errorf("kafka: committed offsets of %s: %w", t.Group, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var lag int64
	for p, end := range t.ends {
		at := int64(0)
		if c, ok := committed.Lookup(t.Name, p); ok && c.Err == nil && c.At >= 0 {
			at = c.At
		}
		lag += max(end-at, 0)
	}
	return lag, nil
}

// Rewind sets t's group offsets back to the start of every partition, as
// an operator's reset does. The group must have no members.
func (b *Broker) Rewind(ctx context.Context, t *Topic) error {
	os := kadm.Offsets{}
	for p := range t.Partitions {
		os.Add(kadm.Offset{Topic: t.Name, Partition: int32(p), At: 0, LeaderEpoch: -1})
	}
	// The coordinator refuses the reset while the group still has
	// members: the last consumer's leave, or a killed one's session, has
	// not ended yet. Retry until it has (a broker condition, not a time).
	ctx, cancel := context.WithTimeout(ctx, 10*SessionTimeout+5*time.Second)
	defer cancel()
	for {
		resp, err := b.adm.CommitOffsets(ctx, t.Group, os)
		if err == nil {
			err = resp.Error()
		}
		switch {
		case err == nil:
			return nil
		case (errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress)) && ctx.Err() == nil:
			select {
			case <-ctx.Done():
			case <-time.After(HeartbeatInterval):
			}
		default:
			return fmt.Errorf("kafka: rewind group %s (it must have no members): %w", t.Group, err)
		}
	}
}

// Remove deletes t's group and topic.
func (b *Broker) Remove(ctx context.Context, t *Topic) error {
	err := b.remove(ctx, t.Name)
	b.mu.Lock()
	delete(b.owned, t.Name)
	b.mu.Unlock()
	return err
}

func (b *Broker) remove(ctx context.Context, name string) error {
	var errs []error
	if err := b.deleteGroup(ctx, name); err != nil {
		errs = append(errs, err)
	}
	resp, err := b.adm.DeleteTopics(ctx, name)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("kafka: delete topic %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// deleteGroup deletes a group, waiting while it still has members: a
// killed consumer's stays until its session times out.
func (b *Broker) deleteGroup(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*SessionTimeout+5*time.Second)
	defer cancel()
	for {
		resp, err := b.adm.DeleteGroups(ctx, name)
		if err == nil {
			err = resp.Error()
		}
		switch {
		case err == nil || errors.Is(err, kerr.GroupIDNotFound):
			return nil
		case errors.Is(err, kerr.NonEmptyGroup) && ctx.Err() == nil:
			select {
			case <-ctx.Done():
			case <-time.After(HeartbeatInterval):
			}
		default:
			return fmt.Errorf("kafka: delete group %s: %w", name, err)
		}
	}
}

// harnessName matches the names NewTopic makes: Prefix, run, creation
// time in Unix seconds, number.
var harnessName = regexp.MustCompile(`^` + Prefix + `([0-9a-z]+)_([0-9]+)_[0-9]+$`)

// Reap deletes the topics and groups of other runs older than after
// (runs that were killed before they could remove them) and returns how
// many names it removed.
func (b *Broker) Reap(ctx context.Context, after time.Duration) (int, error) {
	topics, err := b.adm.ListTopics(ctx)
	if err != nil {
		return 0, fmt.Errorf("kafka: reap: list topics: %w", err)
	}
	groups, err := b.adm.ListGroups(ctx)
	if err != nil {
		return 0, fmt.Errorf("kafka: reap: list groups: %w", err)
	}
	names := map[string]bool{}
	for _, n := range append(topics.Names(), groups.Groups()...) {
		m := harnessName.FindStringSubmatch(n)
		if m == nil || m[1] == b.run {
			continue
		}
		sec, _ := strconv.ParseInt(m[2], 10, 64)
		if time.Since(time.Unix(sec, 0)) >= after {
			names[n] = true
		}
	}
	for n := range names {
		if err := b.remove(ctx, n); err != nil {
			return 0, fmt.Errorf("kafka: reap: %w", err)
		}
	}
	return len(names), nil
}

// Leftovers lists the topics and groups on the cluster whose names begin
// with Prefix: what runs of idemcheck (this one included) have not
// removed.
func (b *Broker) Leftovers(ctx context.Context) ([]string, error) {
	topics, err := b.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	groups, err := b.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: list groups: %w", err)
	}
	var out []string
	for _, n := range topics.Names() {
		if strings.HasPrefix(n, Prefix) {
			out = append(out, "topic "+n)
		}
	}
	for _, n := range groups.Groups() {
		if strings.HasPrefix(n, Prefix) {
			out = append(out, "group "+n)
		}
	}
	return out, nil
}

// Close removes the topics and groups the run still owns and stops the
// embedded broker.
func (b *Broker) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.creating.Wait()
	b.mu.Lock()
	var names []string
	for n := range b.owned {
		names = append(names, n)
	}
	b.owned = map[string]bool{}
	b.mu.Unlock()
	var errs []error
	for _, n := range names {
		errs = append(errs, b.remove(ctx, n))
	}
	b.cl.Close()
	if b.fake != nil {
		b.fake.Close()
	}
	return errors.Join(errs...)
}
