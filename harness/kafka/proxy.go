package kafka

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Proxy relays the Kafka protocol between consumers and a cluster, frame
// by frame, so that what a consumer does to the broker is seen and
// faulted the same way on the embedded broker and on a real cluster. It
// listens once per broker: the addresses in Metadata and FindCoordinator
// responses are rewritten to its own listeners, so a client that
// bootstraps through Addrs never reaches the cluster directly.
//
// Every connection belongs to the Session that was current when it was
// accepted. A session counts its consumer's Fetch and OffsetCommit
// requests and its polls, and applies its one Fault. A Gate, when set,
// orders the records that reach consumers across partitions.
type Proxy struct {
	mu      sync.Mutex
	fronts  map[string]*front // by upstream address
	seeds   []string          // the listeners of the seed brokers
	session *Session
	gate    *Gate
	closed  bool
	wg      sync.WaitGroup
}

// front is one listener of the proxy, standing for one upstream broker.
type front struct {
	upstream string
	ln       net.Listener
}

// NewProxy starts a proxy in front of the cluster reached at seeds.
func NewProxy(seeds []string) (*Proxy, error) {
	p := &Proxy{fronts: map[string]*front{}, session: newSession(Fault{}, nil)}
	for _, s := range seeds {
		f, err := p.frontFor(s)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.seeds = append(p.seeds, f.ln.Addr().String())
	}
	return p, nil
}

// Addrs are the addresses a consumer bootstraps from.
func (p *Proxy) Addrs() []string { return p.seeds }

// Begin starts a session: connections accepted from now on are counted
// in it and meet fault (the zero Fault for none), whose kill ends the
// consumer.
func (p *Proxy) Begin(fault Fault, kill func()) *Session {
	s := newSession(fault, kill)
	p.mu.Lock()
	p.session = s
	p.mu.Unlock()
	return s
}

// SetGate makes every Fetch response follow g's order across partitions
// (nil: as the broker serves them).
func (p *Proxy) SetGate(g *Gate) {
	p.mu.Lock()
	p.gate = g
	p.mu.Unlock()
}

func (p *Proxy) currentGate() *Gate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate
}

// Close stops every listener and connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for _, f := range p.fronts {
		f.ln.Close()
	}
	s := p.session
	p.mu.Unlock()
	s.closeConns()
	p.wg.Wait()
}

// frontFor returns the listener standing for upstream, starting it.
func (p *Proxy) frontFor(upstream string) (*front, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.fronts[upstream]; f != nil {
		return f, nil
	}
	if p.closed {
		return nil, errors.New("kafka: the proxy is closed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kafka: proxy listen: %w", err)
	}
	f := &front{upstream: upstream, ln: ln}
	p.fronts[upstream] = f
	p.wg.Add(1)
	go p.accept(f)
	return f, nil
}

func (p *Proxy) accept(f *front) {
	defer p.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		s := p.session
		p.mu.Unlock()
		up, err := net.Dial("tcp", f.upstream)
		if err != nil {
			c.Close()
			continue
		}
		k := &link{p: p, s: s, client: c, server: up, pending: map[int32]request{}}
		if !s.track(k) {
			k.close()
			continue
		}
		p.wg.Add(2)
		go k.requests()
		go k.responses()
	}
}

// link is one client connection and its connection upstream.
type link struct {
	p              *Proxy
	s              *Session
	client, server net.Conn
	writeMu        sync.Mutex // the client side has two writers: responses and injected answers
	mu             sync.Mutex
	pending        map[int32]request // requests awaiting their response, by correlation id
	killOn         int32             // a KillAfterCommit's correlation id, -1 for none
	armed          bool
}

func (k *link) close() {
	k.client.Close()
	k.server.Close()
}

func (k *link) writeClient(frame []byte) error {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	_, err := k.client.Write(appendFrame(nil, frame))
	return err
}

