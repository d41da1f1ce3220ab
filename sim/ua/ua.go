// Package ua is a SIP user agent for the simulated network: it registers
// through its NAT, places and answers calls, and as a callee retransmits its
// 2xx until the ACK comes or gives up with a BYE (RFC 3261 §13.3.1.4), the
// behaviour that turns a lost ACK into a dropped call.
package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Config describes one UA. The zero value of each field is its default.
type Config struct {
	Name            string         // user part of the AOR and Contact
	Domain          netip.AddrPort // host (and port, unless 5060) of the AOR; zero means the UA's own address
	Registrar       netip.AddrPort // zero: the UA does not register
	RegisterExpires time.Duration  // zero: 3600s
	AckTimeout      time.Duration  // how long the callee waits for the ACK of its 2xx; zero: 64*T1
	// KeepAlive is what the UA sends its registrar, every KeepAliveInterval once it has
	// registered, to keep its NAT binding open (RFC 5626 §3.5.1, RFC 6314 §5); zero: nothing.
	KeepAlive         KeepAlive
	KeepAliveInterval time.Duration // zero: DefaultKeepAliveInterval
	Observe           func(Event)   // optional; called for every event, in order
}

// KeepAlive is a keep-alive method.
type KeepAlive string

// Keep-alive methods.
const (
	NoKeepAlive      KeepAlive = ""
	KeepAliveCRLF    KeepAlive = "crlf"    // a "\r\n\r\n" datagram, ignored by the registrar
	KeepAliveOptions KeepAlive = "options" // an OPTIONS request, answered 200 by the registrar
)

// DefaultKeepAliveInterval is the keep-alive interval when Config gives none.
const DefaultKeepAliveInterval = 25 * time.Second

// EventKind names what a UA did or saw.
type EventKind string

// Events a UA reports.
const (
	Registered      EventKind = "registered"
	RegisterFailed  EventKind = "register-failed"
	InviteSent      EventKind = "invite-sent"
	InviteReceived  EventKind = "invite-received"
	OKReceived      EventKind = "ok-received"
	OKSent          EventKind = "ok-sent"
	OKRetransmitted EventKind = "ok-retransmitted"
	ACKSent         EventKind = "ack-sent"
	ACKReceived     EventKind = "ack-received"
	ACKTimeout      EventKind = "ack-timeout"
	KeepAliveSent   EventKind = "keep-alive-sent"
	KeepAliveFailed EventKind = "keep-alive-failed"
	BYESent         EventKind = "bye-sent"
	BYEReceived     EventKind = "bye-received"
	CallFailed      EventKind = "call-failed"
	CallEnded       EventKind = "call-ended"
	Discarded       EventKind = "discarded"
)

// Event is one observable step of a UA, stamped with the run's clock.
type Event struct {
	Time   time.Time
	UA     string
	Kind   EventKind
	CallID string
	Detail string
}

// ErrCallFailed is returned by Call when the INVITE got no 2xx.
var ErrCallFailed = errors.New("call failed")

type dialog struct {
	callID       string
	caller       bool
	localTag     string
	remoteTag    string
	localURI     sip.Uri
	remoteURI    sip.Uri
	remoteTarget sip.Uri
	routeSet     []sip.Uri
	cseq         uint32
	established  bool
	ended        bool
	done         chan struct{}

	// caller side
	ack       *sip.Request
	ackDst    netip.AddrPort
	talkTimer sim.Timer

	// callee side
	ok         *sip.Response
	okTx       *endpoint.ServerTx
	okFirst    time.Time
	okInterval time.Duration // current retransmission interval
	okNext     time.Duration // offset of the next retransmission from okFirst
	okTimer    sim.Timer
	ackTimer   sim.Timer
	acked      bool
	gaveUp     bool // the ACK timeout passed: no more 2xx retransmissions
}

// UA is one user agent on one endpoint. Its methods may be called
// concurrently.
type UA struct {
	cfg    Config
	ep     *endpoint.Endpoint
	timers endpoint.Timers

	mu         sync.Mutex
	closed     bool
	dialogs    map[string]*dialog // by Call-ID
	regCallID  string
	regSeq     uint32
	regTimer   sim.Timer
	registered bool
	kaTimer    sim.Timer     // keep-alives, once registered
	kaSeq      uint32        // CSeq of OPTIONS keep-alives
	hangUpIn   time.Duration // as a callee, hang up this long after the ACK; zero: never
}

