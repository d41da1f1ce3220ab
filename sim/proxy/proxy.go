// Package proxy is a stateful SIP proxy and registrar for the simulated
// network, with the reply-route Contact handling whose mistakes lose the ACK
// for a 2xx: none, excessive or correct (see docs/scenario-format.md, "nat-handling").
package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// CauseNothingToForward is the cause of the note the proxy records when it
// absorbs an in-dialog ACK whose Request-URI names the proxy itself and that
// has no Route left (RFC 3261 §16.4): there is no next hop to forward it to.
const CauseNothingToForward sim.Cause = "nothing-to-forward"

// Handling is the Contact policy of the proxy's reply route, the words of a
// scenario's "nat-handling" key.
type Handling string

const (
	// HandlingNone never rewrites a reply's Contact.
	HandlingNone Handling = "none"
	// HandlingExcessive rewrites the Contact of every reply to the reply's
	// source address and port, even when another proxy relayed it.
	HandlingExcessive Handling = "excessive"
	// HandlingCorrect rewrites the Contact only of replies that arrive
	// straight from a UA this proxy registered from behind NAT, as
	// nathelper's fix_nated_contact() applied after nat_uac_test().
	HandlingCorrect Handling = "correct"
)

// ParseHandling parses "none", "excessive" or "correct".
func ParseHandling(s string) (Handling, error) {
	switch h := Handling(s); h {
	case HandlingNone, HandlingExcessive, HandlingCorrect:
		return h, nil
	}
	return "", fmt.Errorf("parse nat-handling %q: want none, excessive or correct", s)
}

// Config describes one proxy. The zero value of each field is its default.
type Config struct {
	Name          string
	NextHop       netip.AddrPort // where initial requests go when this proxy is not the registrar for them; zero: route by Request-URI
	Registrar     bool           // accept REGISTER and route to registered contacts
	NoRecordRoute bool           // record-route: false
	Handling      Handling       // "" means HandlingNone
	Observe       func(Event)    // optional; called for every routing decision
	// Advertise is the address the proxy writes about itself in Record-Route and Via
	// instead of its own, as Kamailio's "advertise" and OpenSIPS's "socket ... as ..."
	// do for a proxy behind a NAT that forwards a public port to it; zero: its own
	// address. A Route or Request-URI naming it names the proxy.
	Advertise netip.AddrPort
	// Aliases are other addresses that name the proxy in a Route or Request-URI
	// (Kamailio's and OpenSIPS's alias): the public address of a port forward to it.
	// It takes them as its own but, unlike Advertise, never writes them.
	Aliases []netip.AddrPort
	// ForceRport answers every request to the address and port it came from, as if its
	// top Via carried rport (force_rport(), RFC 3581 §4). Zero: only a Via with rport
	// gets that; one without is answered to its received address and the Via's port.
	ForceRport bool
	// NoFixRegister makes the registrar store a REGISTER's Contact as written and send
	// requests for the user there, as save("location") does without
	// fix_nated_register() or the received parameter; zero: requests go to the address
	// the REGISTER came from.
	NoFixRegister bool

	// Late2xx is what it does with a 2xx retransmission after the transaction ended; "" means Late2xxReplyRoute.
	Late2xx Late2xx

	// Reject, when not 0, is the final status (300-699) the proxy answers every
	// initial INVITE with, forwarding none: a stand-in for a real proxy whose
	// route leads nowhere (404 no registration, 408 no branch answered, 483 a loop).
	Reject int
}

// Event is one routing decision, for the harness and the diagnosis.
type Event struct {
	Time   time.Time
	Proxy  string
	Kind   string // "registered", "contact-rewritten", "absorbed", "forwarded", "rejected"
	CallID string
	Detail string
}

// Binding is one location-table entry (RFC 3261 §10.3).
type Binding struct {
	AOR      string         // user part of the address of record
	Contact  sip.Uri        // as the UA wrote it
	Received netip.AddrPort // source address of the REGISTER
	Expires  time.Time
}

// NATed reports whether the REGISTER came from an address other than the
// one in its Contact, as nat_uac_test() finds.
func (b Binding) NATed() bool {
	c, err := endpoint.URIAddr(b.Contact)
	return err != nil || c != b.Received
}

// Proxy is a stateful proxy on one endpoint. Its methods may be called
// concurrently.
type Proxy struct {
	cfg Config
	ep  *endpoint.Endpoint

	mu       sync.Mutex
	location map[string]Binding // by AOR user
}

