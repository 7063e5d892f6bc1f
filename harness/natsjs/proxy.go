package natsjs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/idemcheck/idemcheck/harness/acks"
)

// maxLine bounds a protocol line, and maxPayload a message's payload:
// anything larger is a broken stream.
const (
	maxLine    = 64 << 10
	maxPayload = 64 << 20
)

var errMalformed = errors.New("natsjs: malformed protocol line")

// ackPrefix begins the subject of every JetStream ack (and the reply
// subject of every message delivered by a consumer that wants one).
const ackPrefix = "$JS.ACK."

// Proxy relays the NATS client protocol between consumers and a server,
// so that what a consumer receives and acks is seen and faulted the same
// way on the embedded server and on a real one. Every connection belongs
// to the Session that was current when it was accepted.
type Proxy struct {
	front *acks.Front[*Session]
}

// NewProxy starts a proxy in front of the server at url (nats://host:port).
func NewProxy(url string) (*Proxy, error) {
	front, err := acks.Listen(strings.TrimPrefix(url, "nats://"), newSession(nil, nil),
		func(s *Session, client, server net.Conn) (io.Closer, []func()) {
			k := &link{s: s, client: client, server: server}
			// The client's connection ends at the proxy's listener: the
			// address INFO is to name.
			return k, []func(){k.fromClient, func() { k.fromServer(client.LocalAddr().(*net.TCPAddr)) }}
		})
	if err != nil {
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	return &Proxy{front: front}, nil
}

// URL is the address a consumer connects to.
func (p *Proxy) URL() string { return "nats://" + p.front.Addr().String() }

// Begin starts a session: connections accepted from now on are counted
// in it and meet fault (nil for none), whose kill ends the consumer.
func (p *Proxy) Begin(fault *acks.Fault, kill func()) *Session {
	s := newSession(fault, kill)
	p.front.Begin(s)
	return s
}

// Close stops the listener and every connection.
func (p *Proxy) Close() { p.front.Close() }

// link is one client connection and its connection upstream.
type link struct {
	s              *Session
	client, server net.Conn
}

// Close closes both sides.
func (k *link) Close() error {
	k.client.Close()
	return k.server.Close()
}

// op is one protocol operation: its line (without CRLF), its name in
// upper case, its arguments, and its payload (with its CRLF) if it has
// one.
type op struct {
	line    []byte
	name    string
	args    []string
	payload []byte
}

// readOp reads one operation; sized says which operations carry a
// payload and which argument (counted from the end) is its size.
func readOp(r *bufio.Reader) (op, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return op{}, fmt.Errorf("%w: longer than %d bytes", errMalformed, maxLine)
		}
		return op{}, err
	}
	line = bytes.TrimRight(line, "\r\n")
	o := op{line: append([]byte(nil), line...)}
	name, rest, _ := strings.Cut(string(o.line), " ")
	o.name = strings.ToUpper(name)
	if o.name != "INFO" && o.name != "CONNECT" && o.name != "-ERR" {
		o.args = strings.Fields(rest)
	}
	switch o.name {
	case "PUB", "HPUB", "MSG", "HMSG":
		if len(o.args) == 0 {
			return op{}, fmt.Errorf("%w: %q", errMalformed, line)
		}
		size, err := strconv.Atoi(o.args[len(o.args)-1])
		if err != nil || size < 0 || size > maxPayload {
			return op{}, fmt.Errorf("%w: %q", errMalformed, line)
		}
		o.payload = make([]byte, size+2)
		if _, err := io.ReadFull(r, o.payload); err != nil {
			return op{}, err
		}
	}
	return o, nil
}

func (o op) bytes() []byte {
	b := append(append([]byte(nil), o.line...), '\r', '\n')
	return append(b, o.payload...)
}

// fromClient relays the consumer's operations, counting and faulting its
// acks.
func (k *link) fromClient() {
	defer k.Close()
	r := bufio.NewReaderSize(k.client, maxLine)
	w := bufio.NewWriter(k.server)
	for {
		o, err := readOp(r)
		if err != nil {
			return
		}
		out := o.bytes()
		after := false // kill once the ack is on its way
		if (o.name == "PUB" || o.name == "HPUB") && len(o.args) >= 2 {
			k.s.requested(o.args[0])
		}
		if o.name == "PUB" && len(o.args) >= 2 && strings.HasPrefix(o.args[0], ackPrefix) {
			switch k.acked(bytes.TrimRight(o.payload, "\r\n")) {
			case acks.DropAndKill:
				k.s.Fire()
				return
			case acks.Swallow:
				continue
			case acks.RelayNegative:
				o.args[len(o.args)-1] = "4"
				out = []byte(strings.Join(append([]string{"PUB"}, o.args...), " ") + "\r\n-NAK\r\n")
			case acks.RelayAndKill:
				after = true
			}
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		if r.Buffered() == 0 || after {
			if w.Flush() != nil {
				return
			}
		}
		if after {
			k.s.Fire()
			return
		}
	}
}

// fromServer relays the server's operations, counting deliveries and
// pointing INFO at the proxy.
func (k *link) fromServer(self *net.TCPAddr) {
	defer k.Close()
	r := bufio.NewReaderSize(k.server, maxLine)
	w := bufio.NewWriter(k.client)
	for {
		o, err := readOp(r)
		if err != nil {
			return
		}
		switch o.name {
		case "INFO":
			if o.line, err = pointInfo(o.line, self); err != nil {
				return
			}
		case "MSG", "HMSG":
			// MSG subject sid [reply] size; HMSG subject sid [reply] hsize size.
			if n := len(o.args); (o.name == "MSG" && n == 4) || (o.name == "HMSG" && n == 5) {
				if strings.HasPrefix(o.args[2], ackPrefix) {
					k.s.Delivered()
				}
			}
		}
		if _, err := w.Write(o.bytes()); err != nil {
			return
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// acked counts an ack of payload body and says what becomes of it:
// empty and +ACK (and +NXT, an ack asking for more) are positive; -NAK,
// +WPI (in progress) and +TERM are not, and are relayed.
func (k *link) acked(body []byte) acks.Action {
	if len(body) > 0 && !bytes.Equal(body, []byte("+ACK")) && !bytes.HasPrefix(body, []byte("+NXT")) {
		k.s.Negative()
		return acks.Relay
	}
	return k.s.Acked()
}

// pointInfo rewrites an INFO line to name the proxy as the server and to
// advertise no other servers, so that the client reconnects through the
// proxy only.
func pointInfo(line []byte, self *net.TCPAddr) ([]byte, error) {
	_, body, _ := bytes.Cut(line, []byte(" "))
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("%w: INFO: %v", errMalformed, err)
	}
	if tls, _ := info["tls_required"].(bool); tls {
		return nil, errors.New("natsjs: the server requires TLS, which the proxy does not relay")
	}
	delete(info, "connect_urls")
	delete(info, "ws_connect_urls")
	info["host"], info["port"] = self.IP.String(), self.Port
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	return append([]byte("INFO "), b...), nil
}