// requests relays client requests upstream, counting and faulting them.
func (k *link) requests() {
	defer k.p.wg.Done()
	defer k.close()
	r := bufio.NewReader(k.client)
	w := bufio.NewWriter(k.server)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return
		}
		req, err := parseRequest(frame)
		if err != nil {
			return
		}
		if req.key == int16(kmsg.Fetch) {
			k.noteFetch(req)
		}
		switch k.s.observe(req) {
		case drop:
			return
		case answer:
			if k.writeClient(responseFrame(req, failedCommit(req, k.s.fault.Commit.Code))) != nil {
				return
			}
			continue
		case killOnResponse:
			k.mu.Lock()
			k.killOn, k.armed = req.corr, true
			k.mu.Unlock()
		}
		k.mu.Lock()
		k.pending[req.corr] = req
		k.mu.Unlock()
		if _, err := w.Write(appendFrame(nil, frame)); err != nil {
			return
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// responses relays the broker's responses, rewriting broker addresses.
func (k *link) responses() {
	defer k.p.wg.Done()
	defer k.close()
	r := bufio.NewReader(k.server)
	for {
		frame, err := readFrame(r)
		if err != nil || len(frame) < 4 {
			return
		}
		corr := int32(uint32(frame[0])<<24 | uint32(frame[1])<<16 | uint32(frame[2])<<8 | uint32(frame[3]))
		k.mu.Lock()
		req, ok := k.pending[corr]
		delete(k.pending, corr)
		kill := k.armed && k.killOn == corr
		k.mu.Unlock()
		if !ok {
			return
		}
		if kill {
			k.s.fire()
			return
		}
		if frame, err = k.rewrite(req, frame); err != nil {
			return
		}
		if req.key == int16(kmsg.Fetch) {
			var hold time.Duration
			if frame, hold, err = k.fetched(req, frame); err != nil {
				return
			}
			if g := k.p.currentGate(); hold > 0 && g != nil {
				g.wait(hold)
			}
		}
		if k.writeClient(frame) != nil {
			return
		}
	}
}

// rewrite points the broker addresses of Metadata and FindCoordinator
// responses at the proxy's listeners.
func (k *link) rewrite(req request, frame []byte) ([]byte, error) {
	var resp kmsg.Response
	switch req.key {
	case int16(kmsg.Metadata):
		resp = new(kmsg.MetadataResponse)
	case int16(kmsg.FindCoordinator):
		resp = new(kmsg.FindCoordinatorResponse)
	default:
		return frame, nil
	}
	body, err := responseBody(req, frame)
	if err != nil {
		return nil, err
	}
	resp.SetVersion(req.version)
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("kafka: proxy: read %s response: %w", kmsg.NameForKey(req.key), err)
	}
	switch resp := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range resp.Brokers {
			if err := k.p.point(&resp.Brokers[i].Host, &resp.Brokers[i].Port); err != nil {
				return nil, err
			}
		}
	case *kmsg.FindCoordinatorResponse:
		if resp.ErrorCode == 0 && resp.Host != "" {
			if err := k.p.point(&resp.Host, &resp.Port); err != nil {
				return nil, err
			}
		}
		for i := range resp.Coordinators {
			c := &resp.Coordinators[i]
			if c.ErrorCode == 0 {
				if err := k.p.point(&c.Host, &c.Port); err != nil {
					return nil, err
				}
			}
		}
	}
	return responseFrame(req, resp), nil
}

// point replaces an upstream host and port with the listener standing
// for them.
func (p *Proxy) point(host *string, port *int32) error {
	f, err := p.frontFor(net.JoinHostPort(*host, strconv.Itoa(int(*port))))
	if err != nil {
		return err
	}
	h, ps, _ := net.SplitHostPort(f.ln.Addr().String())
	n, _ := strconv.Atoi(ps)
	*host, *port = h, int32(n)
	return nil
}

// failedCommit answers an OffsetCommit request with code for every
// partition it names.
func failedCommit(req request, code int16) kmsg.Response {
	var oc kmsg.OffsetCommitRequest
	oc.SetVersion(req.version)
	resp := kmsg.NewPtrOffsetCommitResponse()
	if oc.ReadFrom(req.body) != nil {
		return resp
	}
	for _, t := range oc.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, part := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = part.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// ErrorName is the Kafka name of an error code, for messages.
func ErrorName(code int16) string {
	if err := kerr.ErrorForCode(code); err != nil {
		return err.(*kerr.Error).Message
	}
	return "NONE"
}