// New starts a proxy on ep.
func New(ep *endpoint.Endpoint, cfg Config) *Proxy {
	if cfg.Handling == "" {
		cfg.Handling = HandlingNone
	}
	if cfg.Late2xx == "" {
		cfg.Late2xx = Late2xxReplyRoute
	}
	p := &Proxy{cfg: cfg, ep: ep, location: make(map[string]Binding)}
	ep.Serve(endpoint.Handler{Request: p.onRequest, Response: p.onStrayResponse, Discard: func(reason string, src netip.AddrPort) {
		p.observe("discarded", "", "from %s: %s", src, reason)
	}})
	return p
}

// Close stops the proxy and its endpoint.
func (p *Proxy) Close() error { return p.ep.Close() }

// Addr is the proxy's virtual address.
func (p *Proxy) Addr() netip.AddrPort { return p.ep.Addr() }

// Location returns a snapshot of the location table.
func (p *Proxy) Location() []Binding {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Binding, 0, len(p.location))
	for _, b := range p.location {
		out = append(out, b)
	}
	return out
}

func (p *Proxy) observe(kind, callID, format string, args ...any) {
	if p.cfg.Observe == nil {
		return
	}
	p.cfg.Observe(Event{Time: p.ep.Clock().Now(), Proxy: p.cfg.Name, Kind: kind, CallID: callID, Detail: fmt.Sprintf(format, args...)})
}

func callID(m sip.Message) string {
	type hasCallID interface{ CallID() *sip.CallIDHeader }
	if h, ok := m.(hasCallID); ok && h.CallID() != nil {
		return h.CallID().Value()
	}
	return ""
}

// isSelf reports whether u names this proxy, by its own or its advertised address.
func (p *Proxy) isSelf(u sip.Uri) bool {
	a, err := endpoint.URIAddr(u)
	return err == nil && (a == p.ep.Addr() || a == p.cfg.Advertise || slices.Contains(p.cfg.Aliases, a))
}

// self is the address the proxy writes about itself: Advertise, or its own.
func (p *Proxy) self() netip.AddrPort {
	if p.cfg.Advertise.IsValid() {
		return p.cfg.Advertise
	}
	return p.ep.Addr()
}

func (p *Proxy) reply(req *sip.Request, tx *endpoint.ServerTx, code int, reason string) {
	if tx == nil {
		return
	}
	_ = tx.Respond(p.ep.NewResponse(req, code, reason, nil))
}

func (p *Proxy) onRequest(req *sip.Request, tx *endpoint.ServerTx) {
	// Responses of our own (100, 404, 408 ...) are built from the request as
	// it came in; req itself is changed on its way on (Max-Forwards, Route,
	// Record-Route, our Via).
	if v := req.Via(); p.cfg.ForceRport && v != nil {
		if src, err := netip.ParseAddrPort(req.Source()); err == nil {
			v.Params.Add("received", src.Addr().String())
			v.Params.Add("rport", strconv.Itoa(int(src.Port())))
		}
	}
	in := req.Clone()
	p.route(in, req, tx)
}

