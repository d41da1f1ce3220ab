package judge

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// Class names what became of a call's ACK, the first of the three
// troubleshooting steps of docs/lessons.md: the ACK arrived, or where and why it
// went no further. It is the "diagnosis_class" of the JSON verdict.
type Class string

// Diagnosis classes. Each has its own sentence in the diagnosis and its own fix.
const (
	// ClassACKArrived: the ACK for the 2xx reached the callee; nothing to fix.
	ClassACKArrived Class = "ack-arrived"
	// ClassPrivateContact: the ACK was sent to a private address (the callee's
	// own Contact) from outside its LAN and dropped: nobody fixed the Contact.
	ClassPrivateContact Class = "private-contact"
	// ClassContactNamesProxy: the ACK's Request-URI named the proxy that received
	// it and no Route was left, so it had nowhere to go: a proxy rewrote a
	// relayed reply's Contact to the address of the proxy that relayed it.
	ClassContactNamesProxy Class = "contact-names-proxy"
	// ClassFilteredByNAT: the ACK reached the callee's NAT from a peer the
	// callee never sent to, and the NAT's filtering dropped it (RFC 4787 §5):
	// no proxy next to the callee Record-Routes.
	ClassFilteredByNAT Class = "filtered-by-nat"
	// ClassNoHairpin: the ACK was sent from inside a NAT to that NAT's own
	// public address and the NAT does not hairpin (RFC 4787 §6).
	ClassNoHairpin Class = "no-hairpin"
	// ClassBindingExpired: the NAT binding that led to the callee had expired
	// (or no longer existed) when the INVITE or the ACK arrived: no keep-alives.
	ClassBindingExpired Class = "binding-expired"
	// ClassOKLost: the callee answered but its 2xx never reached the caller, so
	// no ACK was ever sent.
	ClassOKLost Class = "ok-lost"
	// ClassNotAnswered: the callee never sent a 2xx, for no reason the capture
	// shows (no drop of the INVITE).
	ClassNotAnswered Class = "not-answered"
	// ClassNotForwarded: a proxy ended the call with a final response of its own
	// (404, 408, 483 ...) without sending the INVITE anywhere it could arrive.
	ClassNotForwarded Class = "not-forwarded"
	// ClassACKLost: the ACK was lost for a reason none of the classes above
	// covers (an address nobody owns, a closed port, a full receive queue).
	ClassACKLost Class = "ack-lost"
)

// hopOf returns the Contact of the 2xx at host, if the reply passed there.
func hopOf(f CallFacts, host string) (HopContact, int) {
	for i, h := range f.Hops {
		if h.Host == host {
			return h, i
		}
	}
	return HopContact{}, -1
}

// causeClass sorts the cause of a drop into a class.
func causeClass(c sim.Cause) Class {
	switch c {
	case sim.CausePrivateUnreachable:
		return ClassPrivateContact
	case sim.CauseFiltered:
		return ClassFilteredByNAT
	case sim.CauseNoHairpin:
		return ClassNoHairpin
	case sim.CauseBindingExpired, sim.CauseNoBinding:
		return ClassBindingExpired
	}
	return ClassACKLost
}

// diagnosis is the outcome of the three troubleshooting steps for one call.
type diagnosis struct {
	class Class
	text  string // one or two sentences a person can act on
	fix   string // the change that makes the ACK arrive; "" when none is needed
	blame string // the hop to blame when it is not the Contact's (pitfalls.go); "" otherwise
}

