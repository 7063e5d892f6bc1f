package consumer

import (
	"bufio"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SetupSQL creates the tables the modes write: order_events, one row per
// event applied; consumer_offsets, the next offset per partition for the
// modes that keep offsets in PostgreSQL; and customer_latest, each
// customer's latest order, for the modes built on ExactlyOnce's write.
//
//go:embed setup.sql
var SetupSQL string

// Mode is how a consumer applies what it polls: the correct way
// (ExactlyOnce) or one of the classic broken ways, each a lesson.
type Mode string

const (
	// ExactlyOnce is the reference: per poll, one transaction locks the
	// partitions' offsets in consumer_offsets (FOR UPDATE), skips the
	// records below them (applied already: a zombie's, or a poll fetched
	// again), inserts the rest keyed by (source, id, version), ON CONFLICT
	// DO NOTHING, keeps each customer's latest order in customer_latest
	// by the orders' own order (event date, then source, id and version),
	// and advances the offsets; only then are the offsets committed to the
	// group. On assignment it fetches from the offsets in PostgreSQL and
	// commits them to the group.
	ExactlyOnce Mode = "exactly-once"
	// CommitFirst commits the polled offsets and then inserts: a kill
	// between the two loses the records (franz-go#57, IBM/sarama#1987).
	CommitFirst Mode = "commit-first"
	// InsertThenCommit inserts without a key and then commits: a kill
	// between the two re-inserts them (confluentinc/kafka-connect-jdbc#327).
	InsertThenCommit Mode = "insert-then-commit"
	// OffsetsApart keeps offsets in PostgreSQL, but in a transaction of
	// their own after the insert's: a kill between the two duplicates the
	// records (justonedb/kafka-sink-pg-json#18).
	OffsetsApart Mode = "offsets-apart"
	// Unfenced keeps offsets in PostgreSQL in the write's transaction, as
	// ExactlyOnce does, but inserts without a key and applies every record
	// it polled, without checking the stored offsets: crashes and retries
	// are safe, but a zombie's late transaction applies its records a
	// second time (redpanda-data/connect#433).
	Unfenced Mode = "unfenced"
	// SkipFailed logs a failed write and commits the offsets anyway: the
	// records are skipped for good (vectordotdev/vector#24215,
	// ClickHouse/ClickHouse#7256).
	SkipFailed Mode = "skip-failed"
	// LatestByArrival writes as ExactlyOnce does, but keeps each
	// customer's latest order by arrival: the last one it applied. A
	// customer's orders are keyed apart and spread over partitions, whose
	// records reach a consumer in no fixed order, so which order is
	// "latest" depends on the interleaving (divolte/divolte-collector#62).
	LatestByArrival Mode = "latest-by-arrival"
)

// Modes lists every mode.
var Modes = []Mode{ExactlyOnce, CommitFirst, InsertThenCommit, OffsetsApart, Unfenced, SkipFailed, LatestByArrival}

// Config is what a consumer reads from idemcheck's environment.
type Config struct {
	Brokers        []string
	Topic, Group   string
	SessionTimeout time.Duration
	Heartbeat      time.Duration
	DSN            string
}

// FromEnv reads the Config from IDEMCHECK_KAFKA_BROKERS, IDEMCHECK_TOPIC,
// IDEMCHECK_GROUP, IDEMCHECK_SESSION_TIMEOUT_MS,
// IDEMCHECK_HEARTBEAT_INTERVAL_MS and DATABASE_URL.
func FromEnv() (Config, error) {
	c := Config{
		Brokers: strings.Split(os.Getenv("IDEMCHECK_KAFKA_BROKERS"), ","),
		Topic:   os.Getenv("IDEMCHECK_TOPIC"), Group: os.Getenv("IDEMCHECK_GROUP"),
		DSN: os.Getenv("DATABASE_URL"),
	}
	if c.Brokers[0] == "" || c.Topic == "" || c.Group == "" || c.DSN == "" {
		return c, errors.New("run me under idemcheck: IDEMCHECK_KAFKA_BROKERS, IDEMCHECK_TOPIC, IDEMCHECK_GROUP and DATABASE_URL must be set")
	}
	ms := func(name string, def time.Duration) time.Duration {
		if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
		return def
	}
	c.SessionTimeout = ms("IDEMCHECK_SESSION_TIMEOUT_MS", 10*time.Second)
	c.Heartbeat = ms("IDEMCHECK_HEARTBEAT_INTERVAL_MS", 3*time.Second)
	return c, nil
}

// Run consumes until ctx ends (SIGTERM, in the program), applying each
// poll as mode says; it returns nil once the poll in hand is applied.
func Run(ctx context.Context, cfg Config, mode Mode) error {
	conn, err := pgx.Connect(ctx, cfg.DSN)
	if ctx.Err() != nil {
		return nil // stopped before it began
	}
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	c := &consumer{cfg: cfg, mode: mode, db: conn}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumerGroup(cfg.Group), kgo.ConsumeTopics(cfg.Topic),
		kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(cfg.Heartbeat),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if mode.offsetsInDB() {
		opts = append(opts, kgo.AdjustFetchOffsetsFn(c.fromDB))
	}
	// Offsets of partitions this member no longer owns are not its to
	// commit: a zombie that commits them after a rebalance moves the
	// group's offsets back.
	opts = append(opts, kgo.OnPartitionsRevoked(c.forget), kgo.OnPartitionsLost(c.forget))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	c.cl = cl
	for {
		// A poll waits for records; a short one lets the loop also commit
		// the offsets an assignment took from PostgreSQL when there are
		// none left to read.
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil && fs.Empty() {
			return nil
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("poll: %w", err)
		}
		if err := c.commitPending(ctx); err != nil {
			return err
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		// The poll in hand is applied even after SIGTERM: a graceful
		// stop finishes what it holds.
		if err := c.apply(context.WithoutCancel(ctx), recs); err != nil {
			return err
		}
	}
}

func (m Mode) offsetsInDB() bool {
	return m == ExactlyOnce || m == OffsetsApart || m == Unfenced || m == LatestByArrival
}

type consumer struct {
	cfg  Config
	mode Mode
	db   *pgx.Conn
	cl   *kgo.Client

	mu      sync.Mutex
	pending map[string]map[int32]kgo.EpochOffset // offsets not yet committed to the group
}

// commit commits the offsets after recs to the group. A partition the
// coordinator refuses (a rebalance, a coordinator move) stays pending and
// is committed again by the poll loop: the group's lag must end where
// PostgreSQL says, or monitoring (and idemcheck) never sees it caught up.
func (c *consumer) commit(ctx context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		c.note(r.Topic, r.Partition, r.Offset+1)
	}
	return c.commitPending(ctx)
}

// forget drops the pending offsets of partitions taken away.
func (c *consumer) forget(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range gone {
		for _, p := range parts {
			delete(c.pending[topic], p)
		}
	}
}

// note marks next as the offset to commit for a partition.
func (c *consumer) note(topic string, p int32, next int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[string]map[int32]kgo.EpochOffset{}
	}
	if c.pending[topic] == nil {
		c.pending[topic] = map[int32]kgo.EpochOffset{}
	}
	if cur, ok := c.pending[topic][p]; !ok || cur.Offset < next {
		c.pending[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: next}
	}
}