func (p *Proxy) route(in, req *sip.Request, tx *endpoint.ServerTx) {
	cid := callID(req)
	if mf := req.MaxForwards(); mf != nil {
		if mf.Val() <= 1 {
			p.reply(in, tx, 483, "Too Many Hops")
			return
		}
		mf.Dec()
	} else {
		v := sip.MaxForwardsHeader(69)
		req.AppendHeader(&v)
	}

	// Loose routing (RFC 3261 §16.4): remove our own Route entry.
	if r := req.Route(); r != nil && p.isSelf(r.Address) {
		req.RemoveHeader("Route")
	}

	inDialog := req.To() != nil && req.To().Params.Has("tag")

	if req.Method == sip.REGISTER && p.cfg.Registrar && req.Route() == nil {
		p.register(req, tx)
		return
	}

	if req.IsInvite() && !inDialog && p.cfg.Reject != 0 {
		p.observe("rejected", cid, "INVITE %s answered %d without forwarding it (reject: %d)", req.Recipient.String(), p.cfg.Reject, p.cfg.Reject)
		p.reply(in, tx, p.cfg.Reject, reasonPhrase(p.cfg.Reject))
		return
	}

	var dst netip.AddrPort
	var err error
	switch {
	case req.Route() != nil:
		dst, err = endpoint.URIAddr(req.Route().Address)
	case p.isSelf(req.Recipient):
		switch {
		case inDialog:
			// An in-dialog request whose target is this proxy itself: there is
			// nothing to route it to (the Contact it followed was rewritten to
			// point here). Kamailio and OpenSIPS drop such an ACK too.
			if req.IsAck() {
				why := fmt.Sprintf("ACK's Request-URI %s names %s itself and no Route is left: nothing to forward it to", req.Recipient.String(), p.cfg.Name)
				p.observe("absorbed", cid, "%s", why)
				p.ep.Note(true, cid, CauseNothingToForward, why)
				return
			}
			p.observe("rejected", cid, "%s's Request-URI %s names %s itself: 404", req.Method, req.Recipient.String(), p.cfg.Name)
			p.reply(in, tx, 404, "Not Here")
			return
		case req.Method == sip.OPTIONS:
			p.reply(in, tx, 200, "OK")
			return
		case p.cfg.Registrar:
			b, ok := p.lookup(req.Recipient.User)
			if !ok {
				p.observe("rejected", cid, "%s not registered at %s: 404", req.Recipient.User, p.cfg.Name)
				p.reply(in, tx, 404, "Not Found")
				return
			}
			// lookup(): the Request-URI becomes the registered Contact, the
			// destination its received address (RFC 5626 §5.3 spirit; nathelper
			// fix_nated_register / registrar received).
			req.Recipient = *b.Contact.Clone()
			dst = b.Received
			if p.cfg.NoFixRegister {
				dst, err = endpoint.URIAddr(b.Contact)
			}
		case p.cfg.NextHop.IsValid():
			dst = p.cfg.NextHop
		default:
			p.reply(in, tx, 404, "Not Found")
			return
		}
	case !inDialog && p.cfg.NextHop.IsValid():
		dst = p.cfg.NextHop
	default:
		dst, err = endpoint.URIAddr(req.Recipient)
	}
	if err != nil {
		p.observe("rejected", cid, "cannot route %s: %v", req.Method, err)
		p.reply(in, tx, 416, "Unsupported URI Scheme")
		return
	}
	p.forward(in, req, tx, dst, inDialog)
}

func (p *Proxy) forward(in, req *sip.Request, tx *endpoint.ServerTx, dst netip.AddrPort, inDialog bool) {
	cid := callID(req)
	if req.IsInvite() && tx != nil {
		_ = tx.Respond(p.ep.NewResponse(in, 100, "Trying", nil)) // §16.2
	}
	if req.IsInvite() && !inDialog && !p.cfg.NoRecordRoute {
		rr := sip.Uri{Scheme: "sip", Host: p.self().Addr().String(), Port: int(p.self().Port()), UriParams: sip.NewParams()}
		rr.UriParams.Add("lr", "")
		req.PrependHeader(&sip.RecordRouteHeader{Address: rr})
	}
	inBranch, _ := req.Via().Params.Get("branch")
	via := p.ep.Via(endpoint.DerivedBranch(inBranch, p.ep.Addr()), false)
	via.Host, via.Port = p.self().Addr().String(), int(p.self().Port())
	req.PrependHeader(via)
	p.observe("forwarded", cid, "%s %s to %s", req.Method, req.Recipient.String(), dst)

	if req.IsAck() {
		_ = p.ep.Send(req, dst) // ACK for a 2xx: forwarded statelessly (RFC 3261 §16.11)
		return
	}
	var acc accepted
	pending := &incoming{req: in}
	_, err := p.ep.Request(req, dst, func(res *sip.Response) {
		if res == nil {
			if in := pending.take(); in != nil {
				p.reply(in, tx, 408, "Request Timeout")
			}
			return
		}
		if res.StatusCode >= 200 {
			pending.take() // a lingering INVITE transaction (Timer M) need not keep it
		}
		if isInvite2xx(res) && acc.late(p.ep.Clock().Now()) && p.relayLate(res) {
			return
		}
		p.relayResponse(res, tx)
	})
	if err != nil {
		p.reply(in, tx, 503, "Service Unavailable")
	}
}

// onStrayResponse forwards a response that matches no transaction, as a
// stateless proxy does (RFC 3261 §16.7 / §16.11).
func (p *Proxy) onStrayResponse(res *sip.Response, src netip.AddrPort) {
	if v := res.Via(); v == nil || (v.Host != p.ep.Addr().Addr().String() && v.Host != p.self().Addr().String()) {
		return
	}
	// A 2xx that matches no transaction comes after the transaction ended.
	if isInvite2xx(res) && p.relayLate(res) {
		return
	}
	p.relayResponse(res, nil)
}

