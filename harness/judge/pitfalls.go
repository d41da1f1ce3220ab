package judge

// This file holds the diagnoses of the NAT pitfalls beyond the Contact story
// (docs/lessons.md, part 5): a proxy behind NAT that Record-Routes its private
// address, a router's SIP ALG, a proxy that ignores the source port (no rport),
// and a registrar that stores the private Contact.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Classes of the pitfalls.
const (
	// ClassPrivateRoute: the ACK followed a Record-Route entry naming a proxy's
	// private address, which the sender cannot reach, or the 200 OK followed
	// such a proxy's Via to a port its NAT does not forward: a proxy behind NAT
	// that does not advertise its public address.
	ClassPrivateRoute Class = "private-route"
	// ClassSIPALG: a NAT's SIP ALG rewrote the 2xx on its way out (its Contact,
	// or its body without the Content-Length), and that lost the ACK.
	ClassSIPALG Class = "sip-alg"
	// ClassNoRport: a proxy answered a UA behind NAT at the port of its Via, not
	// the port the request came from, and the NAT dropped the reply: the UA sent
	// no rport and the proxy does not force it.
	ClassNoRport Class = "no-rport"
	// ClassRegistrationNotFixed: the callee's registrar sent the INVITE to the
	// private Contact the callee registered, not to the address its REGISTER
	// came from.
	ClassRegistrationNotFixed Class = "registration-not-fixed"
)

// privateRoute explains an ACK dropped at a private address its top Route named:
// the Record-Route of a proxy behind NAT.
func privateRoute(s *scenario.Scenario, f CallFacts, ack *trace.Datagram, hungUp string) (diagnosis, bool) {
	if ack.End() == nil || ack.End().Kind != sim.Dropped || ack.End().Cause != sim.CausePrivateUnreachable {
		return diagnosis{}, false
	}
	r := ack.Message().(*sip.Request).Route()
	if r == nil {
		return diagnosis{}, false
	}
	a, err := endpoint.URIAddr(r.Address)
	if err != nil || a != ack.Sent().Dst {
		return diagnosis{}, false
	}
	p, ok := s.HostByAddr(a.Addr())
	if !ok || p.Role != scenario.RoleProxy || p.NAT == "" {
		return diagnosis{}, false
	}
	d := advertiseFix(s, p)
	d.text = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: %s sent it to %s, the first Route, and it was dropped: %s%s. That Route is %s's Record-Route: %s sits behind %s and wrote its private address into the 200 OK, so every in-dialog request from outside follows a route nobody outside can reach: %s.",
		f.To, f.To, ack.Sender(), r.Address.String(), ack.End().Reason, hungUp, p.Name, p.Name, p.NAT, d.fix)
	return d, true
}

// privateVia explains a 2xx that died on its way back to a proxy behind a NAT's port
// forward: the proxy's Via names its private address, so the hop before it answered to
// the Via's port at the NAT, which forwards another port to the proxy.
func privateVia(s *scenario.Scenario, f CallFacts, dgs []*trace.Datagram, hungUp string) (diagnosis, bool) {
	for _, dg := range dgs {
		res, ok := trace.Invite2xx(dg.Message())
		if !ok || !dg.Dropped() {
			continue
		}
		via := res.Via()
		if via == nil {
			continue
		}
		va, err := netip.ParseAddr(via.Host)
		p, found := s.HostByAddr(va)
		if err != nil || !found || p.Role != scenario.RoleProxy || p.NAT == "" || p.Advertise.IsValid() {
			continue
		}
		// Without a forward there is no public address to advertise: an outbound
		// proxy behind NAT needs rport instead (lesson 13, ok-lost).
		if nat, _ := s.NAT(p.NAT); len(s.Forwarded(p.Name)) == 0 || nat.Outside != "" {
			continue
		}
		d := advertiseFix(s, p)
		d.text = fmt.Sprintf("%s's 200 OK never reached %s, so %s sent no ACK: %s sent it to %s and it was dropped at %s (%s)%s. That is where %s's Via led: %s sits behind %s and wrote its private address %s:%d into its Via, so the reply went to the port of that Via at the NAT instead of the port forwarded to %s: %s.",
			f.To, f.From, f.From, dg.Sender(), dg.Sent().Dst, dg.End().Hop, dg.End().Reason, hungUp, p.Name, p.Name, p.NAT, via.Host, via.Port, p.Name, d.fix)
		return d, true
	}
	return diagnosis{}, false
}

// advertiseFix is the diagnosis, but its text, of a proxy behind NAT that writes its
// private address about itself.
func advertiseFix(s *scenario.Scenario, p scenario.Host) diagnosis {
	nat, _ := s.NAT(p.NAT)
	public := nat.Public.String()
	if fw, ok := nat.Forward(p.Name); ok {
		public = netip.AddrPortFrom(nat.Public, fw.Port).String()
	}
	d := diagnosis{class: ClassPrivateRoute, blame: p.Name}
	d.fix = fmt.Sprintf("make %s advertise the public address %s that %s forwards to it (Kamailio: listen=udp:%s advertise %s; OpenSIPS: socket=udp:%s as %s), so its Record-Route and Via name an address outside hosts can reach",
		p.Name, public, nat.Name, p.Address, public, p.Address, public)
	return d
}

