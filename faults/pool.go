package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// backend is a server connection the proxy keeps between attempts.
type backend struct {
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	params map[string]string // ParameterStatus of a fresh backend
	key    []byte            // the raw BackendKeyData message
	pid    uint32
}

// pool holds idle backends by user and database. A backend is reset
// (ROLLBACK, DISCARD ALL) before it goes back, so a writer cannot tell it
// from a fresh one: no transaction, temporary table, prepared statement,
// advisory lock or setting survives. The client's startup parameters are
// applied with set_config on every checkout.
type pool struct {
	mu      sync.Mutex
	max     int
	idle    map[string][]*backend
	refused map[string]bool // keys whose server asked for a password
}

// EnablePool makes the proxy keep up to max idle server connections and
// hand them to new client connections instead of starting a backend each
// time (about 20 ms on a small machine). It applies only where the server
// lets the proxy in without a password (trust); elsewhere connections pass
// through. Limits: a writer's RESET of a startup parameter returns it to the
// server default, not to the value the writer connected with.
func (p *Proxy) EnablePool(max int) {
	p.pool = &pool{max: max, idle: map[string][]*backend{}, refused: map[string]bool{}}
}

func (pl *pool) get(key string) *backend {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	list := pl.idle[key]
	if len(list) == 0 {
		return nil
	}
	b := list[len(list)-1]
	pl.idle[key] = list[:len(list)-1]
	return b
}

func (pl *pool) put(key string, b *backend) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := 0
	for _, l := range pl.idle {
		n += len(l)
	}
	if n >= pl.max {
		b.conn.Close()
		return
	}
	pl.idle[key] = append(pl.idle[key], b)
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

// openBackend starts a neutral backend (user and database only).
func (p *Proxy) openBackend(ctx context.Context, user, database string) (*backend, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	b := &backend{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10), params: map[string]string{}}
	msg, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": user, "database": database}}).Encode(nil)
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
			return nil, fmt.Errorf("faults: the server refused a pooled connection (SQLSTATE %s)", code)
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

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// attach hands a pooled (or new neutral) backend to a client whose startup
// message carried params: it applies the settings and answers the client as
// the server would after authentication.
func (s *session) attachPooled(params map[string]string) (bool, error) {
	pl := s.a.proxy.pool
	user, database := params["user"], params["database"]
	if database == "" {
		database = user
	}
	key := user + "\x00" + database
	pl.mu.Lock()
	refused := pl.refused[key]
	pl.mu.Unlock()
	if refused {
		return false, nil
	}
	settings := startupSettings(params)
	var names []string
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	sql := "SELECT 1"
	if len(names) > 0 {
		var calls []string
		for _, k := range names {
			calls = append(calls, fmt.Sprintf("set_config(%s, %s, false)", literal(k), literal(settings[k])))
		}
		sql = "SELECT " + strings.Join(calls, ", ")
	}
	var b *backend
	reported := map[string]string{}
	for {
		b = pl.get(key)
		fresh := b == nil
		if fresh {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			b, err = s.a.proxy.openBackend(ctx, user, database)
			cancel()
			if errors.Is(err, errNotPoolable) {
				pl.mu.Lock()
				pl.refused[key] = true
				pl.mu.Unlock()
				return false, nil
			}
			if err != nil {
				return false, err
			}
		}
		changed, st, err := b.exec(sql)
		if err != nil && st == 0 && !fresh {
			b.conn.Close() // an idle backend that died (its database was dropped): take another
			continue
		}
		if err != nil {
			b.conn.Close()
			s.client.Write(errorResponse("FATAL", "22023", "idemcheck proxy: startup parameter: "+err.Error()))
			return false, err
		}
		for k, v := range b.params {
			reported[k] = v
		}
		for k, v := range changed {
			reported[k] = v
		}
		break
	}
	s.server, s.sr, s.sw, s.pooled = b.conn, b.r, b.w, b
	var out []byte
	out, _ = (&pgproto3.AuthenticationOk{}).Encode(out)
	var statuses []string
	for k := range reported {
		statuses = append(statuses, k)
	}
	sort.Strings(statuses)
	for _, k := range statuses {
		out, _ = (&pgproto3.ParameterStatus{Name: k, Value: reported[k]}).Encode(out)
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
	s.a.proxy.pool.put(s.poolKey, b)
	return 0
}
