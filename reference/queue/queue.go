package queue

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// SetupSQL creates the tables the modes write: order_events, one row per
// order applied, and processed_messages, the dedup keys recorded.
//
//go:embed setup.sql
var SetupSQL string

// Mode is how a consumer handles a message: the correct way
// (ExactlyOnce) or one of the classic broken ways, each a lesson.
type Mode string

const (
	// ExactlyOnce records the dedup key and applies the effect in one
	// transaction, the key's constraint deciding, and acks after the
	// commit.
	ExactlyOnce Mode = "exactly-once"
	// AckFirst acks the message and then applies it: a crash between the
	// two loses it (at-most-once).
	AckFirst Mode = "ack-first"
	// DedupApart applies the effect and records the dedup key in a
	// transaction of its own after it: a crash between the two applies
	// the message again when it is redelivered.
	DedupApart Mode = "dedup-apart"
	// CheckThenInsert looks the dedup key up, and when it is absent
	// applies the effect and records the key, each statement on its own,
	// with no constraint on the key: two deliveries of one message
	// handled at once (a stalled consumer's and its redelivery's) both
	// find it absent.
	CheckThenInsert Mode = "check-then-insert"
	// LateAck applies each message in its own transaction and acks after
	// the commit, but keeps no dedup key: a consumer stalled past AckWait
	// has its message redelivered to another, which applies it; then the
	// first wakes, applies it again, and the server accepts its late ack.
	LateAck Mode = "late-ack"
)

// Modes lists every mode.
var Modes = []Mode{ExactlyOnce, AckFirst, DedupApart, CheckThenInsert, LateAck}

// Config is what a consumer reads from idemcheck's environment: a
// JetStream stream and durable consumer, or a RabbitMQ queue.
type Config struct {
	NATSURL, Stream, Consumer string
	AMQPURL, Queue            string
	DSN                       string
}

// FromEnv reads the Config from IDEMCHECK_NATS_URL, IDEMCHECK_STREAM and
// IDEMCHECK_CONSUMER, or IDEMCHECK_AMQP_URL and IDEMCHECK_QUEUE, and
// DATABASE_URL.
func FromEnv() (Config, error) {
	c := Config{NATSURL: os.Getenv("IDEMCHECK_NATS_URL"), Stream: os.Getenv("IDEMCHECK_STREAM"), Consumer: os.Getenv("IDEMCHECK_CONSUMER"),
		AMQPURL: os.Getenv("IDEMCHECK_AMQP_URL"), Queue: os.Getenv("IDEMCHECK_QUEUE"), DSN: os.Getenv("DATABASE_URL")}
	jetstream := c.NATSURL != "" && c.Stream != "" && c.Consumer != ""
	amqp := c.AMQPURL != "" && c.Queue != ""
	if c.DSN == "" || jetstream == amqp {
		return c, errors.New("run me under idemcheck: DATABASE_URL and either IDEMCHECK_NATS_URL, IDEMCHECK_STREAM and IDEMCHECK_CONSUMER, or IDEMCHECK_AMQP_URL and IDEMCHECK_QUEUE must be set")
	}
	return c, nil
}

// message is one message in hand, from either source.
type message interface {
	Data() []byte
	Ack() error
}