// New starts a UA on ep.
func New(ep *endpoint.Endpoint, cfg Config) *UA {
	t := ep.Timers()
	if cfg.RegisterExpires <= 0 {
		cfg.RegisterExpires = 3600 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 64 * t.T1
	}
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = DefaultKeepAliveInterval
	}
	u := &UA{cfg: cfg, ep: ep, timers: t, dialogs: make(map[string]*dialog), regCallID: sip.GenerateTagN(16)}
	ep.Serve(endpoint.Handler{Request: u.onRequest, Response: u.onStrayResponse, Discard: func(reason string, src netip.AddrPort) {
		u.emit(Discarded, "", "from %s: %s", src, reason)
	}})
	return u
}

// Name is the UA's user name.
func (u *UA) Name() string { return u.cfg.Name }

// Addr is the UA's virtual address.
func (u *UA) Addr() netip.AddrPort { return u.ep.Addr() }

// AOR is the UA's address of record: sip:name@domain.
func (u *UA) AOR() sip.Uri {
	d := u.cfg.Domain
	if !d.IsValid() {
		d = u.ep.Addr()
	}
	uri := sip.Uri{Scheme: "sip", User: u.cfg.Name, Host: d.Addr().String()}
	if d.Port() != 5060 {
		uri.Port = int(d.Port())
	}
	return uri
}

// Contact is the URI the UA puts in its Contact header: its own (possibly
// private) address, as a real phone behind NAT does.
func (u *UA) Contact() sip.Uri {
	a := u.ep.Addr()
	return sip.Uri{Scheme: "sip", User: u.cfg.Name, Host: a.Addr().String(), Port: int(a.Port())}
}

func (u *UA) contactString() string {
	c := u.Contact()
	return c.String()
}

// Close stops every timer and the endpoint. It is idempotent.
func (u *UA) Close() error {
	u.mu.Lock()
	u.closed = true
	if u.regTimer != nil {
		u.regTimer.Stop()
	}
	if u.kaTimer != nil {
		u.kaTimer.Stop()
	}
	for _, d := range u.dialogs {
		u.stopDialogTimers(d)
	}
	u.mu.Unlock()
	return u.ep.Close()
}

func (u *UA) emit(kind EventKind, callID, format string, args ...any) {
	if u.cfg.Observe == nil {
		return
	}
	u.cfg.Observe(Event{Time: u.ep.Clock().Now(), UA: u.cfg.Name, Kind: kind, CallID: callID, Detail: fmt.Sprintf(format, args...)})
}

func (u *UA) newRequest(method sip.RequestMethod, target sip.Uri, callID string, seq uint32, from, to sip.Uri, fromTag, toTag string) *sip.Request {
	req := sip.NewRequest(method, target)
	req.AppendHeader(u.ep.Via(endpoint.NewBranch(), true))
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	fp := sip.NewParams()
	if fromTag != "" {
		fp.Add("tag", fromTag)
	}
	req.AppendHeader(&sip.FromHeader{Address: from, Params: fp})
	tp := sip.NewParams()
	if toTag != "" {
		tp.Add("tag", toTag)
	}
	req.AppendHeader(&sip.ToHeader{Address: to, Params: tp})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetTransport("UDP")
	return req
}

func (u *UA) contactHeader() *sip.ContactHeader {
	return &sip.ContactHeader{Address: u.Contact(), Params: sip.NewParams()}
}

// Register sends REGISTER to the registrar through whatever NAT is in front
// of the UA and waits for the final response. A successful registration is
// refreshed at half its granted lifetime until Close.
func (u *UA) Register(ctx context.Context) error {
	if !u.cfg.Registrar.IsValid() {
		return fmt.Errorf("ua %s: no registrar configured", u.cfg.Name)
	}
	result := make(chan error, 1)
	if err := u.StartRegister(func(err error) { result <- err }); err != nil {
		return err
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ua %s: register: %w", u.cfg.Name, ctx.Err())
	}
}

