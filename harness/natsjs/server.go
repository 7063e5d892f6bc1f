package natsjs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Prefix begins the name of every stream (and durable consumer) the
// harness creates; nothing else is ever deleted.
const Prefix = "IDEMCHECK_"

// subjectPrefix begins every trial's subject.
const subjectPrefix = "idemcheck."

// AckWait is how long the server waits for a consumer's ack before it
// delivers the message again (to the same or another consumer): short,
// so that a lost ack or a stalled consumer is seen within a trial.
const AckWait = 500 * time.Millisecond

// Server is a NATS server with JetStream to run consumer trials on.
type Server struct {
	url  string
	srv  *server.Server // the embedded one, else nil
	dir  string         // the embedded one's store
	lock *os.File       // held on the store while it is in use
	nc   *nats.Conn
	js   jetstream.JetStream
	run  string
	n    atomic.Int64

	mu       sync.Mutex
	owned    map[string]bool // streams not yet removed
	closing  bool            // Close began: no stream is created any more
	creating sync.WaitGroup  // NewStream calls under way, which Close waits for
}

// Embedded starts an in-process NATS server with JetStream on
// 127.0.0.1 (a free port), its store in a new temporary directory.
func Embedded() (*Server, error) { return EmbeddedOn(0) }

// EmbeddedOn is Embedded listening on 127.0.0.1:port (0: any free port).
func EmbeddedOn(port int) (*Server, error) {
	reapStores()
	dir, err := os.MkdirTemp("", storePattern)
	if err != nil {
		return nil, err
	}
	lock, err := os.Create(filepath.Join(dir, ".lock"))
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("natsjs: lock the store: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 1 << 30})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("natsjs: start the embedded server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		lock.Close()
		os.RemoveAll(dir)
		return nil, errors.New("natsjs: the embedded server did not start within 10s")
	}
	s, err := open(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		lock.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s.srv, s.dir, s.lock = srv, dir, lock
	return s, nil
}

// storePattern names the embedded servers' stores in the temporary
// directory.
const storePattern = "idemcheck-jetstream-"

// reapStores removes the stores of embedded servers whose runs were
// killed (SIGKILL) before they could: those older than a minute whose
// lock no process holds.
func reapStores() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), storePattern+"*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		f, err := os.Open(filepath.Join(d, ".lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(d)
		}
		f.Close()
	}
}