// diagnose follows the three troubleshooting steps of docs/lessons.md on the
// capture of one call: (1) did the ACK for the 2xx reach the callee, and if
// not where and why did it stop; (2) on which hop did the 200 OK's Contact
// stop leading to the callee (f.Blame); (3) what in that hop's handling did
// it, and the fix in OpenSIPS/Kamailio terms.
func diagnose(s *scenario.Scenario, tr *trace.Trace, f CallFacts) diagnosis {
	var dgs []*trace.Datagram // the call's datagrams whose sending the capture holds
	for _, d := range tr.Call(f.CallID) {
		if d.SentIndex() >= 0 {
			dgs = append(dgs, d)
		}
	}
	calleeHost, _ := s.Host(f.To)
	switch {
	case !f.Answered:
		if d, ok := registrationNotFixed(s, tr, f, dgs); ok {
			return d
		}
		return diagnoseUnanswered(s, f, dgs)
	case f.ACKAtCallee:
		late := ""
		if f.OKRetransmissions > 0 {
			late = fmt.Sprintf(", after %d retransmissions of the 200 OK", f.OKRetransmissions)
		}
		text := fmt.Sprintf("The ACK reached %s %s after its first 200 OK%s: the Contact %s that %s saw leads to %s, and the call stayed up.",
			f.To, msText(f.ACKDelay), late, f.ContactAtCaller, f.From, f.To)
		if bye := calleeBYEDropped(f, dgs); bye != nil {
			// The other direction: the caller's Contact, which nobody checks
			// on the ACK's way, is the Request-URI of the callee's BYE.
			fix := fmt.Sprintf("%s's Contact must lead to %s too", f.From, f.From)
			switch causeClass(bye.End().Cause) {
			case ClassPrivateContact:
				fix = fmt.Sprintf("fix %s's Contact in the request route too (fix_nated_contact() after nat_uac_test())", f.From)
			case ClassFilteredByNAT, ClassNoHairpin:
				fix = fmt.Sprintf("make the proxy next to %s Record-Route", f.From)
			}
			text = fmt.Sprintf("The ACK reached %s %s after its first 200 OK%s: the Contact %s that %s saw leads to %s. But when %s hung up, its BYE to %s's Contact %s was dropped at %s, %s, so %s never heard of it: %s.",
				f.To, msText(f.ACKDelay), late, f.ContactAtCaller, f.From, f.To,
				f.To, f.From, bye.Message().(*sip.Request).Recipient.String(), bye.End().Hop, bye.End().Reason, f.From, fix)
		}
		return diagnosis{class: ClassACKArrived, text: text}
	}

	hungUp := ""
	if f.CalleeBYE {
		hungUp = fmt.Sprintf("; %s retransmitted the 200 OK %d times and hung up with BYE after %.1f s", f.To, f.OKRetransmissions, f.CalleeBYEAfter.Seconds())
	}

	// Step 1: where the ACK stopped, and why.
	// The ACK for the callee's 2xx (its To tag), not one for a proxy's 408.
	tag := ""
	for i := range dgs {
		if ok, isOK := trace.Invite2xx(dgs[i].Message()); isOK && dgs[i].Sender() == f.To {
			tag = trace.ToTag(ok)
			break
		}
	}
	var ack *trace.Datagram
	for i := range dgs {
		if trace.IsRequest(dgs[i].Message(), sip.ACK) && trace.ToTag(dgs[i].Message()) == tag {
			ack = dgs[i]
		}
	}
	if d, ok := sipALG(f, dgs, hungUp); ok {
		return d
	}
	if ack == nil {
		if d, ok := privateVia(s, f, dgs, hungUp); ok {
			return d
		}
		if d, ok := noRport(s, tr, f, dgs, hungUp); ok {
			return d
		}
		return diagnoseOKLost(s, f, dgs, hungUp)
	}
	if d, ok := privateRoute(s, f, ack, hungUp); ok {
		return d
	}
	ruri := ack.Message().(*sip.Request).Recipient.String()
	ackEnd := ack.End() // nil when the capture holds no end for it
	absorbed := false
	for _, n := range tr.Notes(f.CallID) {
		if n.Hop == f.ACKLostAt && n.Cause == proxy.CauseNothingToForward {
			absorbed = true
		}
	}
	// A proxy that notes nothing (a real one in a container) absorbed the ACK
	// just as well when the capture shows it delivered there with nowhere to go.
	if h, ok := s.Host(f.ACKLostAt); ok && h.Role == scenario.RoleProxy && ack.Delivered() && ackEnd.Hop == h.Name {
		absorbed = absorbed || NothingToForward(ack.Message().(*sip.Request), h.Address)
	}
	class := ClassACKLost
	reason := f.ACKFate
	if ackEnd != nil && ackEnd.Kind == sim.Dropped {
		class, reason = causeClass(ackEnd.Cause), ackEnd.Reason
	}
	if absorbed {
		class = ClassContactNamesProxy
	}
	d := diagnosis{class: class}
	var first string
	switch class {
	case ClassPrivateContact:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: %s sent it to the private Contact %s and it was dropped: %s%s.",
			f.To, f.To, ack.Sender(), ruri, reason, hungUp)
	case ClassContactNamesProxy:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: its Request-URI %s names %s itself and no Route was left, so %s had nowhere to forward it%s.",
			f.To, f.To, ruri, f.ACKLostAt, f.ACKLostAt, hungUp)
	case ClassFilteredByNAT:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: %s sent it straight to %s's NAT mapping %s and it was dropped, %s%s.",
			f.To, f.To, ack.Sender(), f.To, ruri, reason, hungUp)
	case ClassNoHairpin:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: %s, inside %s's LAN, sent it to the public mapping %s of its own NAT, and %s does not hairpin%s.",
			f.To, f.To, ack.Sender(), ackEnd.Hop, ruri, ackEnd.Hop, hungUp)
	case ClassBindingExpired:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: %s sent it to %s but %s no longer had the binding (%s)%s.",
			f.To, f.To, ack.Sender(), ruri, ackEnd.Hop, reason, hungUp)
	default:
		first = fmt.Sprintf("The ACK for %s's 200 OK never reached %s: it was lost at %s (%s)%s.",
			f.To, f.To, f.ACKLostAt, strings.TrimPrefix(reason, "dropped: "), hungUp)
	}

	// Steps 2 and 3: the first hop whose Contact stopped leading to the
	// callee, what it did, and the fix.
	var second string
	hop, at := hopOf(f, f.Blame)
	switch {
	case class == ClassFilteredByNAT:
		rr := recordRouter(s, calleeHost)
		d.fix = fmt.Sprintf("make %s Record-Route (record_route()) so the ACK and every in-dialog request reach %s through the peer its NAT binding was opened to", rr, f.To)
		second = fmt.Sprintf("The Contact %s is %s's public mapping, but %s only lets in peers %s has sent to: %s.", ruri, f.To, ackEnd.Hop, f.To, d.fix)
	case class == ClassNoHairpin:
		rr := recordRouter(s, calleeHost)
		d.fix = fmt.Sprintf("make %s Record-Route (record_route()) so the ACK goes through it, or enable hairpinning on %s (RFC 4787 REQ-9)", rr, ackEnd.Hop)
		second = fmt.Sprintf("%s's public Contact %s is right from outside but leads nowhere from inside %s: %s.", f.To, ruri, ackEnd.Hop, d.fix)
	case class == ClassBindingExpired:
		d.fix = keepAliveFix(f.To, ackEnd.Hop)
		second = fmt.Sprintf("Nothing kept %s's NAT binding open: %s.", f.To, d.fix)
	case at < 0:
		d.fix = "look at the ACK's route (Record-Route) and at NAT filtering on the way"
		second = "Every hop passed on a Contact that leads to the callee, so " + d.fix + "."
	case hop.In == hop.Out:
		d.fix = fmt.Sprintf("in %s's reply route, call fix_nated_contact() for replies that come straight from a NATed end-point (the reply's source is the UA's own, as registered; nat_uac_test() alone is also true for a reply another proxy relayed)", f.Blame)
		if at == 1 && calleeHost.NAT != "" {
			second = fmt.Sprintf("%s, the proxy next to the NATed %s, relayed its Contact %s unchanged: %s.", f.Blame, f.To, hop.Out, d.fix)
		} else {
			second = fmt.Sprintf("%s relayed the 200 OK with the Contact %s unchanged (it %s): %s.", f.Blame, hop.Out, hop.Resolves, d.fix)
		}
	case at > 1:
		d.fix = fmt.Sprintf("on %s, apply fix_nated_contact() only to replies straight from a NATed end-point, never to replies relayed by another proxy", f.Blame)
		second = fmt.Sprintf("%s rewrote the Contact of the 200 OK relayed by %s from %s to %s, the reply's source, which %s: %s.", f.Blame, f.Hops[at-1].Host, hop.In, hop.Out, hop.Resolves, d.fix)
	default:
		d.fix = fmt.Sprintf("make %s rewrite the Contact to the address and port the reply came from (fix_nated_contact())", f.Blame)
		second = fmt.Sprintf("%s rewrote the Contact from %s to %s, which %s: %s.", f.Blame, hop.In, hop.Out, hop.Resolves, d.fix)
	}
	// A later proxy that rewrote a relayed reply breaks the Contact again
	// once the first fix is made: name it too.
	if at >= 0 && class != ClassFilteredByNAT && class != ClassNoHairpin {
		for _, h := range f.Hops[at+1:] {
			if h.In != h.Out && h.In != "" {
				second = strings.TrimSuffix(second, ".") + fmt.Sprintf("; %s then rewrote the relayed Contact again, to %s: fix Contacts only of replies straight from a NATed end-point.", h.Host, h.Out)
				d.fix += fmt.Sprintf("; and on %s, apply fix_nated_contact() only to replies straight from a NATed end-point", h.Host)
				break
			}
		}
	}
	d.text = first + " " + second
	return d
}