// fromDB makes an assignment start from the offsets kept in PostgreSQL,
// and notes them to be committed to the group by the poll loop (the
// group's lag then says what PostgreSQL says).
func (c *consumer) fromDB(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	// The client's group management calls this on its own goroutine; the
	// poll loop owns c.db, so this reads on a connection of its own.
	db, err := pgx.Connect(ctx, c.cfg.DSN)
	if err != nil {
		return nil, err
	}
	defer db.Close(context.Background())
	for topic, parts := range offsets {
		kept, err := stored(ctx, db, topic)
		if err != nil {
			return nil, err
		}
		for p := range parts {
			if next, ok := kept[p]; ok {
				parts[p] = kgo.NewOffset().At(next)
				c.note(topic, p, next)
			}
		}
	}
	return offsets, nil
}

// commitPending commits the pending offsets; those the coordinator
// refuses stay pending.
func (c *consumer) commitPending(ctx context.Context) error {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if pending == nil {
		return nil
	}
	var err error
	c.cl.CommitOffsetsSync(context.WithoutCancel(ctx), pending, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
		if err = e; err != nil || resp == nil {
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					c.note(t.Topic, p.Partition, pending[t.Topic][p.Partition].Offset)
				}
			}
		}
	})
	return err
}

// apply applies one poll's records as the mode says.
func (c *consumer) apply(ctx context.Context, recs []*kgo.Record) error {
	switch c.mode {
	case ExactlyOnce, Unfenced, LatestByArrival:
		// ExactlyOnce skips what is applied already; Unfenced does not.
		exact := c.mode != Unfenced
		if err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
			fresh := recs
			if exact {
				var err error
				if fresh, err = unapplied(ctx, tx, recs); err != nil || len(fresh) == 0 {
					return err
				}
			}
			if err := insert(ctx, tx, fresh, exact); err != nil {
				return err
			}
			if err := latest(ctx, tx, fresh, c.mode != LatestByArrival); err != nil {
				return err
			}
			return advance(ctx, tx, fresh)
		}); err != nil {
			return err
		}
		return c.commit(ctx, recs)
	case CommitFirst:
		if err := c.commit(ctx, recs); err != nil {
			return err
		}
		return insert(ctx, c.db, recs, false)
	case InsertThenCommit:
		if err := insert(ctx, c.db, recs, false); err != nil {
			return err
		}
		return c.commit(ctx, recs)
	case OffsetsApart:
		if err := insert(ctx, c.db, recs, false); err != nil {
			return err
		}
		if err := advance(ctx, c.db, recs); err != nil {
			return err
		}
		return c.commit(ctx, recs)
	case SkipFailed:
		if err := insert(ctx, c.db, recs, true); err != nil {
			fmt.Fprintln(os.Stderr, "write failed, skipping the records:", err)
		}
		return c.commit(ctx, recs)
	}
	return fmt.Errorf("unknown mode %q", c.mode)
}

