package faults

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"github.com/jackc/pgx/v5/pgproto3"
)

// maxMessage bounds one protocol message; PostgreSQL's own limit for most
// messages is 1 GB.
const maxMessage = 1 << 30

// Startup request codes (the first message of a connection has no type byte).
const (
	codeSSL     = 80877103
	codeGSSEnc  = 80877104
	codeCancel  = 80877102
	codeStartV3 = 196608
)

// ErrMalformed is wrapped by errors about messages that break the protocol.
var ErrMalformed = errors.New("malformed PostgreSQL message")

// message is one framed protocol message: its type byte and the whole raw
// bytes to forward (type, length and body).
type message struct {
	typ byte
	raw []byte
}

func (m message) body() []byte { return m.raw[5:] }

// readMessage reads one typed message.
func readMessage(r *bufio.Reader) (message, error) {
	head, err := r.Peek(5)
	if err != nil {
		if len(head) > 0 && errors.Is(err, io.EOF) {
			return message{}, fmt.Errorf("%w: connection closed inside a message header", ErrMalformed)
		}
		return message{}, err
	}
	n := int(int32(binary.BigEndian.Uint32(head[1:5])))
	if n < 4 || n > maxMessage {
		return message{}, fmt.Errorf("%w: message %q declares length %d", ErrMalformed, head[0], n)
	}
	if n < 1<<20 {
		raw := make([]byte, n+1)
		if _, err := io.ReadFull(r, raw); err != nil {
			return message{}, fmt.Errorf("%w: connection closed inside a %q message: %v", ErrMalformed, head[0], err)
		}
		return message{typ: raw[0], raw: raw}, nil
	}
	// A large message grows as its bytes arrive, so a bogus length cannot
	// make the proxy allocate a gigabyte up front.
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(n+1)); err != nil {
		return message{}, fmt.Errorf("%w: connection closed inside a %q message: %v", ErrMalformed, head[0], err)
	}
	return message{typ: buf.Bytes()[0], raw: buf.Bytes()}, nil
}

// readStartup reads the untyped first message of a connection and returns
// its request code and raw bytes.
func readStartup(r *bufio.Reader) (uint32, []byte, error) {
	head, err := r.Peek(8)
	if err != nil {
		if len(head) > 0 {
			return 0, nil, fmt.Errorf("%w: connection closed inside the startup message", ErrMalformed)
		}
		return 0, nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(head[0:4])))
	if n < 8 || n > 10000 {
		return 0, nil, fmt.Errorf("%w: startup message declares length %d", ErrMalformed, n)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return 0, nil, fmt.Errorf("%w: connection closed inside the startup message: %v", ErrMalformed, err)
	}
	code := binary.BigEndian.Uint32(raw[4:8])
	if code == codeStartV3 {
		if err := (&pgproto3.StartupMessage{}).Decode(raw[4:]); err != nil {
			return 0, nil, fmt.Errorf("%w: startup message: %v", ErrMalformed, err)
		}
	}
	return code, raw, nil
}

// clientSQL extracts the SQL a client message carries: a Query's text, a
// Parse's statement (remembered under its name), or the statement a Bind
// refers to. ok is false for messages that carry none.
func clientSQL(m message, prepared map[string]string) (sql string, ok bool, err error) {
	defer recoverMalformed(m, &err)
	switch m.typ {
	case 'Q':
		var q pgproto3.Query
		if err := q.Decode(m.body()); err != nil {
			return "", false, fmt.Errorf("%w: Query: %v", ErrMalformed, err)
		}
		return q.String, true, nil
	case 'P':
		var p pgproto3.Parse
		if err := p.Decode(m.body()); err != nil {
			return "", false, fmt.Errorf("%w: Parse: %v", ErrMalformed, err)
		}
		prepared[p.Name] = p.Query
		return p.Query, true, nil
	case 'B':
		var b pgproto3.Bind
		if err := b.Decode(m.body()); err != nil {
			return "", false, fmt.Errorf("%w: Bind: %v", ErrMalformed, err)
		}
		sql, ok := prepared[b.PreparedStatement]
		return sql, ok, nil
	}
	return "", false, nil
}

// recoverMalformed turns a panic of a pgproto3 decoder into an error:
// pgproto3's Query.Decode, for one, slices out of range on an empty body
// (found by FuzzMessages).
func recoverMalformed(m message, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %q message: %v", ErrMalformed, m.typ, r)
	}
}

// isCopyIn reports whether a statement is COPY ... FROM STDIN.
func isCopyIn(stmt string) bool {
	return sqlsplit.Keyword(stmt) == "COPY" && strings.Contains(strings.ToUpper(stmt), "FROM STDIN")
}

// serverTag extracts what the timeline keeps of a server message: the
// command tag of CommandComplete and the SQLSTATE of ErrorResponse.
func serverTag(m message) (tag, sqlstate string, err error) {
	defer recoverMalformed(m, &err)
	switch m.typ {
	case 'C':
		var c pgproto3.CommandComplete
		if err := c.Decode(m.body()); err != nil {
			return "", "", fmt.Errorf("%w: CommandComplete: %v", ErrMalformed, err)
		}
		return string(c.CommandTag), "", nil
	case 'E':
		var e pgproto3.ErrorResponse
		if err := e.Decode(m.body()); err != nil {
			return "", "", fmt.Errorf("%w: ErrorResponse: %v", ErrMalformed, err)
		}
		return "", e.Code, nil
	}
	return "", "", nil
}

// errorResponse encodes an ErrorResponse with the given severity and code.
func errorResponse(severity, code, text string) []byte {
	b, _ := (&pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: text}).Encode(nil)
	return b
}