// StartRegister sends REGISTER without waiting; done is called once with the
// outcome (nil on 2xx), from the goroutine that handles responses.
func (u *UA) StartRegister(done func(error)) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return fmt.Errorf("ua %s: closed", u.cfg.Name)
	}
	u.regSeq++
	seq := u.regSeq
	u.mu.Unlock()
	reg := u.cfg.Registrar
	target := sip.Uri{Scheme: "sip", Host: reg.Addr().String()}
	if reg.Port() != 5060 {
		target.Port = int(reg.Port())
	}
	aor := u.AOR()
	req := u.newRequest(sip.REGISTER, target, u.regCallID, seq, aor, aor, "r"+u.regCallID[:8], "")
	req.AppendHeader(u.contactHeader())
	exp := sip.ExpiresHeader(uint32(u.cfg.RegisterExpires / time.Second))
	req.AppendHeader(&exp)
	req.SetBody(nil)
	_, err := u.ep.Request(req, reg, func(res *sip.Response) {
		switch {
		case res == nil:
			u.emit(RegisterFailed, u.regCallID, "no response from %s", reg)
			done(fmt.Errorf("ua %s: register with %s: timeout", u.cfg.Name, reg))
		case res.StatusCode < 200:
		case res.IsSuccess():
			granted := u.cfg.RegisterExpires
			if c := res.Contact(); c != nil {
				if v, ok := c.Params.Get("expires"); ok {
					if s, err := strconv.Atoi(v); err == nil && s > 0 {
						granted = time.Duration(s) * time.Second
					}
				}
			}
			u.mu.Lock()
			u.registered = true
			if !u.closed {
				if u.regTimer != nil {
					u.regTimer.Stop()
				}
				u.regTimer = u.ep.Clock().AfterFunc(granted/2, func() { _ = u.StartRegister(func(error) {}) })
				if u.cfg.KeepAlive != NoKeepAlive && u.kaTimer == nil {
					u.kaTimer = u.ep.Clock().AfterFunc(u.cfg.KeepAliveInterval, u.keepAlive)
				}
			}
			u.mu.Unlock()
			u.emit(Registered, u.regCallID, "registered %s at %s for %s", u.contactString(), reg, granted)
			done(nil)
		default:
			u.emit(RegisterFailed, u.regCallID, "%d %s", res.StatusCode, res.Reason)
			done(fmt.Errorf("ua %s: register with %s: %d %s", u.cfg.Name, reg, res.StatusCode, res.Reason))
		}
	})
	return err
}

// keepAlive sends one keep-alive to the registrar over the flow REGISTER opened and
// schedules the next one.
func (u *UA) keepAlive() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.kaTimer = u.ep.Clock().AfterFunc(u.cfg.KeepAliveInterval, u.keepAlive)
	u.kaSeq++
	seq := u.kaSeq
	u.mu.Unlock()
	reg := u.cfg.Registrar
	if u.cfg.KeepAlive == KeepAliveCRLF {
		_ = u.ep.SendKeepAlive(reg)
		u.emit(KeepAliveSent, "", "CRLF keep-alive to %s", reg)
		return
	}
	target := sip.Uri{Scheme: "sip", Host: reg.Addr().String()}
	if reg.Port() != 5060 {
		target.Port = int(reg.Port())
	}
	aor := u.AOR()
	callID := "ka-" + u.regCallID
	req := u.newRequest(sip.OPTIONS, target, callID, seq, aor, target, "k"+u.regCallID[:8], "")
	req.SetBody(nil)
	_, err := u.ep.Request(req, reg, func(res *sip.Response) {
		if res == nil {
			u.emit(KeepAliveFailed, callID, "OPTIONS keep-alive to %s got no response", reg)
		}
	})
	if err == nil {
		u.emit(KeepAliveSent, callID, "OPTIONS keep-alive to %s", reg)
	}
}

// HangUpAfterACK makes the UA, as a callee, send BYE this long after the ACK of each
// call it answers from now on; zero (the default) leaves hanging up to the caller.
func (u *UA) HangUpAfterACK(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hangUpIn = d
}

const sdpTemplate = "v=0\r\no=%s 1 1 IN IP4 %s\r\ns=sipnatlab\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func (u *UA) sdp() []byte {
	a := u.ep.Addr().Addr().String()
	return []byte(fmt.Sprintf(sdpTemplate, u.cfg.Name, a, a))
}

