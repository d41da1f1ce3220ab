// Package endpoint carries SIP messages over one virtual UDP endpoint of the
// simulated network: it parses datagrams with sipgo's parser, keeps the RFC 3261
// §17 transactions (with the run's own T1, T2 and T4, not sipgo's package-global
// timers) and hands requests and responses to the actor that owns it.
package endpoint

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Conn is the packet connection an Endpoint owns; *sim.Conn implements it.
type Conn interface {
	ReadFrom(p []byte) (int, net.Addr, error)
	WriteToAddrPort(p []byte, dst netip.AddrPort) (int, error)
	LocalAddrPort() netip.AddrPort
	Close() error
}

// Default RFC 3261 timers (§17.1.1.1, Table 4): the values of a zero field of
// Timers, and of a scenario without a "timers" block.
const (
	DefaultT1 = 500 * time.Millisecond
	DefaultT2 = 4 * time.Second
	DefaultT4 = 5 * time.Second
)

// DefaultPort is the SIP port of an address or URI written without one
// (RFC 3261 §19.1.2).
const DefaultPort = 5060

// Timers are the RFC 3261 §17.1.1.1 timer values of one run (Table 4).
type Timers struct {
	T1 time.Duration // round-trip estimate; zero means DefaultT1
	T2 time.Duration // maximum retransmit interval for non-INVITE requests and 2xx; zero means DefaultT2
	T4 time.Duration // maximum time a message stays in the network (Timer K); zero means DefaultT4
}

// TransactionTimeout is 64*T1: how long a client transaction waits for a
// final response (Timers B and F) and a server transaction lingers after its
// final response (Timers H and J), RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1.
func (t Timers) TransactionTimeout() time.Duration { return 64 * t.T1 }

// WithDefaults returns t with zero fields replaced by RFC 3261 defaults.
func (t Timers) WithDefaults() Timers {
	if t.T1 <= 0 {
		t.T1 = DefaultT1
	}
	if t.T2 <= 0 {
		t.T2 = DefaultT2
	}
	if t.T4 <= 0 {
		t.T4 = DefaultT4
	}
	return t
}

// Config describes one Endpoint. The zero value of each field is its default.
type Config struct {
	Clock  sim.Clock // the run's clock; nil means sim.SystemClock{}
	Timers Timers    // the run's SIP timers; zero fields take RFC 3261 defaults
	// IDs is where the endpoint and the actor on it take Call-IDs, tags and
	// branches from; nil means a source seeded randomly (see NewIDs), so two
	// runs differ. Give NewIDs(seed, host) for reproducible runs.
	IDs *IDs
}

// Handler receives what an Endpoint reads. Request is called for every new
// request (retransmissions of a request whose transaction is known are
// absorbed by the Endpoint); Response is called for responses that match no
// client transaction. Both run on the Endpoint's read goroutine, or in the
// goroutine that drives a *sim.VirtualClock.
type Handler struct {
	Request  func(req *sip.Request, tx *ServerTx)
	Response func(res *sip.Response, src netip.AddrPort)
	// Discard, if set, is told of every datagram the endpoint threw away
	// (unparsable, or a request without the headers RFC 3261 §8.1.1 makes
	// mandatory, which also gets a 400) and why.
	Discard func(reason string, src netip.AddrPort)
}

// Endpoint is one SIP element's transport and transaction layer on a virtual
// address. Its methods may be called concurrently.
type Endpoint struct {
	conn   Conn
	clock  sim.Clock
	timers Timers
	ids    *IDs
	parser *sip.Parser
	addr   netip.AddrPort

	// mu guards the fields below. A transaction's or an actor's own lock may
	// be held when taking it, never the other way round.
	mu      sync.Mutex
	closed  bool                 // Close has begun: no reader or timer callback starts any more
	serving bool                 // Serve has chosen how datagrams arrive
	servers map[string]*ServerTx // by txKey
	clients map[string]*ClientTx // by txKey
	handler Handler
	pending map[*timer]struct{} // AfterFunc timers that have neither fired nor been stopped
	lingers map[time.Duration]*linger

	// running counts the goroutines Close waits for: the read goroutine, and
	// timer callbacks under a clock that runs them in goroutines of their
	// own. Add is called only with mu held and closed false.
	running sync.WaitGroup
}

// New returns an Endpoint on conn. Call Serve to start reading.
func New(conn Conn, cfg Config) *Endpoint {
	if cfg.Clock == nil {
		cfg.Clock = sim.SystemClock{}
	}
	addr := conn.LocalAddrPort()
	if cfg.IDs == nil {
		cfg.IDs = randomIDs(addr.String())
	}
	return &Endpoint{
		conn:    conn,
		clock:   cfg.Clock,
		timers:  cfg.Timers.WithDefaults(),
		ids:     cfg.IDs,
		parser:  sip.NewParser(),
		addr:    addr,
		servers: make(map[string]*ServerTx),
		clients: make(map[string]*ClientTx),
		pending: make(map[*timer]struct{}),
		lingers: make(map[time.Duration]*linger),
	}
}