// execer is a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insert inserts the records' orders into order_events in one statement;
// with dedup, those already there (same source, id and version) are
// skipped.
func insert(ctx context.Context, db execer, recs []*kgo.Record, dedup bool) error {
	cols, err := orderColumns(recs)
	if err != nil {
		return err
	}
	sql := `INSERT INTO order_events (source, id, version, event_date, customer, amount)
		SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::date[], $5::text[], $6::numeric[])`
	if dedup {
		sql += ` ON CONFLICT (source, id, version) DO NOTHING`
	}
	_, err = db.Exec(ctx, sql, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])
	return err
}

// orderColumns are the records' orders as columns: source, id, version,
// event date, customer, amount.
func orderColumns(recs []*kgo.Record) ([][]any, error) {
	cols := make([][]any, 6)
	for _, r := range recs {
		var o harness.Order
		if err := json.Unmarshal(r.Value, &o); err != nil {
			return nil, fmt.Errorf("record %s/%d@%d is not an order: %w", r.Topic, r.Partition, r.Offset, err)
		}
		for i, v := range []any{o.Source, o.ID, o.Version, o.EventDate.String(), o.Customer, o.Amount} {
			cols[i] = append(cols[i], v)
		}
	}
	return cols, nil
}

// latest keeps each customer's latest order in customer_latest. By the
// orders' own order (event date, then source, id and version) the result
// is the same whatever order the records come in; by arrival (ordered
// false) it is the last record applied, the poll read in log order,
// partition by partition.
func latest(ctx context.Context, db execer, recs []*kgo.Record, ordered bool) error {
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	cols, err := orderColumns(recs)
	if err != nil {
		return err
	}
	pick, guard := "arrival DESC", ""
	if ordered {
		pick = "event_date DESC, source DESC, id DESC, version DESC"
		guard = ` WHERE (EXCLUDED.event_date, EXCLUDED.source, EXCLUDED.id, EXCLUDED.version) >
			(customer_latest.event_date, customer_latest.source, customer_latest.id, customer_latest.version)`
	}
	_, err = db.Exec(ctx, `INSERT INTO customer_latest (customer, source, id, version, event_date, amount)
		SELECT DISTINCT ON (customer) customer, source, id, version, event_date, amount
		FROM unnest($1::text[], $2::int8[], $3::int8[], $4::date[], $5::text[], $6::numeric[])
			WITH ORDINALITY AS r(source, id, version, event_date, customer, amount, arrival)
		ORDER BY customer, `+pick+`
		ON CONFLICT (customer) DO UPDATE SET source = EXCLUDED.source, id = EXCLUDED.id, version = EXCLUDED.version,
			event_date = EXCLUDED.event_date, amount = EXCLUDED.amount`+guard,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])
	return err
}

