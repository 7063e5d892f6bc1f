package rabbitmq

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"

	"github.com/idemcheck/idemcheck/harness/acks"
)

// The AMQP 0-9-1 frames and methods the proxy reads.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameEnd       = 0xCE
	classBasic     = 60
	classChannel   = 20
	basicConsume   = 20
	basicConsumeOk = 21
	basicGetEmpty  = 72
	basicDeliver   = 60
	basicGet       = 70
	basicGetOk     = 71
	basicAck       = 80
	basicReject    = 90
	basicNack      = 120
	channelClose   = 40
	channelCloseOk = 41
	maxFrame       = 128 << 20
)

var errMalformed = errors.New("rabbitmq: malformed frame")

// Proxy relays AMQP between consumers and a server, frame by frame, so
// that what a consumer is delivered and acks is seen and faulted. Every
// connection belongs to the Session that was current when it was
// accepted; the acks of every session count toward the proxy's Acked.
type Proxy struct {
	front *acks.Front[*Session]

	mu    sync.Mutex
	acked map[int]bool // message ids acked through the proxy
}

// NewProxy starts a proxy in front of the server at upstream (host:port).
func NewProxy(upstream string) (*Proxy, error) {
	p := &Proxy{acked: map[int]bool{}}
	front, err := acks.Listen(upstream, newSession(nil, nil), func(s *Session, client, server net.Conn) (io.Closer, []func()) {
		k := &link{p: p, s: s, client: client, server: server, channels: map[uint16]*channelState{}}
		return k, []func(){k.fromClient, k.fromServer}
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	p.front = front
	return p, nil
}

// Addr is the address consumers connect to.
func (p *Proxy) Addr() string { return p.front.Addr().String() }

// Begin starts a session: connections accepted from now on are counted
// in it and meet fault (nil for none), whose kill ends the consumer.
func (p *Proxy) Begin(fault *acks.Fault, kill func()) *Session {
	s := newSession(fault, kill)
	p.front.Begin(s)
	return s
}

// Acked counts the messages (by id, from 1 to upTo) acked through the
// proxy at least once.
func (p *Proxy) Acked(upTo int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id := range p.acked {
		if id >= 1 && id <= upTo {
			n++
		}
	}
	return n
}

// Close stops the listener and every connection.
func (p *Proxy) Close() { p.front.Close() }

// channelState is what the proxy knows of one channel of a connection:
// the message id each unacked delivery tag carries, and a delivery whose
// content header has not come yet.
type channelState struct {
	ids     map[uint64]string
	waiting uint64 // a delivery tag awaiting its header; 0 for none
}

// link is one client connection and its connection upstream.
type link struct {
	p              *Proxy
	s              *Session
	client, server net.Conn

	mu       sync.Mutex
	channels map[uint16]*channelState
}

// Close closes both sides.
func (k *link) Close() error {
	k.client.Close()
	return k.server.Close()
}

func (k *link) channel(n uint16) *channelState {
	c := k.channels[n]
	if c == nil {
		c = &channelState{ids: map[uint64]string{}}
		k.channels[n] = c
	}
	return c
}

// frame is one AMQP frame: its type, channel and payload.
type frame struct {
	typ     byte
	channel uint16
	payload []byte
}

func readFrame(r *bufio.Reader) (frame, error) {
	var head [7]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return frame{}, err
	}
	size := binary.BigEndian.Uint32(head[3:])
	if size > maxFrame {
		return frame{}, fmt.Errorf("%w: size %d", errMalformed, size)
	}
	body := make([]byte, size+1)
	if _, err := io.ReadFull(r, body); err != nil {
		return frame{}, err
	}
	if body[size] != frameEnd {
		return frame{}, fmt.Errorf("%w: no frame end", errMalformed)
	}
	return frame{typ: head[0], channel: binary.BigEndian.Uint16(head[1:]), payload: body[:size]}, nil
}

func (f frame) bytes() []byte {
	b := []byte{f.typ, byte(f.channel >> 8), byte(f.channel)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.payload)))
	b = append(b, f.payload...)
	return append(b, frameEnd)
}