// Addr is the endpoint's virtual address.
func (e *Endpoint) Addr() netip.AddrPort { return e.addr }

// Clock is the run's clock.
func (e *Endpoint) Clock() sim.Clock { return e.clock }

// Timers are the run's SIP timers.
func (e *Endpoint) Timers() Timers { return e.timers }

// IDs is the source of every Call-ID, tag and branch the endpoint and its
// actor generate.
func (e *Endpoint) IDs() *IDs { return e.ids }

// pusher is a connection that can hand datagrams over itself, as
// *sim.Conn does on the memory carrier under a *sim.VirtualClock.
type pusher interface {
	SetReceiver(f func(p []byte, src netip.AddrPort)) bool
}

// Serve starts handling what arrives: on a connection that pushes datagrams
// (simulated time) through its receiver, else on a read goroutine that Close
// stops and waits for. A second Serve only replaces the handler; Serve after
// Close does nothing.
func (e *Endpoint) Serve(h Handler) {
	e.mu.Lock()
	e.handler = h
	if e.serving || e.closed {
		e.mu.Unlock()
		return
	}
	e.serving = true
	e.mu.Unlock()
	if p, ok := e.conn.(pusher); ok && p.SetReceiver(e.receive) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return // Close came in between: the connection is closed already
	}
	e.running.Add(1)
	go e.readLoop()
}

// Close closes the connection, stops every timer scheduled with AfterFunc
// (the transactions' and the actor's) and waits for the read goroutine and
// any timer callback still running; nothing is sent after it returns. It is idempotent. It must not be called from a Handler
// or a timer callback of the endpoint, which it would wait for.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.running.Wait()
		return nil
	}
	e.closed = true
	for t := range e.pending {
		t.t.Stop()
	}
	clear(e.pending)
	clients := slices.Collect(maps.Values(e.clients))
	servers := slices.Collect(maps.Values(e.servers))
	e.mu.Unlock()
	// A transaction's lock comes before the endpoint's (its timers take
	// both), so the transactions are marked ended without the latter.
	for _, tx := range clients {
		tx.stopTimers()
	}
	for _, tx := range servers {
		tx.stopTimer()
	}
	err := e.conn.Close()
	e.running.Wait()
	return err
}

// AfterFunc schedules f on the run's clock like sim.Clock.AfterFunc, but
// Close stops the timer, f does not run once Close has begun, and Close
// waits for an f that is running. Actors on the endpoint schedule their
// timers with it. It must not be called with the endpoint's lock held.
func (e *Endpoint) AfterFunc(d time.Duration, f func()) sim.Timer {
	t := &timer{ep: e}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return t // never fires; Stop reports false
	}
	e.pending[t] = struct{}{}
	t.t = e.clock.AfterFunc(d, func() {
		e.mu.Lock()
		delete(e.pending, t)
		if e.closed {
			e.mu.Unlock()
			return
		}
		e.running.Add(1)
		e.mu.Unlock()
		defer e.running.Done()
		f()
	})
	return t
}

// timer is a timer of AfterFunc. Its t is set, under the endpoint's lock,
// before anyone else sees the timer; nil means it never fires.
type timer struct {
	ep *Endpoint
	t  sim.Timer
}

// Stop prevents f from running; it reports whether it did so before f ran.
func (t *timer) Stop() bool {
	t.ep.mu.Lock()
	defer t.ep.mu.Unlock()
	if t.t == nil {
		return false
	}
	delete(t.ep.pending, t)
	return t.t.Stop()
}

func (e *Endpoint) readLoop() {
	defer e.running.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := e.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.mu.Lock()
			closed := e.closed
			e.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		src, err := netip.ParseAddrPort(from.String())
		if err != nil {
			continue
		}
		e.receive(buf[:n], src)
	}
}

// receive parses one datagram and hands it to the transaction layer.
func (e *Endpoint) receive(data []byte, src netip.AddrPort) {
	if isKeepAlive(data) {
		return
	}
	msg, err := e.parser.ParseSIP(append([]byte(nil), data...))
	if err != nil {
		e.discard(fmt.Sprintf("unparsable datagram of %d bytes: %v", len(data), err), src)
		return
	}
	msg.SetSource(src.String())
	msg.SetTransport("UDP")
	switch m := msg.(type) {
	case *sip.Request:
		e.handleRequest(m, src)
	case *sip.Response:
		e.handleResponse(m, src)
	}
}

