package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// backend is a server connection the proxy keeps between attempts.
type backend struct {
	conn      net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	home      string // its startup: user, database and settings (poolKey); DISCARD ALL brings the settings back
	idleSince time.Time
	params    map[string]string // ParameterStatus of a fresh backend
	key       []byte            // the raw BackendKeyData message
	pid       uint32
}

// pool holds idle backends by their startup (user, database and the
// settings the client's startup message carried, such as search_path). A
// backend is reset (ROLLBACK, DISCARD ALL) before it goes back, so a writer
// cannot tell it from a fresh one: no transaction, temporary table,
// prepared statement, advisory lock or setting survives, and every setting
// is back at its startup value (RESET restores what the startup message
// set). A client gets an idle backend whose startup matches its own, or
// else a new backend started with its startup. Never one started for
// other values (another sandbox's search_path) with the client's set on
// it: a writer's RESET, RESET ALL or DISCARD ALL would go back to that
// backend's startup values, into another sandbox.
type pool struct {
	mu      sync.Mutex
	max     int
	idle    map[string][]*backend // by home
	refused map[string]bool       // user and database whose server asked for a password
}

// poolKey is the home of a backend started with user, database and
// settings.
func poolKey(user, database string, settings map[string]string) string {
	var b strings.Builder
	b.WriteString(user + "\x00" + database)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		b.WriteString("\x00" + k + "=" + settings[k])
	}
	return b.String()
}

// EnablePool makes the proxy keep up to max idle server connections and
// hand them to new client connections instead of starting a backend each
// time (about 20 ms on a small machine). It applies only where the server
// lets the proxy in without a password (trust); elsewhere connections pass
// through. Backends are shared only by clients of the same startup, so a
// writer's RESET returns a setting to the value it connected with, as on a
// backend of its own.
func (p *Proxy) EnablePool(max int) {
	p.pool = &pool{max: max, idle: map[string][]*backend{}, refused: map[string]bool{}}
}

// get takes an idle backend whose home is key, or returns nil.
func (pl *pool) get(key string) *backend {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	take := func(home string) *backend {
		list := pl.idle[home]
		b := list[len(list)-1]
		if len(list) == 1 {
			delete(pl.idle, home)
		} else {
			pl.idle[home] = list[:len(list)-1]
		}
		return b
	}
	for len(pl.idle[key]) > 0 {
		if b := take(key); b.alive() {
			return b
		}
	}
	return nil
}

// alive reports whether an idle backend is still connected, without a
// round trip: an idle backend the server ended (its database dropped, an
// idle timeout, a terminate) has sent its last message and hung up. A
// dead one is closed.
func (b *backend) alive() bool {
	if b.r.Buffered() == 0 && !hungUp(b.conn) {
		return true
	}
	b.conn.Close() // a message from an idle server is its goodbye
	return false
}

// put makes b idle; when the pool is full, the backend idle the longest
// goes (those of sandboxes gone for good would otherwise fill it).
func (pl *pool) put(b *backend) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b.idleSince = time.Now()
	n := 0
	var oldest *backend
	for _, l := range pl.idle {
		n += len(l)
		if len(l) > 0 && (oldest == nil || l[0].idleSince.Before(oldest.idleSince)) {
			oldest = l[0]
		}
	}
	if n >= pl.max && oldest != nil {
		list := pl.idle[oldest.home][1:]
		if len(list) == 0 {
			delete(pl.idle, oldest.home)
		} else {
			pl.idle[oldest.home] = list
		}
		oldest.conn.Close()
	}
	pl.idle[b.home] = append(pl.idle[b.home], b)
}

// Close closes every idle server connection.
func (p *Proxy) Close() {
	if p.pool == nil {
		return
	}
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	for k, l := range p.pool.idle {
		for _, b := range l {
			b.conn.Close()
		}
		delete(p.pool.idle, k)
	}
}

var errNotPoolable = errors.New("faults: the server asks for a password; not pooled")

// refusal is the server's refusal of a backend's startup (an unknown
// setting, a database that does not exist): its raw ErrorResponse, for
// the client.
type refusal struct {
	raw  []byte
	code string
}

func (r *refusal) Error() string {
	return fmt.Sprintf("faults: the server refused a pooled connection (SQLSTATE %s)", r.code)
}

// openBackend starts a backend with user, database and settings in its
// startup message.
func (p *Proxy) openBackend(ctx context.Context, user, database string, settings map[string]string) (*backend, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	b := &backend{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10),
		home: poolKey(user, database, settings), params: map[string]string{}}
	params := map[string]string{"user": user, "database": database}
	for k, v := range settings {
		params[k] = v
	}
	msg, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}).Encode(nil)
	if _, err := conn.Write(msg); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	for {
		m, err := readMessage(b.r)
		if err != nil {
			conn.Close()
			return nil, err
		}
		switch m.typ {
		case 'R':
			if len(m.raw) < 9 || m.raw[5]|m.raw[6]|m.raw[7]|m.raw[8] != 0 {
				conn.Close()
				return nil, errNotPoolable
			}
		case 'S':
			var ps pgproto3.ParameterStatus
			if ps.Decode(m.body()) == nil {
				b.params[ps.Name] = ps.Value
			}
		case 'K':
			b.key = m.raw
			if len(m.raw) >= 9 {
				b.pid = uint32(m.raw[5])<<24 | uint32(m.raw[6])<<16 | uint32(m.raw[7])<<8 | uint32(m.raw[8])
			}
		case 'E':
			conn.Close()
			_, code, _ := serverTag(m)
			return nil, &refusal{raw: m.raw, code: code}
		case 'Z':
			return b, nil
		}
	}
}

