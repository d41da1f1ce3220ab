// Package endpoint carries SIP messages over one virtual UDP endpoint of the
// simulated network: it parses datagrams with sipgo's parser, keeps the RFC 3261
// §17 transactions (with the run's own T1 and T2, not sipgo's package-global
// timers) and hands requests and responses to the actor that owns it.
package endpoint

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
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

// Timers are the RFC 3261 §17.1.1.1 timer values of one run.
type Timers struct {
	T1 time.Duration // round-trip estimate; zero means 500ms
	T2 time.Duration // maximum retransmit interval for non-INVITE requests and 2xx; zero means 4s
}

// WithDefaults returns t with zero fields replaced by RFC 3261 defaults.
func (t Timers) WithDefaults() Timers {
	if t.T1 <= 0 {
		t.T1 = 500 * time.Millisecond
	}
	if t.T2 <= 0 {
		t.T2 = 4 * time.Second
	}
	return t
}

// Handler receives what an Endpoint reads. Request is called for every new
// request (retransmissions of a request whose transaction is known are
// absorbed by the Endpoint); Response is called for responses that match no
// client transaction. Both run on the Endpoint's read goroutine.
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
	parser *sip.Parser
	addr   netip.AddrPort

	mu      sync.Mutex
	closed  bool
	servers map[string]*ServerTx // by txKey
	clients map[string]*ClientTx // by txKey
	handler Handler
	pushed  bool // datagrams arrive through SetReceiver, no read goroutine
	done    chan struct{}
}

// New returns an Endpoint on conn. Call Serve to start reading.
func New(conn Conn, clock sim.Clock, timers Timers) *Endpoint {
	return &Endpoint{
		conn:    conn,
		clock:   clock,
		timers:  timers.WithDefaults(),
		parser:  sip.NewParser(),
		addr:    conn.LocalAddrPort(),
		servers: make(map[string]*ServerTx),
		clients: make(map[string]*ClientTx),
		done:    make(chan struct{}),
	}
}

// Addr is the endpoint's virtual address.
func (e *Endpoint) Addr() netip.AddrPort { return e.addr }

// Clock is the run's clock.
func (e *Endpoint) Clock() sim.Clock { return e.clock }

// Timers are the run's SIP timers.
func (e *Endpoint) Timers() Timers { return e.timers }

// pusher is a connection that can hand datagrams over itself, as
// *sim.Conn does on the memory carrier under a *sim.VirtualClock.
type pusher interface {
	SetReceiver(f func(p []byte, src netip.AddrPort)) bool
}

// Serve starts handling what arrives: on a connection that pushes datagrams
// (simulated time) through its receiver, else on a read goroutine that Close
// stops.
func (e *Endpoint) Serve(h Handler) {
	e.mu.Lock()
	e.handler = h
	e.mu.Unlock()
	if p, ok := e.conn.(pusher); ok && p.SetReceiver(e.receive) {
		e.mu.Lock()
		e.pushed = true
		e.mu.Unlock()
		return
	}
	go e.readLoop()
}

// Close closes the connection, stops every transaction timer and waits for
// the read goroutine. It is idempotent.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.done
		return nil
	}
	e.closed = true
	for _, tx := range e.clients {
		tx.stopTimers()
	}
	for _, tx := range e.servers {
		tx.stopTimer()
	}
	started := (e.handler.Request != nil || e.handler.Response != nil) && !e.pushed
	e.mu.Unlock()
	err := e.conn.Close()
	if started {
		<-e.done
	} else {
		close(e.done)
	}
	return err
}

func (e *Endpoint) readLoop() {
	defer close(e.done)
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
	_, err := e.conn.WriteToAddrPort([]byte(msg.String()), dst)
	return err
}

// SendKeepAlive writes the double-CRLF keep-alive "\r\n\r\n" to dst (RFC 5626 §3.5.1),
// which receivers ignore; it only refreshes the NAT bindings on its way.
func (e *Endpoint) SendKeepAlive(dst netip.AddrPort) error {
	_, err := e.conn.WriteToAddrPort([]byte("\r\n\r\n"), dst)
	return err
}

// NewBranch returns a fresh RFC 3261 branch parameter (magic cookie prefix).
func NewBranch() string { return sip.GenerateBranch() }

// DerivedBranch returns a branch deterministic in the incoming branch and the
// element's address, as a stateless proxy computes it (RFC 3261 §16.11).
func DerivedBranch(incoming string, self netip.AddrPort) string {
	sum := sha1.Sum([]byte(incoming + "|" + self.String()))
	return "z9hG4bK" + hex.EncodeToString(sum[:8])
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
			return // the ACK for our non-2xx final: it ends the exchange, nothing to send
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
	tx = &ServerTx{ep: e, key: key, req: req}
	e.servers[key] = tx
	e.mu.Unlock()
	if h != nil {
		h(req, tx)
	}
}