func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// Send writes msg to dst as one datagram.
func (e *Endpoint) Send(msg sip.Message, dst netip.AddrPort) error {
	return e.sendBytes([]byte(msg.String()), dst)
}

// sendBytes writes a message already written out to dst.
func (e *Endpoint) sendBytes(b []byte, dst netip.AddrPort) error {
	_, err := e.conn.WriteToAddrPort(b, dst)
	return err
}

// SendKeepAlive writes the double-CRLF keep-alive "\r\n\r\n" to dst (RFC 5626 §3.5.1),
// which receivers ignore; it only refreshes the NAT bindings on its way.
func (e *Endpoint) SendKeepAlive(dst netip.AddrPort) error {
	_, err := e.conn.WriteToAddrPort([]byte("\r\n\r\n"), dst)
	return err
}

// noter is a connection that records notes in the run's capture, as
// *sim.Conn does (sim.Conn.Note).
type noter interface {
	Note(about bool, flow string, cause sim.Cause, reason string)
}

// Note records in the capture what the actor did with the datagram the
// endpoint is handling (about true; call it from a Handler) or with the
// call callID alone (about false), with a typed cause and a reason in words.
// On a connection that keeps no capture it does nothing.
func (e *Endpoint) Note(about bool, callID string, cause sim.Cause, reason string) {
	if n, ok := e.conn.(noter); ok {
		n.Note(about, callID, cause, reason)
	}
}

// NewResponse builds a response to req like sip.NewResponseFromRequest, but
// a To tag it adds (every response except 100 to a request without one,
// RFC 3261 §8.2.6.2) comes from the endpoint's IDs rather than a random
// UUID.
func (e *Endpoint) NewResponse(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to, rto := res.To(), req.To(); to != nil && rto != nil && code != 100 && !rto.Params.Has("tag") {
		to.Params.Add("tag", e.ids.Tag())
	}
	return res
}

// txKey identifies a transaction by top Via branch, sent-by and method
// (RFC 3261 §17.1.3, §17.2.3). ACK matches the INVITE transaction.
func txKey(via *sip.ViaHeader, method sip.RequestMethod) string {
	branch, _ := via.Params.Get("branch")
	if method == sip.ACK {
		method = sip.INVITE
	}
	return branch + "|" + via.SentBy() + "|" + string(method)
}

func (e *Endpoint) handleRequest(req *sip.Request, src netip.AddrPort) {
	via := req.Via()
	if via == nil || req.CSeq() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil {
		e.respondBad(req, src)
		return
	}
	AddReceived(req, src)
	key := txKey(via, req.Method)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	h := e.handler.Request
	tx, known := e.servers[key]
	if known {
		e.mu.Unlock()
		if req.IsAck() {
			tx.ack() // the ACK for our non-2xx final: it ends the exchange, nothing to send
			return
		}
		tx.retransmission()
		return
	}
	if req.IsAck() {
		// ACK for a 2xx: end to end, no transaction (RFC 3261 §17.1.1.3).
		e.mu.Unlock()
		if h != nil {
			h(req, nil)
		}
		return
	}
	tx = &ServerTx{ep: e, key: key, invite: req.IsInvite()}
	e.servers[key] = tx
	e.mu.Unlock()
	if h != nil {
		h(req, tx)
	}
}

// CauseDiscarded is the cause of the note an endpoint records for a datagram it threw
// away (unparsable, or a request without the mandatory headers).
const CauseDiscarded sim.Cause = "discarded"

func (e *Endpoint) discard(reason string, src netip.AddrPort) {
	e.Note(true, "", CauseDiscarded, reason)
	e.mu.Lock()
	h := e.handler.Discard
	e.mu.Unlock()
	if h != nil {
		h(reason, src)
	}
}

func (e *Endpoint) respondBad(req *sip.Request, src netip.AddrPort) {
	e.discard(fmt.Sprintf("%s request without Via, From, To, Call-ID or CSeq: answered 400", req.Method), src)
	if req.IsAck() || req.Via() == nil {
		return
	}
	_ = e.Send(e.NewResponse(req, 400, "Bad Request", nil), src)
}

func (e *Endpoint) handleResponse(res *sip.Response, src netip.AddrPort) {
	via := res.Via()
	if via == nil || res.CSeq() == nil {
		e.discard(fmt.Sprintf("%d response without Via or CSeq", res.StatusCode), src)
		return
	}
	key := txKey(via, res.CSeq().MethodName)
	e.mu.Lock()
	tx := e.clients[key]
	h := e.handler.Response
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	if tx != nil && tx.receive(res) {
		return
	}
	if h != nil {
		h(res, src)
	}
}
