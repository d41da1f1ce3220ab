// Package ua is a SIP user agent for the simulated network: it registers
// through its NAT, places and answers calls, and as a callee retransmits its
// 2xx until the ACK comes or gives up with a BYE (RFC 3261 §13.3.1.4), the
// behaviour that turns a lost ACK into a dropped call.
package ua

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Config describes one UA. The zero value of each field is its default.
type Config struct {
	Name            string         // user part of the AOR and Contact
	Domain          netip.AddrPort // host (and port, unless endpoint.DefaultPort) of the AOR; zero means the UA's own address
	Registrar       netip.AddrPort // zero: the UA does not register
	RegisterExpires time.Duration  // zero: DefaultRegisterExpires
	AckTimeout      time.Duration  // how long the callee waits for the ACK of its 2xx; zero: DefaultAckTimeout(T1)
	// KeepAlive is what the UA sends its registrar, every KeepAliveInterval once it has
	// registered, to keep its NAT binding open (RFC 5626 §3.5.1, RFC 6314 §5); zero: nothing.
	KeepAlive         KeepAlive
	KeepAliveInterval time.Duration // zero: DefaultKeepAliveInterval
	Observe           func(Event)   // optional; called for every event, in order
	// NoRport leaves rport out of the UA's Via (RFC 3581 §3), as old phones do: replies
	// then go to the Via's port unless the proxy forces rport. Zero: rport is asked for.
	NoRport bool
}

// KeepAlive is a keep-alive method (RFC 5626 §3.5.1, RFC 6314 §5), the words of a
// scenario's keep-alive "method" key.
type KeepAlive string

// Keep-alive methods.
const (
	NoKeepAlive      KeepAlive = ""
	KeepAliveCRLF    KeepAlive = "crlf"    // a "\r\n\r\n" datagram, ignored by the registrar
	KeepAliveOptions KeepAlive = "options" // an OPTIONS request, answered 200 by the registrar
)

// ParseKeepAlive parses "crlf" or "options".
func ParseKeepAlive(s string) (KeepAlive, error) {
	switch k := KeepAlive(s); k {
	case KeepAliveCRLF, KeepAliveOptions:
		return k, nil
	}
	return NoKeepAlive, fmt.Errorf("parse keep-alive method %q: want crlf or options", s)
}

// DefaultKeepAliveInterval is the keep-alive interval when Config gives none: well
// inside the shortest common UDP binding timeouts (30 s and more).
const DefaultKeepAliveInterval = 25 * time.Second

// DefaultRegisterExpires is the Expires of a REGISTER when Config gives none.
const DefaultRegisterExpires = 3600 * time.Second

// DefaultAckTimeout is how long a callee waits for the ACK of its 2xx when Config
// gives no AckTimeout: 64*T1, after which it gives up on the dialog and sends BYE
// (RFC 3261 §13.3.1.4).
func DefaultAckTimeout(t1 time.Duration) time.Duration { return 64 * t1 }

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

// UA is one user agent on one endpoint. Its methods may be called
// concurrently.
type UA struct {
	cfg    Config
	ep     *endpoint.Endpoint
	timers endpoint.Timers

	mu         sync.Mutex
	closed     bool
	dialogs    map[string]*dialog     // live ones, by Call-ID
	ended      map[string]endedDialog // ended ones, by Call-ID: a few bytes each
	doneCh     chan struct{}          // closed: what Done returns for an ended dialog
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
		cfg.RegisterExpires = DefaultRegisterExpires
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout(t.T1)
	}
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = DefaultKeepAliveInterval
	}
	u := &UA{cfg: cfg, ep: ep, timers: t, dialogs: make(map[string]*dialog), ended: make(map[string]endedDialog), doneCh: make(chan struct{}), regCallID: ep.IDs().CallID()}
	close(u.doneCh)
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
	if d.Port() != endpoint.DefaultPort {
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

// Close stops every timer and closes the endpoint, waiting for the timer
// callbacks and the read goroutine it owns; nothing is sent after it returns.
// It is idempotent.
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
	req.AppendHeader(u.ep.Via(u.ep.IDs().Branch(), !u.cfg.NoRport))
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

const sdpTemplate = "v=0\r\no=%s 1 1 IN IP4 %s\r\ns=sipnatlab\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func (u *UA) sdp() []byte {
	a := u.ep.Addr().Addr().String()
	return []byte(fmt.Sprintf(sdpTemplate, u.cfg.Name, a, a))
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
		_ = tx.Respond(u.ep.NewResponse(req, 200, "OK", nil))
	default:
		if tx != nil {
			_ = tx.Respond(u.ep.NewResponse(req, 501, "Not Implemented", nil))
		}
	}
}

// Dialogs returns the Call-IDs the UA knows, sorted.
func (u *UA) Dialogs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]string, 0, len(u.dialogs)+len(u.ended))
	for id := range u.dialogs {
		ids = append(ids, id)
	}
	for id := range u.ended {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