// algRewrote returns the first datagram of the callee's 2xx that a NAT's ALG
// rewrote, or nil.
func algRewrote(f CallFacts, dgs []*trace.Datagram) *trace.Datagram {
	for _, dg := range dgs {
		if _, ok := trace.Invite2xx(dg.Message()); ok && dg.Sender() == f.To && dg.ALG() != nil {
			return dg
		}
	}
	return nil
}

// sipALG explains a call whose 2xx a NAT's SIP ALG rewrote: into a message its
// receiver could not parse (the 2xx never reached the caller), or to a Contact
// that lost the ACK.
func sipALG(f CallFacts, dgs []*trace.Datagram, hungUp string) (diagnosis, bool) {
	dg := algRewrote(f, dgs)
	if dg == nil {
		return diagnosis{}, false
	}
	nat := dg.ALG().Hop
	d := diagnosis{class: ClassSIPALG, blame: nat}
	d.fix = fmt.Sprintf("turn off the SIP ALG (\"SIP helper\", \"SIP passthrough\") on %s and let the proxy next to %s fix the Contact (fix_nated_contact()) and store where it registered from (fix_nated_register())", nat, f.To)
	edits, stale := trace.ALGEdits(dg)
	var changed []string
	for _, e := range edits {
		name := e.Header
		if name == "" {
			name = "the SDP body"
		}
		if e.Header != "" {
			name = "the " + name + " header"
		}
		if !slices.Contains(changed, name) {
			changed = append(changed, name)
		}
	}
	what := "the payload"
	if len(changed) > 0 {
		what = strings.Join(changed, " and ")
	}
	if stale != "" {
		what += " (" + stale + ")"
	}
	unparsable := ""
	for _, n := range dg.Notes() {
		if n.Cause == endpoint.CauseDiscarded {
			unparsable = fmt.Sprintf(" %s could not parse what arrived (%s)", n.Hop, n.Reason)
		}
	}
	first := fmt.Sprintf("%s's SIP ALG rewrote %s's 200 OK on its way out: it changed %s.", nat, f.To, what)
	switch {
	case unparsable != "":
		first += unparsable + fmt.Sprintf(", so the 200 OK never reached %s and %s sent no ACK%s.", f.From, f.From, hungUp)
	case f.ACKAtCallee:
		return diagnosis{}, false
	default:
		first += fmt.Sprintf(" The ACK followed the rewritten Contact and never reached %s (lost at %s: %s)%s.", f.To, f.ACKLostAt, f.ACKFate, hungUp)
	}
	d.text = first + " A router's ALG rewrites SIP without knowing what the proxies do: " + d.fix + "."
	return d, true
}

// noRport explains a 2xx dropped at the NAT of a UA that sent no rport, because
// the proxy answered to the Via's port.
func noRport(s *scenario.Scenario, tr *trace.Trace, f CallFacts, dgs []*trace.Datagram, hungUp string) (diagnosis, bool) {
	for _, dg := range dgs {
		res, ok := trace.Invite2xx(dg.Message())
		if !ok || dg.End() == nil || dg.End().Kind != sim.Dropped {
			continue
		}
		via := res.Via()
		if via == nil || via.Params.Has("rport") {
			continue
		}
		if _, isNAT := s.NAT(dg.End().Hop); !isNAT {
			continue
		}
		va, _ := netip.ParseAddr(via.Host)
		ua, ok := s.HostByAddr(va)
		sender, _ := s.Host(dg.Sender())
		if !ok || ua.Role != scenario.RoleUA || sender.Role != scenario.RoleProxy {
			continue
		}
		d := diagnosis{class: ClassNoRport, blame: sender.Name}
		d.fix = fmt.Sprintf("call force_rport() on %s (at the top of its request route) so it answers every request to the address and port it came from (RFC 3581), or make %s put rport in its Via", sender.Name, ua.Name)
		regs := ""
		if n := droppedRegisterReplies(tr, sender.Name, dg.Sent().Dst); n > 0 {
			regs = fmt.Sprintf(" The replies to %s's REGISTERs died the same way (%d of them), so %s never learnt it was registered and kept registering again.", ua.Name, n, ua.Name)
		}
		d.text = fmt.Sprintf("%s's 200 OK never reached %s, so %s sent no ACK: %s sent it to %s and it was dropped at %s (%s)%s. %s's Via %s:%d carries no rport and %s does not force it, so %s answered to port %d, the port %s wrote, not the port %s mapped its request to.%s Fix: %s.",
			f.To, f.From, f.From, sender.Name, dg.Sent().Dst, dg.End().Hop, dg.End().Reason, hungUp,
			ua.Name, via.Host, via.Port, sender.Name, sender.Name, dg.Sent().Dst.Port(), ua.Name, dg.End().Hop, regs, d.fix)
		return d, true
	}
	return diagnosis{}, false
}