func (e *Endpoint) discard(reason string, src netip.AddrPort) {
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
	res := sip.NewResponseFromRequest(req, 400, "Bad Request", nil)
	_ = e.Send(res, src)
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

// AddReceived applies RFC 3261 §18.2.1 and RFC 3581 §4 to the top Via of a
// request read from src: received= when the sent-by host differs from the
// source (or rport is present), rport= filled with the source port.
func AddReceived(req *sip.Request, src netip.AddrPort) {
	via := req.Via()
	if via == nil {
		return
	}
	rport, hasRport := via.Params.Get("rport")
	if via.Host != src.Addr().String() || hasRport {
		via.Params.Add("received", src.Addr().String())
	}
	if hasRport && rport == "" {
		via.Params.Add("rport", strconv.Itoa(int(src.Port())))
	}
}

// ResponseTarget is where a response goes according to its top Via
// (RFC 3261 §18.2.2 and RFC 3581 §4): received/rport when present, else the
// sent-by host and port (5060 by default).
func ResponseTarget(res *sip.Response) (netip.AddrPort, error) {
	via := res.Via()
	if via == nil {
		return netip.AddrPort{}, errors.New("response has no Via")
	}
	host := via.Host
	if rcv, ok := via.Params.Get("received"); ok && rcv != "" {
		host = rcv
	}
	port := via.Port
	if port == 0 {
		port = 5060
	}
	if rp, ok := via.Params.Get("rport"); ok && rp != "" {
		if p, err := strconv.Atoi(rp); err == nil {
			port = p
		}
	}
	return HostPort(host, port)
}

// HostPort turns an IP literal and a port (0 meaning 5060) into an address.
func HostPort(host string, port int) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q is not an IP address", host)
	}
	if port == 0 {
		port = 5060
	}
	if port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// URIAddr is the address a SIP URI with an IP-literal host names.
func URIAddr(u sip.Uri) (netip.AddrPort, error) { return HostPort(u.Host, u.Port) }

// ServerTx is a server transaction (RFC 3261 §17.2). Respond sends a response
// towards the top Via; retransmitted requests get the last response again.
type ServerTx struct {
	ep  *Endpoint
	key string
	req *sip.Request

	mu    sync.Mutex
	last  *sip.Response
	timer sim.Timer
}

// Request is the request that created the transaction.
func (tx *ServerTx) Request() *sip.Request { return tx.req }

// Respond sends res towards its top Via. A final response schedules the
// transaction's removal after 64*T1 (Timers H/J, simplified); retransmitted
// 2xx for INVITE are the UA core's job (RFC 3261 §13.3.1.4) and go out
// through Respond too.
func (tx *ServerTx) Respond(res *sip.Response) error {
	dst, err := ResponseTarget(res)
	if err != nil {
		return err
	}
	tx.mu.Lock()
	tx.last = res
	if res.StatusCode >= 200 && tx.timer == nil {
		tx.timer = tx.ep.clock.AfterFunc(64*tx.ep.timers.T1, tx.remove)
	}
	tx.mu.Unlock()
	return tx.ep.Send(res, dst)
}

func (tx *ServerTx) retransmission() {
	tx.mu.Lock()
	last := tx.last
	tx.mu.Unlock()
	if last == nil || (last.IsSuccess() && tx.req.IsInvite()) {
		// A 2xx is retransmitted by the UA core on its own schedule.
		return
	}
	if dst, err := ResponseTarget(last); err == nil {
		_ = tx.ep.Send(last, dst)
	}
}

func (tx *ServerTx) stopTimer() {
	tx.mu.Lock()
	if tx.timer != nil {
		tx.timer.Stop()
	}
	tx.mu.Unlock()
}

func (tx *ServerTx) remove() {
	tx.ep.mu.Lock()
	if tx.ep.servers[tx.key] == tx {
		delete(tx.ep.servers, tx.key)
	}
	tx.ep.mu.Unlock()
}

// ClientTx is a client transaction (RFC 3261 §17.1): it retransmits its
// request over UDP (Timer A or E) until a response arrives and reports a
// timeout (Timer B or F) as a nil response.
type ClientTx struct {
	ep     *Endpoint
	key    string
	req    *sip.Request
	dst    netip.AddrPort
	onResp func(res *sip.Response) // nil res: timeout

	mu       sync.Mutex
	interval time.Duration
	retrans  sim.Timer
	timeout  sim.Timer
	gotResp  bool
	final    bool
	ack      *sip.Request // the ACK for a non-2xx final response to INVITE
	ended    bool
}

// Request starts a client transaction for req (which must carry its own top
// Via with a branch) sent to dst. onResp is called for each response that
// matches (for INVITE, every 2xx retransmission too, for 64*T1 after the
// first, as RFC 6026 Accepted state) and once with nil on timeout.
func (e *Endpoint) Request(req *sip.Request, dst netip.AddrPort, onResp func(res *sip.Response)) (*ClientTx, error) {
	via := req.Via()
	if via == nil {
		return nil, errors.New("request has no Via")
	}
	tx := &ClientTx{ep: e, key: txKey(via, req.Method), req: req, dst: dst, onResp: onResp, interval: e.timers.T1}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, net.ErrClosed
	}
	e.clients[tx.key] = tx
	tx.mu.Lock()
	tx.retrans = e.clock.AfterFunc(tx.interval, tx.retransmit)
	tx.timeout = e.clock.AfterFunc(64*e.timers.T1, tx.expire)
	tx.mu.Unlock()
	e.mu.Unlock()
	if err := e.Send(req, dst); err != nil {
		tx.terminate()
		return nil, err
	}
	return tx, nil
}