// Run consumes until ctx ends (SIGTERM, in the program), handling each
// message as mode says; it returns nil once the message (or JetStream
// batch) in hand is done.
func Run(ctx context.Context, cfg Config, mode Mode) error {
	db, err := pgx.Connect(ctx, cfg.DSN)
	if ctx.Err() != nil {
		return nil // stopped before it began
	}
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	if cfg.AMQPURL != "" {
		return runAMQP(ctx, db, cfg, mode)
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	c, err := js.Consumer(ctx, cfg.Stream, cfg.Consumer)
	if err != nil {
		return fmt.Errorf("consumer %s of stream %s: %w", cfg.Consumer, cfg.Stream, err)
	}
	for ctx.Err() == nil {
		batch, err := c.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetch: %w", err)
		}
		// The batch in hand is handled even after SIGTERM: a graceful stop
		// finishes what it holds.
		for m := range batch.Messages() {
			if err := handle(context.WithoutCancel(ctx), db, m, mode); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	return nil
}

// delivery is an AMQP delivery as a message.
type delivery struct{ amqp.Delivery }

func (d delivery) Data() []byte { return d.Body }
func (d delivery) Ack() error   { return d.Delivery.Ack(false) }

// runAMQP consumes cfg's queue with manual acks, ten messages in flight,
// until ctx ends; a connection lost ends it with an error (its
// supervisor restarts it).
func runAMQP(ctx context.Context, db *pgx.Conn, cfg Config, mode Mode) error {
	conn, err := amqp.Dial(cfg.AMQPURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(10, 0, false); err != nil {
		return err
	}
	ds, err := ch.Consume(cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Queue, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-ds:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("the connection to the server was lost")
			}
			// The message in hand is handled even after SIGTERM.
			if err := handle(context.WithoutCancel(ctx), db, delivery{d}, mode); err != nil {
				return err
			}
		}
	}
}

// handle handles one message as mode says.
func handle(ctx context.Context, db *pgx.Conn, m message, mode Mode) error {
	var o harness.Order
	if err := json.Unmarshal(m.Data(), &o); err != nil {
		return fmt.Errorf("message %q is not an order: %w", m.Data(), err)
	}
	key := []any{o.Source, o.ID, o.Version}
	switch mode {
	case ExactlyOnce:
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO processed_messages (source, id, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, key...)
			if err != nil || tag.RowsAffected() == 0 {
				return err // seen before: no effect, only the ack
			}
			return apply(ctx, tx, o)
		}); err != nil {
			return err
		}
		return m.Ack()
	case AckFirst:
		if err := m.Ack(); err != nil {
			return err
		}
		return apply(ctx, db, o)
	case DedupApart:
		var seen bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_messages WHERE (source, id, version) = ($1, $2, $3))`, key...).Scan(&seen); err != nil {
			return err
		}
		if !seen {
			if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return apply(ctx, tx, o) }); err != nil {
				return err
			}
			if _, err := db.Exec(ctx, `INSERT INTO processed_messages (source, id, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, key...); err != nil {
				return err
			}
		}
		return m.Ack()
	case CheckThenInsert:
		var seen bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_messages WHERE (source, id, version) = ($1, $2, $3))`, key...).Scan(&seen); err != nil {
			return err
		}
		if !seen {
			if err := apply(ctx, db, o); err != nil {
				return err
			}
			if _, err := db.Exec(ctx, `INSERT INTO processed_messages (source, id, version) VALUES ($1, $2, $3)`, key...); err != nil {
				return err
			}
		}
		return m.Ack()
	case LateAck:
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return apply(ctx, tx, o) }); err != nil {
			return err
		}
		return m.Ack()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// execer is a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// apply is the message's effect: its order's row in order_events.
func apply(ctx context.Context, db execer, o harness.Order) error {
	_, err := db.Exec(ctx, `INSERT INTO order_events (source, id, version, event_date, customer, amount) VALUES ($1, $2, $3, $4, $5, $6)`,
		o.Source, o.ID, o.Version, o.EventDate.String(), o.Customer, o.Amount)
	return err
}

// Setup creates the tables for mode through conn: SetupSQL, and for the
// modes that rely on it, the dedup key's constraint.
func Setup(ctx context.Context, conn *pgx.Conn, mode Mode) error {
	if _, err := conn.Exec(ctx, SetupSQL); err != nil {
		return err
	}
	if mode == ExactlyOnce || mode == DedupApart {
		_, err := conn.Exec(ctx, `ALTER TABLE processed_messages ADD PRIMARY KEY (source, id, version)`)
		return err
	}
	return nil
}