// Call places a call to target through the outbound proxy (zero: straight
// to the target), talks for talk after the 2xx, then hangs up. It returns the
// Call-ID once the caller's side of the call has ended: its BYE was answered
// or timed out, or the callee hung up first.
func (u *UA) Call(ctx context.Context, target sip.Uri, outbound netip.AddrPort, talk time.Duration) (string, error) {
	callID, done, err := u.Dial(target, outbound, talk)
	if err != nil {
		return callID, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return callID, fmt.Errorf("ua %s: call %s: %w", u.cfg.Name, callID, ctx.Err())
	}
	if !u.Established(callID) {
		return callID, ErrCallFailed
	}
	return callID, nil
}

// Established reports whether the call got a 2xx.
func (u *UA) Established(callID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.dialogs[callID]
	return ok && d.established
}

// Dial places a call like Call without waiting: it returns the Call-ID and a
// channel closed when the caller's side of the call has ended.
func (u *UA) Dial(target sip.Uri, outbound netip.AddrPort, talk time.Duration) (string, <-chan struct{}, error) {
	callID := sip.GenerateTagN(20)
	d := &dialog{
		callID:    callID,
		caller:    true,
		localTag:  sip.GenerateTagN(10),
		localURI:  u.AOR(),
		remoteURI: target,
		cseq:      1,
		done:      make(chan struct{}),
	}
	req := u.newRequest(sip.INVITE, target, callID, 1, d.localURI, target, d.localTag, "")
	dst := outbound
	if outbound.IsValid() {
		r := sip.Uri{Scheme: "sip", Host: outbound.Addr().String(), Port: int(outbound.Port()), UriParams: sip.NewParams()}
		r.UriParams.Add("lr", "")
		req.AppendHeader(&sip.RouteHeader{Address: r})
	} else {
		var err error
		if dst, err = endpoint.URIAddr(target); err != nil {
			return callID, nil, fmt.Errorf("ua %s: call %s: %w", u.cfg.Name, target.String(), err)
		}
	}
	req.AppendHeader(u.contactHeader())
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(u.sdp())

	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return callID, nil, fmt.Errorf("ua %s: closed", u.cfg.Name)
	}
	u.dialogs[callID] = d
	u.mu.Unlock()

	u.emit(InviteSent, callID, "INVITE %s via %s", target.String(), dst)
	_, err := u.ep.Request(req, dst, func(res *sip.Response) { u.onInviteResponse(d, talk, res) })
	if err != nil {
		u.endDialog(d, CallFailed, "INVITE not sent: %v", err)
		return callID, nil, err
	}
	return callID, d.done, nil
}

func (u *UA) onInviteResponse(d *dialog, talk time.Duration, res *sip.Response) {
	switch {
	case res == nil:
		u.endDialog(d, CallFailed, "no final response to INVITE (Timer B)")
	case res.StatusCode < 200:
	case res.IsSuccess():
		u.on2xx(d, talk, res)
	default:
		// The INVITE transaction has ACKed the non-2xx (RFC 3261 §17.1.1.3).
		u.endDialog(d, CallFailed, "INVITE answered %d %s", res.StatusCode, res.Reason)
	}
}

// on2xx establishes the dialog from the first 2xx (RFC 3261 §12.1.2) and
// sends the ACK, and re-sends the same ACK for every retransmitted 2xx
// (§13.2.2.4).
func (u *UA) on2xx(d *dialog, talk time.Duration, res *sip.Response) {
	u.mu.Lock()
	if d.ended {
		u.mu.Unlock()
		return
	}
	if d.established {
		ack, dst := d.ack, d.ackDst
		u.mu.Unlock()
		if ack != nil {
			_ = u.ep.Send(ack, dst)
			u.emit(ACKSent, d.callID, "ACK %s re-sent to %s for a retransmitted 2xx", ack.Recipient.String(), dst)
		}
		return
	}
	d.established = true
	d.remoteTag, _ = res.To().Params.Get("tag")
	if c := res.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	} else {
		d.remoteTarget = d.remoteURI
	}
	rr := res.GetHeaders("Record-Route")
	d.routeSet = nil
	for i := len(rr) - 1; i >= 0; i-- {
		d.routeSet = append(d.routeSet, *rr[i].(*sip.RecordRouteHeader).Address.Clone())
	}
	ack := u.inDialogRequest(d, sip.ACK, 1)
	dst, err := u.nextHop(d)
	d.ack, d.ackDst = ack, dst
	if !d.ended {
		d.talkTimer = u.ep.Clock().AfterFunc(talk, func() { u.hangUp(d) })
	}
	u.mu.Unlock()
	contact := ""
	if c := res.Contact(); c != nil {
		contact = c.Address.String()
	}
	u.emit(OKReceived, d.callID, "200 OK with Contact %s", contact)
	if err != nil {
		u.emit(ACKSent, d.callID, "ACK cannot be sent: %v", err)
		return
	}
	_ = u.ep.Send(ack, dst)
	u.emit(ACKSent, d.callID, "ACK %s to %s", ack.Recipient.String(), dst)
}