// unapplied keeps the records not yet applied: those at or after the
// offset stored for their partition. It locks those partitions' stored
// offsets (FOR UPDATE) until the transaction ends, so a zombie's late
// transaction waits for its successor's and then finds its records
// applied; a poll fetched again from an earlier offset (a reset) skips
// what it already applied and keeps the rest.
func unapplied(ctx context.Context, tx pgx.Tx, recs []*kgo.Record) ([]*kgo.Record, error) {
	rows, err := tx.Query(ctx, `SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1 FOR UPDATE`, recs[0].Topic)
	if err != nil {
		return nil, err
	}
	next := map[int32]int64{}
	var p int32
	var o int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &o}, func() error { next[p] = o; return nil }); err != nil {
		return nil, err
	}
	var out []*kgo.Record
	for _, r := range recs {
		if n, ok := next[r.Partition]; !ok || r.Offset >= n {
			out = append(out, r)
		}
	}
	return out, nil
}

// advance stores the next offset of each partition the records come
// from, never moving one back: a late transaction's smaller offset loses
// to its successor's.
func advance(ctx context.Context, db execer, recs []*kgo.Record) error {
	next := map[int32]int64{}
	for _, r := range recs {
		next[r.Partition] = max(next[r.Partition], r.Offset+1)
	}
	for p, n := range next {
		if _, err := db.Exec(ctx, `INSERT INTO consumer_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
			ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset)`,
			recs[0].Topic, p, n); err != nil {
			return err
		}
	}
	return nil
}

// stored reads the offsets kept in PostgreSQL for topic.
func stored(ctx context.Context, db *pgx.Conn, topic string) (map[int32]int64, error) {
	rows, err := db.Query(ctx, `SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1`, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var p int32
	var o int64
	_, err = pgx.ForEachRow(rows, []any{&p, &o}, func() error { out[p] = o; return nil })
	return out, err
}

// Setup creates the tables for mode through conn: SetupSQL, and for the
// modes that skip what is already there, the key they skip by.
func Setup(ctx context.Context, conn *pgx.Conn, mode Mode) error {
	if _, err := conn.Exec(ctx, SetupSQL); err != nil {
		return err
	}
	if mode == ExactlyOnce || mode == SkipFailed || mode == LatestByArrival {
		_, err := conn.Exec(ctx, `ALTER TABLE order_events ADD UNIQUE (source, id, version)`)
		return err
	}
	return nil
}

// WriteBatch writes the orders read from r (JSON lines) as ExactlyOnce
// writes one poll's, in one transaction: the same write, run as a batch
// writer, which the benchmarks compare a consumer trial with.
func WriteBatch(ctx context.Context, dsn string, r io.Reader) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var recs []*kgo.Record
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		recs = append(recs, &kgo.Record{Value: append([]byte(nil), sc.Bytes()...)})
	}
	if err := sc.Err(); err != nil || len(recs) == 0 {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return insert(ctx, tx, recs, true) })
}