// relayResponse runs the reply route: remove our Via, apply the Contact
// policy, send upstream towards the next Via.
func (p *Proxy) relayResponse(res *sip.Response, tx *endpoint.ServerTx) {
	if res.StatusCode == 100 {
		return // hop by hop (RFC 3261 §16.7 step 3)
	}
	src, _ := netip.ParseAddrPort(res.Source())
	res = res.Clone()
	res.RemoveHeader("Via")
	if res.Via() == nil {
		return
	}
	p.fixContact(res, src)
	if tx != nil {
		_ = tx.Respond(res)
		return
	}
	if dst, err := endpoint.ResponseTarget(res); err == nil {
		_ = p.ep.Send(res, dst)
	}
}

// fixContact is the reply route's NAT handling.
func (p *Proxy) fixContact(res *sip.Response, src netip.AddrPort) {
	c := res.Contact()
	if c == nil || !src.IsValid() {
		return
	}
	switch p.cfg.Handling {
	case HandlingExcessive:
	case HandlingCorrect:
		if !p.fromNATedUA(src) {
			return
		}
	default:
		return
	}
	before := c.Address.String()
	c.Address.Host = src.Addr().String()
	c.Address.Port = int(src.Port())
	if after := c.Address.String(); after != before {
		p.observe("contact-rewritten", callID(res), "%d %s Contact %s -> %s (source of the reply)", res.StatusCode, res.CSeq().MethodName, before, after)
	}
}

// fromNATedUA reports whether src is the received address of a UA this
// proxy registered from behind NAT.
func (p *Proxy) fromNATedUA(src netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.ep.Clock().Now()
	for _, b := range p.location {
		if b.Received == src && b.NATed() && now.Before(b.Expires) {
			return true
		}
	}
	return false
}

func (p *Proxy) lookup(user string) (Binding, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.location[user]
	if !ok || !p.ep.Clock().Now().Before(b.Expires) {
		return Binding{}, false
	}
	return b, true
}

// register is the registrar (RFC 3261 §10.3), storing the REGISTER's source
// address as where a NATed contact can really be reached.
func (p *Proxy) register(req *sip.Request, tx *endpoint.ServerTx) {
	src, err := netip.ParseAddrPort(req.Source())
	to := req.To()
	if err != nil || to == nil {
		p.reply(req, tx, 400, "Bad Request")
		return
	}
	expires := 3600 * time.Second
	if h := req.GetHeader("Expires"); h != nil {
		if s, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			expires = time.Duration(s) * time.Second
		}
	}
	c := req.Contact()
	if c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if s, err := strconv.Atoi(v); err == nil {
				expires = time.Duration(s) * time.Second
			}
		}
	}
	user := to.Address.User
	p.mu.Lock()
	switch {
	case c == nil:
	case expires == 0:
		delete(p.location, user)
	default:
		b := Binding{AOR: user, Contact: *c.Address.Clone(), Received: src, Expires: p.ep.Clock().Now().Add(expires)}
		p.location[user] = b
	}
	p.mu.Unlock()
	if c != nil {
		nat := ""
		if b, ok := p.lookup(user); ok && b.NATed() {
			nat = " (behind NAT: reached at the source address)"
			if p.cfg.NoFixRegister {
				nat = " (behind NAT, but stored as written: fix-register is off)"
			}
		}
		p.observe("registered", callID(req), "%s Contact %s received %s expires %s%s", user, c.Address.String(), src, expires, nat)
	}
	res := p.ep.NewResponse(req, 200, "OK", nil)
	if c != nil && expires > 0 {
		rc := c.Clone()
		rc.Params.Add("expires", strconv.Itoa(int(expires/time.Second)))
		if b, ok := p.lookup(user); ok && b.NATed() && !p.cfg.NoFixRegister {
			// Where the contact is reached, as Kamailio's and OpenSIPS's
			// registrars echo the received address they stored.
			rc.Params.Add("received", `"sip:`+src.String()+`"`)
		}
		res.AppendHeader(rc)
	}
	_ = tx.Respond(res)
}

// reasonPhrase is the reason phrase RFC 3261 §21 gives a status code, or a generic one.
func reasonPhrase(code int) string {
	switch code {
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 483:
		return "Too Many Hops"
	case 486:
		return "Busy Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Rejected"
}