func (tx *ClientTx) retransmit() {
	tx.mu.Lock()
	if tx.ended || tx.final || (tx.gotResp && tx.req.IsInvite()) {
		tx.mu.Unlock()
		return
	}
	if tx.req.IsInvite() {
		tx.interval *= 2 // Timer A doubles without cap (RFC 3261 §17.1.1.2)
	} else if tx.gotResp {
		tx.interval = tx.ep.timers.T2 // §17.1.2.2: after a provisional, every T2
	} else {
		tx.interval = min(2*tx.interval, tx.ep.timers.T2) // Timer E
	}
	tx.retrans = tx.ep.clock.AfterFunc(tx.interval, tx.retransmit)
	tx.mu.Unlock()
	_ = tx.ep.Send(tx.req, tx.dst)
}

func (tx *ClientTx) expire() {
	tx.mu.Lock()
	final := tx.final
	tx.mu.Unlock()
	tx.terminate()
	if !final {
		tx.onResp(nil)
	}
}

// receive handles a response; it reports false once the transaction has ended.
func (tx *ClientTx) receive(res *sip.Response) bool {
	tx.mu.Lock()
	if tx.ended {
		tx.mu.Unlock()
		return false
	}
	if tx.final && !(tx.req.IsInvite() && res.IsSuccess()) {
		// Retransmitted final response: absorbed; for a non-2xx to INVITE
		// the ACK goes again (RFC 3261 §17.1.1.2, Completed state).
		ack := tx.ack
		tx.mu.Unlock()
		if ack != nil {
			_ = tx.ep.Send(ack, tx.dst)
		}
		return true
	}
	tx.gotResp = true
	if res.StatusCode < 200 && tx.req.IsInvite() && tx.timeout != nil && !tx.final {
		// Proceeding: Timer B no longer applies (RFC 3261 §17.1.1.2); the
		// final response or the next hop's own timeout ends the transaction.
		tx.timeout.Stop()
		tx.timeout = nil
	}
	if res.StatusCode >= 200 && !tx.final {
		tx.final = true
		if tx.retrans != nil {
			tx.retrans.Stop()
		}
		if tx.req.IsInvite() && !res.IsSuccess() {
			tx.ack = nonSuccessACK(tx.req, res)
			ack := tx.ack
			defer func() { _ = tx.ep.Send(ack, tx.dst) }()
		}
		if !tx.req.IsInvite() || !res.IsSuccess() {
			// Timer K / D: keep absorbing retransmissions for a while.
			if tx.timeout != nil {
				tx.timeout.Stop()
			}
			tx.timeout = tx.ep.clock.AfterFunc(64*tx.ep.timers.T1, tx.terminate)
		} else {
			// RFC 6026 Accepted: pass 2xx retransmissions up for 64*T1.
			if tx.timeout != nil {
				tx.timeout.Stop()
			}
			tx.timeout = tx.ep.clock.AfterFunc(64*tx.ep.timers.T1, tx.terminate)
		}
	}
	tx.mu.Unlock()
	tx.onResp(res)
	return true
}

// nonSuccessACK is the ACK the INVITE client transaction sends for a non-2xx
// final response, hop by hop (RFC 3261 §17.1.1.3): the INVITE's
// Request-URI, top Via, Route, From, Call-ID and CSeq number, the
// response's To.
func nonSuccessACK(invite *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, invite.Recipient)
	ack.AppendHeader(invite.Via().Clone())
	for _, h := range invite.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	ack.AppendHeader(sip.HeaderClone(invite.From()))
	if to := res.To(); to != nil {
		ack.AppendHeader(sip.HeaderClone(to))
	}
	ack.AppendHeader(sip.HeaderClone(invite.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	return ack
}

func (tx *ClientTx) stopTimers() {
	tx.mu.Lock()
	if tx.retrans != nil {
		tx.retrans.Stop()
	}
	if tx.timeout != nil {
		tx.timeout.Stop()
	}
	tx.ended = true
	tx.mu.Unlock()
}

func (tx *ClientTx) terminate() {
	tx.stopTimers()
	tx.ep.mu.Lock()
	if tx.ep.clients[tx.key] == tx {
		delete(tx.ep.clients, tx.key)
	}
	tx.ep.mu.Unlock()
}

// Via returns a new Via header for this endpoint with the given branch and an
// empty rport parameter (RFC 3581 §3).
func (e *Endpoint) Via(branch string, rport bool) *sip.ViaHeader {
	p := sip.NewParams()
	p.Add("branch", branch)
	if rport {
		p.Add("rport", "")
	}
	return &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       "UDP",
		Host:            e.addr.Addr().String(),
		Port:            int(e.addr.Port()),
		Params:          p,
	}
}