// exec runs one simple query on an idle backend and returns the
// ParameterStatus values it reported and the transaction status after it.
func (b *backend) exec(sql string) (map[string]string, byte, error) {
	q, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	if _, err := b.w.Write(q); err != nil {
		return nil, 0, err
	}
	if err := b.w.Flush(); err != nil {
		return nil, 0, err
	}
	return b.until()
}

// until reads to the next ReadyForQuery.
func (b *backend) until() (map[string]string, byte, error) {
	b.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer b.conn.SetReadDeadline(time.Time{})
	params := map[string]string{}
	var failed error
	for {
		m, err := readMessage(b.r)
		if err != nil {
			return nil, 0, err
		}
		switch m.typ {
		case 'S':
			var ps pgproto3.ParameterStatus
			if ps.Decode(m.body()) == nil {
				params[ps.Name] = ps.Value
			}
		case 'E':
			var e pgproto3.ErrorResponse
			if e.Decode(m.body()) == nil {
				failed = fmt.Errorf("%s (SQLSTATE %s)", e.Message, e.Code)
			}
		case 'Z':
			return params, m.raw[5], failed
		}
	}
}

// startupSettings turns a startup message's parameters (besides user and
// database) and its "options" (-c name=value, --name=value) into the
// settings to apply.
func startupSettings(params map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		switch k {
		case "user", "database", "options", "replication":
		default:
			out[k] = v
		}
	}
	fields := strings.Fields(params["options"])
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		var kv string
		switch {
		case f == "-c" && i+1 < len(fields):
			i++
			kv = fields[i]
		case strings.HasPrefix(f, "-c"):
			kv = f[2:]
		case strings.HasPrefix(f, "--"):
			kv = f[2:]
		default:
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[strings.ReplaceAll(k, "-", "_")] = strings.ReplaceAll(v, `\ `, " ")
		}
	}
	return out
}

// attachPooled hands the client whose startup message carried params a
// pooled backend of the same startup, or a new one, and answers the
// client as the server would after authentication. It returns false when
// the server needs a password (nothing pooled: the caller passes the
// connection through).
func (s *session) attachPooled(params map[string]string) (bool, error) {
	pl := s.a.proxy.pool
	user, database := params["user"], params["database"]
	if database == "" {
		database = user
	}
	login := user + "\x00" + database
	pl.mu.Lock()
	refused := pl.refused[login]
	pl.mu.Unlock()
	if refused {
		return false, nil
	}
	settings := startupSettings(params)
	b := pl.get(poolKey(user, database, settings))
	if b == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		b, err = s.a.proxy.openBackend(ctx, user, database, settings)
		cancel()
		var no *refusal
		switch {
		case errors.Is(err, errNotPoolable):
			pl.mu.Lock()
			pl.refused[login] = true
			pl.mu.Unlock()
			return false, nil
		case errors.As(err, &no):
			s.client.Write(no.raw)
			return false, err
		case err != nil:
			return false, err
		}
	}
	s.server, s.sr, s.sw, s.pooled = b.conn, b.r, b.w, b
	var out []byte
	out, _ = (&pgproto3.AuthenticationOk{}).Encode(out)
	for _, k := range slices.Sorted(maps.Keys(b.params)) {
		out, _ = (&pgproto3.ParameterStatus{Name: k, Value: b.params[k]}).Encode(out)
	}
	out = append(out, b.key...)
	out, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(out)
	s.a.mu.Lock()
	s.a.pids = append(s.a.pids, b.pid)
	s.a.mu.Unlock()
	s.ready = true
	_, err := s.client.Write(out)
	return true, err
}

// release returns the session's pooled backend after resetting it, or
// closes it when it cannot be reset for sure (a statement still running, a
// message half read). It returns the pid of a closed backend (0 if pooled).
func (s *session) release(serverHealthy bool) uint32 {
	b := s.pooled
	if b == nil {
		s.server.Close()
		return 0
	}
	closeIt := func() uint32 { b.conn.Close(); return b.pid }
	if !serverHealthy || s.sr.Buffered() > 0 {
		return closeIt()
	}
	status := s.status
	for _, r := range s.inflight {
		if !r.written {
			continue
		}
		if !r.copyIn || r.copyDone {
			return closeIt() // a statement is running: cut it, as a crash does
		}
		f, _ := (&pgproto3.CopyFail{Message: "idemcheck: attempt crashed"}).Encode(nil)
		if _, err := b.w.Write(f); err != nil || b.w.Flush() != nil {
			return closeIt()
		}
		var err error
		if _, status, err = b.until(); err == nil {
			return closeIt() // COPY did not fail as asked
		}
		if status == 0 {
			return closeIt()
		}
	}
	if status != 'I' {
		_, st, err := b.exec("ROLLBACK")
		if err != nil || st != 'I' {
			return closeIt()
		}
	}
	if _, st, err := b.exec("DISCARD ALL"); err != nil || st != 'I' {
		return closeIt()
	}
	s.a.proxy.pool.put(b)
	return 0
}