// droppedRegisterReplies counts the responses to REGISTER that proxy sent to dst and
// that were dropped on the way.
func droppedRegisterReplies(tr *trace.Trace, proxy string, dst netip.AddrPort) int {
	n := 0
	for d := range tr.Datagrams() {
		res, ok := d.Message().(*sip.Response)
		if ok && res.CSeq() != nil && res.CSeq().MethodName == sip.REGISTER && d.Sender() == proxy && d.Sent().Dst == dst && d.Dropped() {
			n++
		}
	}
	return n
}

// finalToCaller says which final response to the INVITE reached the caller, or that none did.
func finalToCaller(f CallFacts, dgs []*trace.Datagram) string {
	for _, d := range dgs {
		res, ok := d.Message().(*sip.Response)
		if ok && res.StatusCode >= 300 && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE && d.Delivered() && d.End().Hop == f.From {
			return fmt.Sprintf("%s got %d %s", f.From, res.StatusCode, res.Reason)
		}
	}
	return fmt.Sprintf("%s got no final response", f.From)
}

// registrationNotFixed explains an INVITE the callee's registrar sent to the
// private Contact the callee registered, which it cannot reach.
func registrationNotFixed(s *scenario.Scenario, tr *trace.Trace, f CallFacts, dgs []*trace.Datagram) (diagnosis, bool) {
	callee, _ := s.Host(f.To)
	for _, dg := range dgs {
		if !trace.IsRequest(dg.Message(), sip.INVITE) || dg.End() == nil || dg.End().Kind != sim.Dropped || dg.End().Cause != sim.CausePrivateUnreachable {
			continue
		}
		if callee.RegisterWith == "" || dg.Sender() != callee.RegisterWith {
			continue
		}
		ruri, err := endpoint.URIAddr(dg.Message().(*sip.Request).Recipient)
		if err != nil || ruri != dg.Sent().Dst {
			continue
		}
		d := registrationFix(f, callee)
		d.text = fmt.Sprintf("%s never answered: %s, %s's registrar, sent the INVITE to the Contact %s that %s registered, a private address behind %s, and it was dropped: %s. %s stored the Contact as written instead of the address the REGISTER came from, and %s: %s.",
			f.To, d.blame, f.To, dg.Sent().Dst, f.To, callee.NAT, dg.End().Reason, d.blame, finalToCaller(f, dgs), d.fix)
		return d, true
	}
	// A real registrar's INVITE to a private address never enters the capture (it
	// has no route to it): the REGISTER exchange tells the same story.
	if c, ok := unfixedRegistration(s, tr, callee); ok {
		d := registrationFix(f, callee)
		d.text = fmt.Sprintf("%s never answered, and no INVITE reached it: %s registered the Contact %s from behind %s, and %s's 200 OK names that Contact with no received address, so %s stored the private Contact as written and sends requests for %s where nobody outside can reach; %s: %s.",
			f.To, f.To, c, callee.NAT, d.blame, d.blame, f.To, finalToCaller(f, dgs), d.fix)
		return d, true
	}
	return diagnosis{}, false
}

func registrationFix(f CallFacts, callee scenario.Host) diagnosis {
	reg := callee.RegisterWith
	d := diagnosis{class: ClassRegistrationNotFixed, blame: reg}
	d.fix = fmt.Sprintf("make %s store where %s's REGISTER came from: fix_nated_register() before save(\"location\") (or the registrar's received parameter), so requests for %s go to its NAT mapping", reg, f.To, f.To)
	return d
}

// unfixedRegistration finds, before any INVITE reached callee, the last 2xx
// its registrar gave to a REGISTER callee sent from behind NAT with a private
// Contact, and reports that Contact when the 2xx echoes it without a received
// parameter: the registrar stored it as written.
func unfixedRegistration(s *scenario.Scenario, tr *trace.Trace, callee scenario.Host) (string, bool) {
	if callee.NAT == "" || callee.RegisterWith == "" {
		return "", false
	}
	contact, found := "", false
	for d := range tr.Datagrams() {
		if trace.IsRequest(d.Message(), sip.INVITE) && d.Delivered() && d.End().Hop == callee.Name {
			return "", false
		}
		res, ok := d.Message().(*sip.Response)
		if !ok || !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.REGISTER || d.Sender() != callee.RegisterWith || !d.Delivered() || d.End().Hop != callee.Name {
			continue
		}
		for _, h := range res.GetHeaders("Contact") {
			c, ok := h.(*sip.ContactHeader)
			if !ok || c.Address.User != callee.Name {
				continue
			}
			a, err := netip.ParseAddr(c.Address.Host)
			if err != nil || !sim.IsPrivate(a) {
				continue
			}
			contact, found = c.Address.String(), !c.Params.Has("received")
		}
	}
	return contact, found
}