// method is a method frame's class and method ids and its arguments.
func (f frame) method() (class, method uint16, args []byte, ok bool) {
	if f.typ != frameMethod || len(f.payload) < 4 {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(f.payload), binary.BigEndian.Uint16(f.payload[2:]), f.payload[4:], true
}

// shortstr reads a short string at the start of b, and the rest.
func shortstr(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	return string(b[1 : 1+b[0]]), b[1+b[0]:], true
}

// fromClient relays the consumer's frames, counting and faulting its
// acks.
func (k *link) fromClient() {
	defer k.Close()
	r := bufio.NewReader(k.client)
	w := bufio.NewWriter(k.server)
	// The protocol header: "AMQP" 0 0 9 1.
	var header [8]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return
	}
	if _, err := w.Write(header[:]); err != nil || w.Flush() != nil {
		return
	}
	for {
		f, err := readFrame(r)
		if err != nil {
			return
		}
		after := false
		if class, method, args, ok := f.method(); ok && class == classBasic {
			switch method {
			case basicConsume, basicGet:
				// reserved short, then the queue's name
				if len(args) >= 2 {
					if q, _, ok := shortstr(args[2:]); ok {
						k.s.asked(q)
					}
				}
			case basicAck:
				if len(args) < 9 {
					return
				}
				tag, multiple := binary.BigEndian.Uint64(args), args[8]&1 != 0
				switch k.s.Acked() {
				case acks.DropAndKill:
					k.s.Fire()
					return
				case acks.Swallow:
					// Lost, and the connection with it: the server requeues
					// what it held; the consumer must reconnect.
					k.Close()
					return
				case acks.RelayNegative:
					// basic.nack: the same tag and multiple bit, requeue set.
					p := append([]byte(nil), f.payload...)
					binary.BigEndian.PutUint16(p[2:], basicNack)
					p[len(p)-1] = p[len(p)-1] | 2
					f.payload = p
				case acks.RelayAndKill:
					after = true
					k.ackedTags(f.channel, tag, multiple)
				default:
					k.ackedTags(f.channel, tag, multiple)
				}
			case basicNack, basicReject:
				k.s.Negative()
			}
		}
		if _, err := w.Write(f.bytes()); err != nil {
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

// ackedTags marks the messages a relayed ack acks: tag, or with multiple
// every unacked tag up to it, of channel n.
func (k *link) ackedTags(n uint16, tag uint64, multiple bool) {
	k.mu.Lock()
	c := k.channel(n)
	var ids []string
	for t, id := range c.ids {
		// multiple acks every tag up to tag; with tag 0, every one.
		if t == tag || (multiple && (t <= tag || tag == 0)) {
			ids = append(ids, id)
			delete(c.ids, t)
		}
	}
	k.mu.Unlock()
	k.p.mu.Lock()
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil { // ids the harness did not publish are not counted
			k.p.acked[n] = true
		}
	}
	k.p.mu.Unlock()
}

// fromServer relays the server's frames, noting each delivery's tag and
// message id.
func (k *link) fromServer() {
	defer k.Close()
	r := bufio.NewReader(k.server)
	w := bufio.NewWriter(k.client)
	for {
		f, err := readFrame(r)
		if err != nil {
			return
		}
		k.noteDelivery(f)
		if _, err := w.Write(f.bytes()); err != nil {
			return
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// noteDelivery reads a server frame for deliveries: basic.deliver and
// basic.get-ok give a channel's next delivery tag, the content header
// after them its message id; a closed channel forgets its tags (the
// server requeues what they carried).
func (k *link) noteDelivery(f frame) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f.typ == frameHeader {
		c := k.channel(f.channel)
		if c.waiting != 0 {
			c.ids[c.waiting] = messageID(f.payload)
			c.waiting = 0
			k.s.Delivered()
		}
		return
	}
	class, method, args, ok := f.method()
	if !ok {
		return
	}
	switch {
	case class == classBasic && method == basicDeliver:
		// consumer tag, then the delivery tag
		if _, rest, ok := shortstr(args); ok && len(rest) >= 8 {
			k.channel(f.channel).waiting = binary.BigEndian.Uint64(rest)
		}
	case class == classBasic && method == basicGetOk:
		k.s.answered()
		if len(args) >= 8 {
			k.channel(f.channel).waiting = binary.BigEndian.Uint64(args)
		}
	case class == classBasic && (method == basicConsumeOk || method == basicGetEmpty):
		k.s.answered()
	case class == classChannel && (method == channelClose || method == channelCloseOk):
		delete(k.channels, f.channel)
	}
}

// messageID reads the message-id property of a content header: class,
// weight, body size, property flags, then the properties present in
// order, message-id the 9th.
func messageID(p []byte) string {
	if len(p) < 14 {
		return ""
	}
	flags := binary.BigEndian.Uint16(p[12:])
	rest := p[14:]
	skipStr := func() bool {
		_, r, ok := shortstr(rest)
		rest = r
		return ok
	}
	for bit := 15; bit >= 7; bit-- {
		if flags&(1<<bit) == 0 {
			continue
		}
		switch bit {
		case 15, 14, 10, 9, 8: // content-type, content-encoding, correlation-id, reply-to, expiration
			if !skipStr() {
				return ""
			}
		case 13: // headers: a table, its size first
			if len(rest) < 4 {
				return ""
			}
			n := binary.BigEndian.Uint32(rest)
			if uint32(len(rest)-4) < n {
				return ""
			}
			rest = rest[4+n:]
		case 12, 11: // delivery-mode, priority
			if len(rest) < 1 {
				return ""
			}
			rest = rest[1:]
		case 7: // message-id
			id, _, ok := shortstr(rest)
			if !ok {
				return ""
			}
			return id
		}
	}
	return ""
}

// Session is what one consumer process did through the proxy: its
// deliveries, acks and fault (acks.Session), and the queues it consumed.
type Session struct {
	*acks.Session

	mu      sync.Mutex
	queues  map[string]bool
	answers int // basic.consume-ok, basic.get-ok and basic.get-empty
}

func newSession(fault *acks.Fault, kill func()) *Session {
	return &Session{Session: acks.NewSession(fault, kill)}
}

func (s *Session) answered() {
	s.mu.Lock()
	s.answers++
	s.mu.Unlock()
}

func (s *Session) asked(queue string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues == nil {
		s.queues = map[string]bool{}
	}
	s.queues[queue] = true
}

// Requests counts its basic.consume and basic.get requests the server
// answered: a consumer is up once the server confirmed its subscription,
// not when it sent it.
func (s *Session) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers
}

// Queues lists the queues it consumed or got from: a consumer of the
// wrong queue shows here.
func (s *Session) Queues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.queues))
	for q := range s.queues {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}
