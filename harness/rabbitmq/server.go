package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Prefix begins the name of every queue the harness declares; nothing
// else is ever deleted.
const Prefix = "idemcheck_"

// DefaultURL is the server the machines here run.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// DefaultExpiry is how long a queue of a run killed before its cleanup
// outlives its last use: the server deletes it then (x-expires).
const DefaultExpiry = 10 * time.Minute

// Server is a RabbitMQ server to run consumer trials on.
type Server struct {
	url  *url.URL
	conn *amqp.Connection
	run  string
	n    atomic.Int64

	mu       sync.Mutex
	owned    map[string]bool // queues not yet removed
	closing  bool            // Close began: no queue is declared any more
	creating sync.WaitGroup  // NewQueue calls under way, which Close waits for
}

// Dial reaches a RabbitMQ server by its URL (amqp://user:pass@host:port/vhost).
func Dial(ctx context.Context, rawURL string) (*Server, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "amqp" || u.Host == "" {
		return nil, fmt.Errorf("rabbitmq: %q is not an AMQP URL (want amqp://user:pass@host:port/vhost)", rawURL)
	}
	conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second), Properties: amqp.Table{"connection_name": "idemcheck"}})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: no server answers at %s: %w (is it running, and are the credentials right?)", u.Redacted(), err)
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	return &Server{url: u, conn: conn, run: run, owned: map[string]bool{}}, nil
}

func (s *Server) String() string { return fmt.Sprintf("RabbitMQ server at %s", s.url.Redacted()) }

// Queue is one trial's queue and what the harness published to it.
type Queue struct {
	Name   string
	Quorum bool

	mu  sync.Mutex
	ids int // messages published: their ids are 1..ids
}

// Published counts the messages published to q.
func (q *Queue) Published() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ids
}

// channel is a new channel: an AMQP error closes the channel it happens
// on, so each operation takes its own.
func (s *Server) channel() (*amqp.Channel, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: open a channel: %w", err)
	}
	return ch, nil
}

// NewQueue declares a queue of its own for one trial: durable, a quorum
// queue or a classic one, deleted by the server after DefaultExpiry
// unused.
func (s *Server) NewQueue(ctx context.Context, quorum bool) (*Queue, error) {
	q := &Queue{Name: fmt.Sprintf("%s%s_%d_%d", Prefix, s.run, time.Now().Unix(), s.n.Add(1)), Quorum: quorum}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, errClosing
	}
	s.owned[q.Name] = true
	s.creating.Add(1)
	s.mu.Unlock()
	// A declaration under way when Close begins is waited for: else its
	// queue would reach the server after Close deleted what it owned.
	defer s.creating.Done()
	ch, err := s.channel()
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	kind := "classic"
	if quorum {
		kind = "quorum"
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false,
		amqp.Table{"x-queue-type": kind, "x-expires": int64(DefaultExpiry / time.Millisecond)}); err != nil {
		return nil, fmt.Errorf("rabbitmq: declare queue %s: %w", q.Name, err)
	}
	return q, nil
}

// Publish publishes bodies to q through the default exchange, in order,
// each persistent and with a message id of its own, and waits until the
// server has confirmed each.
func (s *Server) Publish(ctx context.Context, q *Queue, bodies [][]byte) error {
	ch, err := s.channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("rabbitmq: confirm mode: %w", err)
	}
	var pending []*amqp.DeferredConfirmation
	for _, b := range bodies {
		q.mu.Lock()
		q.ids++
		id := strconv.Itoa(q.ids)
		q.mu.Unlock()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.Name, true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: id, ContentType: "application/json", Body: b})
		if err != nil {
			return fmt.Errorf("rabbitmq: publish to %s: %w", q.Name, err)
		}
		pending = append(pending, dc)
	}
	for _, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			return fmt.Errorf("rabbitmq: the server did not confirm a message published to %s (%v)", q.Name, err)
		}
	}
	return nil
}

// Ready counts the messages q holds ready for delivery, as the server
// says (those delivered and not yet acked are not among them).
func (s *Server) Ready(q *Queue) (int, error) {
	ch, err := s.channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	info, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("rabbitmq: queue %s: %w", q.Name, err)
	}
	return info.Messages, nil
}

// Exists tells whether a queue of that name is on the server.
func (s *Server) Exists(name string) (bool, error) {
	ch, err := s.channel()
	if err != nil {
		return false, err
	}
	defer ch.Close()
	_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false, nil
	}
	return err == nil, err
}

// Remove deletes q, and the messages in it.
func (s *Server) Remove(q *Queue) error {
	err := s.remove(q.Name)
	if err == nil {
		s.mu.Lock()
		delete(s.owned, q.Name)
		s.mu.Unlock()
	}
	return err
}

func (s *Server) remove(name string) error {
	ch, err := s.channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(name, false, false, false); err != nil {
		return fmt.Errorf("rabbitmq: delete queue %s: %w", name, err)
	}
	return nil
}

// errClosing is what NewQueue says once Close has begun.
var errClosing = errors.New("rabbitmq: the server is being closed")

// Close deletes the queues this run still owns (after the declarations
// under way) and disconnects.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.creating.Wait()
	s.mu.Lock()
	var names []string
	for name := range s.owned {
		names = append(names, name)
	}
	s.mu.Unlock()
	var errs []error
	for _, name := range names {
		errs = append(errs, s.remove(name))
	}
	errs = append(errs, s.conn.Close())
	return errors.Join(errs...)
}

// ConsumerURL is the URL a consumer connects with through a proxy
// listening at addr: the server's credentials and virtual host, the
// proxy's address.
func (s *Server) ConsumerURL(addr string) string {
	u := *s.url
	u.Host = addr
	return u.String()
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	if s.url.Port() == "" {
		return s.url.Hostname() + ":5672"
	}
	return s.url.Host
}