// inDialogRequest builds a request within d (RFC 3261 §12.2.1.1). Caller
// holds u.mu.
func (u *UA) inDialogRequest(d *dialog, method sip.RequestMethod, seq uint32) *sip.Request {
	req := u.newRequest(method, d.remoteTarget, d.callID, seq, d.localURI, d.remoteURI, d.localTag, d.remoteTag)
	for _, r := range d.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
	}
	if method != sip.ACK {
		req.AppendHeader(u.contactHeader())
	}
	req.SetBody(nil)
	return req
}

// nextHop is where an in-dialog request goes: the first route (loose
// routing) or the remote target. Caller holds u.mu.
func (u *UA) nextHop(d *dialog) (netip.AddrPort, error) {
	if len(d.routeSet) > 0 {
		return endpoint.URIAddr(d.routeSet[0])
	}
	return endpoint.URIAddr(d.remoteTarget)
}

// hangUp sends BYE within d and ends the dialog on its final response or
// timeout.
func (u *UA) hangUp(d *dialog) {
	u.mu.Lock()
	if d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	d.cseq++
	bye := u.inDialogRequest(d, sip.BYE, d.cseq)
	dst, err := u.nextHop(d)
	u.mu.Unlock()
	if err != nil {
		u.endDialog(d, CallEnded, "BYE cannot be routed: %v", err)
		return
	}
	u.emit(BYESent, d.callID, "BYE %s to %s", bye.Recipient.String(), dst)
	_, err = u.ep.Request(bye, dst, func(res *sip.Response) {
		switch {
		case res == nil:
			u.endDialog(d, CallEnded, "BYE got no response (Timer F)")
		case res.StatusCode >= 200:
			u.endDialog(d, CallEnded, "BYE answered %d %s", res.StatusCode, res.Reason)
		}
	})
	if err != nil {
		u.endDialog(d, CallEnded, "BYE not sent: %v", err)
	}
}

func (u *UA) stopDialogTimers(d *dialog) {
	for _, t := range []sim.Timer{d.talkTimer, d.okTimer, d.ackTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

func (u *UA) endDialog(d *dialog, kind EventKind, format string, args ...any) {
	u.mu.Lock()
	if d.ended {
		u.mu.Unlock()
		return
	}
	d.ended = true
	u.stopDialogTimers(d)
	close(d.done)
	u.mu.Unlock()
	u.emit(kind, d.callID, format, args...)
}

// Done returns a channel closed when this UA's side of the call ended. It
// returns nil when the UA has no such call.
func (u *UA) Done(callID string) <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if d, ok := u.dialogs[callID]; ok {
		return d.done
	}
	return nil
}

func (u *UA) onStrayResponse(res *sip.Response, src netip.AddrPort) {}

func (u *UA) onRequest(req *sip.Request, tx *endpoint.ServerTx) {
	switch req.Method {
	case sip.INVITE:
		u.onInvite(req, tx)
	case sip.ACK:
		u.onAck(req)
	case sip.BYE:
		u.onBye(req, tx)
	case sip.OPTIONS:
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	default:
		if tx != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 501, "Not Implemented", nil))
		}
	}
}