// calleeBYEDropped returns the first datagram of a BYE the callee sent in the
// dialog (hanging up itself, not for want of an ACK) that was dropped on its
// way to the caller; nil when there is none.
func calleeBYEDropped(f CallFacts, dgs []*trace.Datagram) *trace.Datagram {
	sent := false
	for i := range dgs {
		if !trace.IsRequest(dgs[i].Message(), sip.BYE) {
			continue
		}
		if dgs[i].Sender() == f.To {
			sent = true
		}
		if sent && dgs[i].End() != nil && dgs[i].End().Kind == sim.Dropped {
			return dgs[i]
		}
	}
	return nil
}

// recordRouter names the proxy that should Record-Route for a NATed callee:
// the one its NAT binding was opened to (its registrar).
func recordRouter(s *scenario.Scenario, callee scenario.Host) string {
	if callee.RegisterWith != "" {
		return callee.RegisterWith
	}
	return "the proxy next to " + callee.Name
}

func keepAliveFix(callee, nat string) string {
	return fmt.Sprintf("send keep-alives more often than %s's binding timeout (nathelper NAT pinging with natping_interval on the address fix_nated_register() stored, or RFC 5626 CRLF keep-alives from %s), or make %s re-register more often", nat, callee, callee)
}

// diagnoseUnanswered explains a call whose callee never sent a 2xx: the final
// response that ended it and its author, and where the INVITE was lost when the
// capture shows it.
func diagnoseUnanswered(s *scenario.Scenario, f CallFacts, dgs []*trace.Datagram) diagnosis {
	fr := finalResponse(dgs, f)
	if f.Blame != "" {
		if d, ok := diagnoseFinal(dgs, f, fr, f.Blame); ok {
			return d
		}
	}
	for _, dg := range dgs {
		if !trace.IsRequest(dg.Message(), sip.INVITE) || dg.End() == nil || dg.End().Kind != sim.Dropped {
			continue
		}
		class := causeClass(dg.End().Cause)
		d := diagnosis{class: class}
		ended := ""
		if fr != nil && fr.from != "" {
			ended = "; " + fr.answered(f)
		}
		first := fmt.Sprintf("%s never answered, so there was no 200 OK to acknowledge: %s sent the INVITE to %s and it was dropped at %s: %s%s.",
			f.To, dg.Sender(), dg.Sent().Dst, dg.End().Hop, dg.End().Reason, ended)
		switch class {
		case ClassBindingExpired:
			d.fix = keepAliveFix(f.To, dg.End().Hop)
			d.text = first + fmt.Sprintf(" Nothing kept %s's NAT binding open after it registered: %s.", f.To, d.fix)
		default:
			d.class = ClassNotAnswered
			d.fix = fmt.Sprintf("make the INVITE reach %s: check %s's location table and the route to it", f.To, dg.Sender())
			d.text = first + " " + strings.ToUpper(d.fix[:1]) + d.fix[1:] + "."
		}
		return d
	}
	if d, ok := diagnoseFinal(dgs, f, fr, ""); ok {
		return d
	}
	d := diagnosis{class: ClassNotAnswered, fix: fmt.Sprintf("check that the INVITE reached %s", f.To)}
	d.text = fmt.Sprintf("%s never answered the call, so there was no 2xx to acknowledge: %s.", f.To, d.fix)
	return d
}