// Dial reaches an existing NATS server with JetStream enabled by its
// URL (nats://host:port).
func Dial(ctx context.Context, url string) (*Server, error) {
	s, err := open(url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.js.AccountInfo(ctx); err != nil {
		s.nc.Close()
		return nil, fmt.Errorf("natsjs: %s has no JetStream: %w (start nats-server with -js)", url, err)
	}
	return s, nil
}

func open(url string) (*Server, error) {
	nc, err := nats.Connect(url, nats.Name("idemcheck"), nats.Timeout(5*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return nil, fmt.Errorf("natsjs: no server answers at %s: %w (is it running?)", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	run := strings.ToUpper(strconv.FormatInt(time.Now().UnixNano()%1e12, 36))
	return &Server{url: url, nc: nc, js: js, run: run, owned: map[string]bool{}}, nil
}

// URL is the address the server is reached at.
func (s *Server) URL() string { return s.url }

// IsEmbedded tells whether the server runs in this process.
func (s *Server) IsEmbedded() bool { return s.srv != nil }

func (s *Server) String() string {
	if s.srv != nil {
		return fmt.Sprintf("embedded NATS server (nats-server %s, JetStream) at %s", server.VERSION, s.url)
	}
	return fmt.Sprintf("NATS server at %s", s.url)
}

// Stream is one trial's stream, its subject and its durable consumer
// (the stream's name).
type Stream struct {
	Name     string
	Subject  string
	Consumer string

	mu   sync.Mutex
	last uint64 // the sequence of the last message stored: only the harness publishes to a trial's stream
}

// NewStream creates a stream of its own for one trial, with its subject
// and its durable pull consumer: explicit acks, AckWait, every message
// from the first, redelivered without limit.
func (s *Server) NewStream(ctx context.Context) (*Stream, error) {
	n := s.n.Add(1)
	st := &Stream{Name: fmt.Sprintf("%s%s_%d_%d", Prefix, s.run, time.Now().Unix(), n),
		Subject: fmt.Sprintf("%s%s.%d.%d", subjectPrefix, strings.ToLower(s.run), time.Now().Unix(), n)}
	st.Consumer = st.Name
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, errors.New("natsjs: the server is being closed")
	}
	s.owned[st.Name] = true
	s.creating.Add(1)
	s.mu.Unlock()
	// A creation under way when Close begins is waited for: else its
	// stream would reach the server after Close deleted what it owned.
	defer s.creating.Done()
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: st.Name, Subjects: []string{st.Subject},
		Storage: jetstream.MemoryStorage, Duplicates: time.Minute}); err != nil {
		return nil, fmt.Errorf("natsjs: create stream %s: %w", st.Name, err)
	}
	if err := s.newConsumer(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *Server) newConsumer(ctx context.Context, st *Stream) error {
	_, err := s.js.CreateOrUpdateConsumer(ctx, st.Name, jetstream.ConsumerConfig{Durable: st.Consumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: AckWait, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1})
	if err != nil {
		return fmt.Errorf("natsjs: create consumer %s: %w", st.Consumer, err)
	}
	return nil
}

// Message is one message to publish; ID, when set, is its Nats-Msg-Id,
// by which the server drops a second publish of it.
type Message struct {
	ID   string
	Data []byte
}

// Publish publishes messages to st in order and waits until the stream
// has stored (or, by ID, dropped) each.
func (s *Server) Publish(ctx context.Context, st *Stream, msgs []Message) error {
	for _, m := range msgs {
		var opts []jetstream.PublishOpt
		if m.ID != "" {
			opts = append(opts, jetstream.WithMsgID(m.ID))
		}
		ack, err := s.js.Publish(ctx, st.Subject, m.Data, opts...)
		if err != nil {
			return fmt.Errorf("natsjs: publish to %s: %w", st.Subject, err)
		}
		st.mu.Lock()
		st.last = max(st.last, ack.Sequence)
		st.mu.Unlock()
	}
	return nil
}

// Pending counts st's messages its consumer has not acked: those above
// its ack floor (the last stream sequence below which every message is
// acked), up to the last message Publish stored. It is zero exactly when
// every message is acked. (The consumer's NumPending is not used: right
// after a publish it may not count the new messages yet.)
func (s *Server) Pending(ctx context.Context, st *Stream) (int64, error) {
	c, err := s.js.Consumer(ctx, st.Name, st.Consumer) // one round trip: it fetches the consumer's info
	if err != nil {
		return 0, fmt.Errorf("natsjs: consumer %s: %w", st.Consumer, err)
	}
	info := c.CachedInfo()
	st.mu.Lock()
	last := st.last
	st.mu.Unlock()
	if info.AckFloor.Stream >= last {
		return 0, nil
	}
	return int64(last - info.AckFloor.Stream), nil
}

// Stored counts the messages st holds.
func (s *Server) Stored(ctx context.Context, st *Stream) (uint64, error) {
	str, err := s.js.Stream(ctx, st.Name)
	if err != nil {
		return 0, err
	}
	info, err := str.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Rewind makes st's consumer deliver every message again from the first,
// as an operator's reset does: it is deleted and made anew.
func (s *Server) Rewind(ctx context.Context, st *Stream) error {
	if err := s.js.DeleteConsumer(ctx, st.Name, st.Consumer); err != nil {
		return fmt.Errorf("natsjs: rewind %s: %w", st.Consumer, err)
	}
	return s.newConsumer(ctx, st)
}

// Remove deletes st, and its consumer with it.
func (s *Server) Remove(ctx context.Context, st *Stream) error {
	err := s.remove(ctx, st.Name)
	if err == nil {
		s.mu.Lock()
		delete(s.owned, st.Name)
		s.mu.Unlock()
	}
	return err
}

func (s *Server) remove(ctx context.Context, name string) error {
	if !strings.HasPrefix(name, Prefix) {
		return fmt.Errorf("natsjs: refusing to delete %s: not idemcheck's", name)
	}
	if err := s.js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("natsjs: delete stream %s: %w", name, err)
	}
	return nil
}

// streamName matches the streams NewStream names, capturing the unix
// time of their creation.
var streamName = regexp.MustCompile(`^` + Prefix + `[0-9A-Z]+_([0-9]+)_[0-9]+$`)

// Reap deletes the streams of earlier runs created more than after ago
// (runs killed before they could remove their own) and says how many.
func (s *Server) Reap(ctx context.Context, after time.Duration) (int, error) {
	names, err := s.Leftovers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		m := streamName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		created, _ := strconv.ParseInt(m[1], 10, 64)
		if time.Since(time.Unix(created, 0)) < after {
			continue
		}
		if err := s.remove(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Leftovers lists idemcheck's streams on the server, of any run.
func (s *Server) Leftovers(ctx context.Context) ([]string, error) {
	var out []string
	l := s.js.StreamNames(ctx)
	for name := range l.Name() {
		if streamName.MatchString(name) {
			out = append(out, name)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("natsjs: list streams: %w", err)
	}
	return out, nil
}

// Close removes the streams this run still owns, disconnects, and stops
// the embedded server and removes its store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
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
		errs = append(errs, s.remove(ctx, name))
	}
	s.nc.Close()
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		errs = append(errs, os.RemoveAll(s.dir))
		s.lock.Close()
	}
	return errors.Join(errs...)
}