// onInvite answers at once with 200 OK and starts retransmitting it until
// the ACK arrives: T1, 2*T1, ... capped at T2 (RFC 3261 §13.3.1.4), giving
// up after the ACK timeout with a BYE.
func (u *UA) onInvite(req *sip.Request, tx *endpoint.ServerTx) {
	callID := req.CallID().Value()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	if _, exists := u.dialogs[callID]; exists {
		u.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	}
	fromTag, _ := req.From().Params.Get("tag")
	d := &dialog{
		callID:    callID,
		localTag:  sip.GenerateTagN(10),
		remoteTag: fromTag,
		localURI:  req.To().Address,
		remoteURI: req.From().Address,
		cseq:      0,
		done:      make(chan struct{}),
		okTx:      tx,
	}
	if c := req.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	} else {
		d.remoteTarget = req.From().Address
	}
	for _, h := range req.GetHeaders("Record-Route") {
		d.routeSet = append(d.routeSet, *h.(*sip.RecordRouteHeader).Address.Clone())
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", u.sdp())
	res.To().Params.Add("tag", d.localTag)
	res.AppendHeader(u.contactHeader())
	ct := sip.ContentTypeHeader("application/sdp")
	res.AppendHeader(&ct)
	d.ok = res
	d.established = true
	d.okInterval = u.timers.T1
	d.okNext = u.timers.T1
	u.dialogs[callID] = d
	u.mu.Unlock()

	u.emit(InviteReceived, callID, "INVITE %s from %s", req.Recipient.String(), req.From().Address.String())
	_ = tx.Respond(res)
	// The schedule starts once the 2xx is on the wire, so no retransmission
	// comes earlier than T1, 3*T1, 7*T1 ... after it.
	u.mu.Lock()
	d.okFirst = u.ep.Clock().Now()
	if !d.acked && !d.ended && !u.closed {
		d.okTimer = u.ep.Clock().AfterFunc(d.okInterval, func() { u.retransmitOK(d) })
		d.ackTimer = u.ep.Clock().AfterFunc(u.cfg.AckTimeout, func() { u.ackTimeout(d) })
	}
	u.mu.Unlock()
	u.emit(OKSent, callID, "200 OK with Contact %s", u.contactString())
}

func (u *UA) retransmitOK(d *dialog) {
	u.mu.Lock()
	if d.acked || d.gaveUp || d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	// Schedule against the first 2xx, not the last firing, so timer lateness
	// does not accumulate: retransmissions at T1, 3*T1, 7*T1 ... after it.
	d.okInterval = min(2*d.okInterval, u.timers.T2)
	d.okNext += d.okInterval
	d.okTimer = u.ep.Clock().AfterFunc(d.okFirst.Add(d.okNext).Sub(u.ep.Clock().Now()), func() { u.retransmitOK(d) })
	res, tx := d.ok, d.okTx
	u.mu.Unlock()
	_ = tx.Respond(res)
	u.emit(OKRetransmitted, d.callID, "200 OK retransmitted, no ACK after %s", u.ep.Clock().Now().Sub(d.okFirst).Round(time.Millisecond))
}

func (u *UA) ackTimeout(d *dialog) {
	u.mu.Lock()
	if d.acked || d.ended || u.closed {
		u.mu.Unlock()
		return
	}
	d.gaveUp = true
	if d.okTimer != nil {
		d.okTimer.Stop()
	}
	u.mu.Unlock()
	u.emit(ACKTimeout, d.callID, "no ACK for the 200 OK within %s: ending the call (RFC 3261 §13.3.1.4)", u.cfg.AckTimeout)
	u.hangUp(d)
}

func (u *UA) onAck(req *sip.Request) {
	callID := req.CallID().Value()
	u.mu.Lock()
	d, ok := u.dialogs[callID]
	if !ok || d.caller || d.acked {
		u.mu.Unlock()
		return
	}
	d.acked = true
	if d.okTimer != nil {
		d.okTimer.Stop()
	}
	if d.ackTimer != nil {
		d.ackTimer.Stop()
	}
	delay := u.ep.Clock().Now().Sub(d.okFirst)
	if u.hangUpIn > 0 && !d.ended && !u.closed {
		d.talkTimer = u.ep.Clock().AfterFunc(u.hangUpIn, func() { u.hangUp(d) })
	}
	u.mu.Unlock()
	u.emit(ACKReceived, callID, "ACK received %s after the first 200 OK", delay.Round(time.Millisecond))
}

func (u *UA) onBye(req *sip.Request, tx *endpoint.ServerTx) {
	callID := req.CallID().Value()
	u.mu.Lock()
	d, ok := u.dialogs[callID]
	u.mu.Unlock()
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	u.emit(BYEReceived, callID, "BYE from %s", req.From().Address.String())
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	u.endDialog(d, CallEnded, "ended by the other side's BYE")
}

// Dialogs returns the Call-IDs the UA knows, sorted.
func (u *UA) Dialogs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]string, 0, len(u.dialogs))
	for id := range u.dialogs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