// diagnoseOKLost explains a call answered by the callee whose 2xx never
// reached the caller, so that no ACK was sent.
func diagnoseOKLost(s *scenario.Scenario, f CallFacts, dgs []*trace.Datagram, hungUp string) diagnosis {
	d := diagnosis{class: ClassOKLost}
	for _, dg := range dgs {
		res, ok := trace.Invite2xx(dg.Message())
		if !ok || dg.End() == nil || dg.End().Kind != sim.Dropped {
			continue
		}
		first := fmt.Sprintf("%s's 200 OK never reached %s, so %s sent no ACK: %s sent it to %s and it was dropped at %s (%s)%s.",
			f.To, f.From, f.From, dg.Sender(), dg.Sent().Dst, dg.End().Hop, dg.End().Reason, hungUp)
		via := res.Via()
		if via != nil && !via.Params.Has("rport") {
			if _, isNAT := s.NAT(dg.End().Hop); isNAT {
				d.fix = fmt.Sprintf("call force_rport() on %s so it answers to the source address and port of the request (RFC 3581), or have the element behind %s add rport to its Via", dg.Sender(), dg.End().Hop)
				return diagnosis{class: ClassOKLost, fix: d.fix, text: first + fmt.Sprintf(
					" The Via %s:%d carries no rport, so %s replied to port %d of %s instead of the port the request came from: %s.",
					via.Host, via.Port, dg.Sender(), dg.Sent().Dst.Port(), dg.End().Hop, d.fix)}
			}
		}
		d.fix = fmt.Sprintf("make %s's replies reach %s (the Via path of the INVITE back through every NAT)", f.To, f.From)
		d.text = first + " The reply follows the Vias of the INVITE back: " + d.fix + "."
		return d
	}
	d.fix = fmt.Sprintf("find where %s's 200 OK stopped on its way back to %s", f.To, f.From)
	d.text = fmt.Sprintf("%s's 200 OK never reached %s, so %s sent no ACK%s: %s.", f.To, f.From, f.From, hungUp, d.fix)
	return d
}

func msText(d *time.Duration) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// NothingToForward reports whether the request req, received by the proxy at self,
// has no next hop: its Request-URI names self and every Route does too, so none is
// left once the proxy removed its own (RFC 3261 §16.4). An ACK for a 2xx in that
// state is absorbed: ClassContactNamesProxy.
func NothingToForward(req *sip.Request, self netip.AddrPort) bool {
	if u, err := endpoint.URIAddr(req.Recipient); err != nil || u != self {
		return false
	}
	for _, h := range req.GetHeaders("Route") {
		r, ok := h.(*sip.RouteHeader)
		if !ok {
			return false
		}
		if u, err := endpoint.URIAddr(r.Address); err != nil || u != self {
			return false
		}
	}
	return true
}
