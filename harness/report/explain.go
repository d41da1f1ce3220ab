package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// wave is the first journey of a message through the network: the datagrams of a
// call that match, from the first one origin sent up to (not including) origin's
// next one.
func wave(tr *trace.Trace, callID, origin string, match func(sip.Message) bool) []*trace.Datagram {
	var out []*trace.Datagram
	for _, d := range tr.Call(callID) {
		if d.SentIndex() < 0 || !match(d.Message()) {
			continue
		}
		if d.Sender() == origin && len(out) > 0 {
			break
		}
		if len(out) == 0 && d.Sender() != origin {
			continue
		}
		out = append(out, d)
	}
	return out
}

// isMethod matches the requests with the method, for wave.
func isMethod(method sip.RequestMethod) func(sip.Message) bool {
	return func(m sip.Message) bool { return trace.IsRequest(m, method) }
}

// is2xxForInvite matches the 2xx responses to INVITE, for wave.
func is2xxForInvite(m sip.Message) bool {
	_, ok := trace.Invite2xx(m)
	return ok
}

func headerValues(m sip.Message, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

// splitACKs splits the ACKs of a call's first ACK wave from origin into those for a
// 2xx and those for an error response: an ACK for a non-2xx final response carries the
// INVITE's Via branch (RFC 3261 §17.1.1.3), the ACK for a 2xx a new one (§13.2.2.4).
func splitACKs(tr *trace.Trace, callID, origin string) (for2xx, forError []*trace.Datagram) {
	branches := map[string]bool{}
	for _, d := range tr.Call(callID) {
		if d.SentIndex() >= 0 && trace.IsRequest(d.Message(), sip.INVITE) {
			if v := d.Message().Via(); v != nil {
				branches[d.Sender()+" "+v.Params.GetOr("branch", "")] = true
			}
		}
	}
	for _, d := range wave(tr, callID, origin, isMethod(sip.ACK)) {
		if v := d.Message().Via(); v != nil && branches[d.Sender()+" "+v.Params.GetOr("branch", "")] {
			forError = append(forError, d)
			continue
		}
		for2xx = append(for2xx, d)
	}
	return for2xx, forError
}

// errorAnswered names the final response an ACK for an error acknowledges: the last
// one of 300 or more delivered to its sender before it ("408 Request Timeout").
func errorAnswered(tr *trace.Trace, callID string, ack *trace.Datagram) string {
	name := "error response"
	for _, d := range tr.Call(callID) {
		if d == ack {
			break
		}
		if r, ok := d.Message().(*sip.Response); ok && r.StatusCode >= 300 && d.Delivered() && d.End().Hop == ack.Sender() {
			name = fmt.Sprintf("%d %s", r.StatusCode, r.Reason)
		}
	}
	return name
}

// fate says in plain words where a datagram ended.
func fate(d *trace.Datagram) string {
	switch {
	case d.End() == nil:
		return "it was never delivered"
	case d.Delivered():
		return "delivered to " + d.End().Hop
	default:
		return fmt.Sprintf("DROPPED at %s: %s", d.End().Hop, d.End().Reason)
	}
}

// writeXlat tells d's NAT translations, each on a line of its own, and what a NAT's
// SIP ALG rewrote in the payload, line by line, before and after.
func writeXlat(w io.Writer, d *trace.Datagram) {
	alg := d.ALG()
	for _, x := range d.Xlat() {
		fmt.Fprintf(w, "           %s translates %s -> %s into %s -> %s\n", x.Hop, x.Src, x.Dst, x.XSrc(), x.XDst())
		if alg != nil && x.Seq == alg.Seq {
			edits, stale := trace.ALGEdits(d)
			fmt.Fprintf(w, "           %s's SIP ALG REWROTE the payload:\n", x.Hop)
			for _, e := range edits {
				fmt.Fprintf(w, "             before: %s\n             after:  %s\n", e.Before, e.After)
			}
			if stale != "" {
				fmt.Fprintf(w, "             %s\n", stale)
			}
		}
	}
}

// WriteExplain writes a step-by-step narrative of one run for learners: the
// topology, then for the first call the INVITE's path, the 200 OK's Contact
// at every hop, the ACK's Request-URI and Route at every hop and where it
// stopped, the callee's reaction, the scenario's lesson and the fix. Every
// header value is quoted exactly as the capture holds it.
func WriteExplain(w io.Writer, s *scenario.Scenario, res *harness.Result) {
	fmt.Fprintf(w, "Scenario %s  (%s)\n", s.Name, s.File)
	if s.Summary != "" {
		fmt.Fprintf(w, "%s\n", s.Summary)
	}
	fmt.Fprintln(w)
	writeTopology(w, s)
	if res == nil || len(res.Calls) == 0 {
		fmt.Fprintln(w, "No call was placed, so there is nothing to follow.")
		if res != nil {
			writeUnmetExpectations(w, res)
		}
		return
	}
	c := res.Calls[0]
	if len(res.Calls) > 1 {
		fmt.Fprintf(w, "The run placed %d calls; this follows the first one.\n\n", len(res.Calls))
	}
	tr := res.Trace
	if tr == nil {
		tr = trace.New(res.Capture)
	}
	t0 := res.Start
	at := func(r *sim.Record) string { return fmt.Sprintf("%.3f s", r.Time.Sub(t0).Seconds()) }
	step := 0
	next := func(title string) {
		step++
		fmt.Fprintf(w, "Step %d. %s\n", step, title)
	}

	invites := wave(tr, c.CallID, c.From, isMethod(sip.INVITE))
	if len(invites) > 0 {
		writeBeforeCall(w, s, tr, invites[0], c.To, at)
	}

	next(fmt.Sprintf("%s calls %s: the INVITE", c.From, c.To))
	for _, h := range invites {
		r := h.Message().(*sip.Request)
		fmt.Fprintf(w, "  %s  %s sends INVITE %s to %s: %s\n", at(h.Sent()), h.Sender(), r.Recipient.String(), h.Sent().Dst, fate(h))
		writeXlat(w, h)
	}
	if !c.Answered {
		fmt.Fprintf(w, "  %s never answered.\n", c.To)
		if c.FinalResponse != "" {
			fmt.Fprintf(w, "  %s received %s, sent by %s.\n", c.From, c.FinalResponse, orNone(c.FinalFrom))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "  Each proxy that Record-Routes adds its own address to the INVITE, so that the ACK and\n  later requests of the call come back through it.\n\n")
	}

	if c.Answered {
		next(fmt.Sprintf("%s answers with 200 OK: its Contact at every hop", c.To))
		fmt.Fprintf(w, "  The Contact of the 200 OK is where %s will send the ACK; it must lead to %s on every hop.\n", c.From, c.To)
		for _, h := range wave(tr, c.CallID, c.To, is2xxForInvite) {
			contact := trace.Contact(h.Message())
			if contact == "" {
				contact = "(none)"
			}
			fmt.Fprintf(w, "  %s  %s sends 200 OK to %s with Contact: %s\n", at(h.Sent()), h.Sender(), h.Sent().Dst, contact)
			for _, hc := range c.Hops {
				if hc.Host != h.Sender() {
					continue
				}
				if hc.In != "" && hc.In != hc.Out {
					fmt.Fprintf(w, "           %s REWROTE the Contact: it received %s\n", hc.Host, hc.In)
				}
				verdict := "it " + hc.Resolves
				if hc.Leads {
					verdict = "it leads to " + c.To + ", good"
				}
				fmt.Fprintf(w, "           seen from where the ACK will be sent, %s\n", verdict)
			}
			writeXlat(w, h)
			if h.Dropped() {
				fmt.Fprintf(w, "           %s\n", fate(h))
			}
			if h.End() != nil && h.End().Hop == c.From {
				if rr := headerValues(h.Message(), "Record-Route"); len(rr) > 0 {
					fmt.Fprintf(w, "           with Record-Route: %s\n", strings.Join(rr, ", "))
				}
			}
		}
		switch {
		case c.Blame != "" && contactBlamed(c):
			fmt.Fprintf(w, "  The first hop whose Contact no longer leads to %s: %s.\n\n", c.To, c.Blame)
		case c.Blame != "":
			fmt.Fprintf(w, "  What went wrong is not a Contact a proxy sent on: the hop to blame is %s (see the verdict).\n\n", c.Blame)
		default:
			fmt.Fprintf(w, "  Every hop passed on a Contact that leads to %s.\n\n", c.To)
		}

		next(fmt.Sprintf("%s acknowledges: the ACK", c.From))
		// The ACK for a 2xx is a transaction of its own; an ACK for an error response
		// (a 408 after the INVITE timed out) belongs to the INVITE's and goes one hop.
		acks, errorACKs := splitACKs(tr, c.CallID, c.From)
		if len(acks) == 0 {
			fmt.Fprintf(w, "  %s never received the 200 OK, so it never sent an ACK for it.\n", c.From)
			for _, h := range errorACKs {
				fmt.Fprintf(w, "  %s  %s sends ACK to %s for the %s it received: an ACK for an error response\n           belongs to the INVITE's transaction and goes one hop, never to %s.\n",
					at(h.Sent()), h.Sender(), h.Sent().Dst, errorAnswered(tr, c.CallID, h), c.To)
			}
		} else {
			fmt.Fprintf(w, "  The ACK for a 200 OK is a new request: its Request-URI is the Contact %s received, its\n  Route set the Record-Route headers in reverse.\n", c.From)
		}
		for _, h := range acks {
			r := h.Message().(*sip.Request)
			route := headerValues(r, "Route")
			rs := "no Route"
			if len(route) > 0 {
				rs = "Route: " + strings.Join(route, ", ")
			}
			fmt.Fprintf(w, "  %s  %s sends ACK %s (%s) to %s: %s\n", at(h.Sent()), h.Sender(), r.Recipient.String(), rs, h.Sent().Dst, fate(h))
			writeXlat(w, h)
		}
		for _, n := range tr.Notes(c.CallID) {
			if n.Cause == proxy.CauseNothingToForward && n.Hop == c.ACKLostAt {
				fmt.Fprintf(w, "  %s  %s: %s\n", at(&n), n.Hop, n.Reason)
				break
			}
		}
		switch {
		case c.ACKAtCallee:
			fmt.Fprintf(w, "  The ACK reached %s %s after its first 200 OK.\n\n", c.To, ms(c.ACKDelay))
		case len(acks) == 0:
			fmt.Fprintf(w, "  No ACK for the 200 OK was ever sent, so none reached %s.\n\n", c.To)
		default:
			fmt.Fprintf(w, "  The ACK never reached %s. It stopped at %s: %s.\n\n", c.To, c.ACKLostAt, c.ACKFate)
		}

		next(fmt.Sprintf("what %s does", c.To))
		switch {
		case c.CalleeBYE:
			fmt.Fprintf(w, "  %s retransmitted its 200 OK %d times (T1, 2*T1, ... up to T2) waiting for the ACK, then\n  gave up after %.1f s and hung up with BYE: the call \"drops by itself\" (RFC 3261 §13.3.1.4).\n\n",
				c.To, c.OKRetransmissions, c.CalleeBYEAfter.Seconds())
		case c.ACKAtCallee:
			byes := wave(tr, c.CallID, c.To, isMethod(sip.BYE))
			if len(byes) == 0 {
				fmt.Fprintf(w, "  %s stopped retransmitting its 200 OK and the call stayed up until %s hung up.\n\n", c.To, c.From)
				break
			}
			fmt.Fprintf(w, "  %s stopped retransmitting its 200 OK, and later hung up itself. Its BYE is a request too:\n  its Request-URI is the Contact of %s's INVITE, so it must lead to %s.\n", c.To, c.From, c.From)
			for _, h := range byes {
				r := h.Message().(*sip.Request)
				fmt.Fprintf(w, "  %s  %s sends BYE %s to %s: %s\n", at(h.Sent()), h.Sender(), r.Recipient.String(), h.Sent().Dst, fate(h))
				writeXlat(w, h)
			}
			if last := byes[len(byes)-1]; !last.Delivered() {
				fmt.Fprintf(w, "  %s never heard that %s hung up, and talked to dead air until hanging up.\n\n", c.From, c.To)
			} else {
				fmt.Fprintf(w, "  The BYE reached %s and the call ended.\n\n", c.From)
			}
		default:
			fmt.Fprintf(w, "  %s did not hang up by itself.\n\n", c.To)
		}
	}

	next("verdict")
	fmt.Fprintf(w, "  ACK at %s: %s   lost at: %s   blame: %s   class: %s\n", c.To, yesNo(c.ACKAtCallee), orNone(c.ACKLostAt), orNone(c.Blame), c.Class)
	fmt.Fprintf(w, "  %s\n\n", c.Diagnosis)
	if s.Lesson != "" {
		fmt.Fprintln(w, "The lesson")
		fmt.Fprintf(w, "  %s\n\n", strings.TrimSpace(s.Lesson))
	}
	fmt.Fprintln(w, "The fix")
	if c.Fix == "" {
		fmt.Fprintf(w, "  Nothing to fix for the ACK: it reached %s.\n", c.To)
	} else {
		fmt.Fprintf(w, "  %s%s.\n", strings.ToUpper(c.Fix[:1]), c.Fix[1:])
	}
	writeUnmetExpectations(w, res)
}

// writeUnmetExpectations tells, when some expectation of the scenario failed (after an
// edit a lesson suggests, say), every expectation with what the run gave, so the exit
// code 1 that follows is explained.
func writeUnmetExpectations(w io.Writer, res *harness.Result) {
	if res.Passed {
		return
	}
	fmt.Fprintln(w, "\nThe expectations")
	fmt.Fprintln(w, "  What happened is not what the scenario's expect block says:")
	for _, e := range res.Expectations {
		mark := "ok  "
		if !e.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-14s want %-8s got %-8s (line %d)\n", mark, e.Key, e.Want, e.Got, e.Line)
	}
}

// writeBeforeCall tells what the UAs sent before the call's first INVITE:
// their REGISTERs, which open the NAT bindings the call will need, their
// keep-alives, and how long the callee's binding then stayed idle. It writes
// nothing when nothing was sent.
func writeBeforeCall(w io.Writer, s *scenario.Scenario, tr *trace.Trace, invite *trace.Datagram, calleeName string, at func(*sim.Record) string) {
	type pings struct {
		n           int
		dst         string
		first, last *sim.Record
	}
	keepAlives := map[string]*pings{}
	var order []string
	last := map[string]*sim.Record{} // the last datagram each UA sent
	var registers strings.Builder
	for h := range tr.Datagrams() {
		if h == invite {
			break
		}
		if h.SentIndex() < 0 {
			continue
		}
		host, ok := s.Host(h.Sender())
		if !ok || host.Role != scenario.RoleUA {
			continue
		}
		last[host.Name] = h.Sent()
		switch {
		case trace.IsRequest(h.Message(), sip.REGISTER):
			fmt.Fprintf(&registers, "  %s  %s sends REGISTER to %s: %s\n", at(h.Sent()), h.Sender(), h.Sent().Dst, fate(h))
			writeXlat(&registers, h)
			if reply := registerReply(tr, h); reply != nil && !reply.Delivered() {
				fmt.Fprintf(&registers, "  %s  %s answers %s to %s: %s\n", at(reply.Sent()), reply.Sender(), reply.Message().(*sip.Response).StartLine(), reply.Sent().Dst, fate(reply))
			}
		case h.Message() == nil && rawLabel(h.Payload()) != "(not SIP)", trace.IsRequest(h.Message(), sip.OPTIONS):
			p := keepAlives[host.Name]
			if p == nil {
				p = &pings{dst: h.Sent().Dst.String(), first: h.Sent()}
				keepAlives[host.Name] = p
				order = append(order, host.Name)
			}
			p.n++
			p.last = h.Sent()
		}
	}
	if registers.Len() == 0 && len(order) == 0 {
		return
	}
	fmt.Fprintln(w, "Before the call")
	if registers.Len() > 0 {
		fmt.Fprintln(w, "  A phone behind NAT opens its binding by sending: its REGISTER leaves through the NAT, and\n  the registrar stores the public address and port it came from.")
		fmt.Fprint(w, registers.String())
	}
	for _, name := range order {
		p := keepAlives[name]
		refresh := "."
		if h, _ := s.Host(name); h.NAT != "" {
			refresh = ": each one refreshes its NAT binding."
		}
		fmt.Fprintf(w, "  %s sends %d keep-alives to %s, from %s to %s%s\n", name, p.n, p.dst, at(p.first), at(p.last), refresh)
	}
	// The callee's idle time against the binding timeouts on its way out.
	callee, _ := s.Host(calleeName)
	if r, ok := last[callee.Name]; ok && callee.NAT != "" && invite.Sent().Time.Sub(r.Time) >= time.Second {
		idle := invite.Sent().Time.Sub(r.Time)
		var timeouts []string
		var expired *scenario.NAT
		for n, ok := s.NAT(callee.NAT); ok; n, ok = s.NAT(n.Outside) {
			timeouts = append(timeouts, fmt.Sprintf("%s: %s", n.Name, n.BindingTimeout))
			if expired == nil && idle > n.BindingTimeout {
				expired = &n
			}
			if n.Outside == "" {
				break
			}
		}
		if expired != nil {
			fmt.Fprintf(w, "  %s sent nothing after %s: %.1f s of silence before the call, longer than %s's\n  %s binding timeout, so the binding is gone.\n",
				callee.Name, at(r), idle.Seconds(), expired.Name, expired.BindingTimeout)
		} else {
			fmt.Fprintf(w, "  %s last sent at %s, %.1f s before the call, inside the binding timeout (%s).\n",
				callee.Name, at(r), idle.Seconds(), strings.Join(timeouts, ", "))
		}
	}
	fmt.Fprintln(w)
}

// registerReply returns the first response sent to the REGISTER of d, or nil.
func registerReply(tr *trace.Trace, d *trace.Datagram) *trace.Datagram {
	req := d.Message().(*sip.Request)
	for _, r := range tr.Call(d.CallID) {
		res, ok := r.Message().(*sip.Response)
		if ok && r.SentIndex() >= 0 && r.Sent().Seq > d.Sent().Seq && res.CSeq() != nil && req.CSeq() != nil && res.CSeq().SeqNo == req.CSeq().SeqNo && res.CSeq().MethodName == sip.REGISTER {
			return r
		}
	}
	return nil
}

func writeTopology(w io.Writer, s *scenario.Scenario) {
	fmt.Fprintln(w, "The network")
	for _, h := range s.Hosts {
		where := "public address"
		if h.NAT != "" {
			where = "private address behind " + h.NAT
		}
		var what []string
		switch h.Role {
		case scenario.RoleProxy:
			what = append(what, "proxy")
			if h.Registrar {
				what = append(what, "registrar")
			}
			if h.NextHop != "" {
				what = append(what, "forwards to "+h.NextHop)
			}
			what = append(what, "nat-handling "+string(h.NATHandling))
			if !h.RecordRoute {
				what = append(what, "does NOT Record-Route")
			}
			if h.Advertise.IsValid() {
				what = append(what, "advertises "+h.Advertise.String())
			}
			if h.ForceRport {
				what = append(what, "forces rport")
			}
			if h.Registrar && !h.FixRegister {
				what = append(what, "stores Contacts as written (no fix_nated_register())")
			}
		default:
			what = append(what, "phone")
			if h.RegisterWith != "" {
				what = append(what, "registers with "+h.RegisterWith)
			}
			if !h.Rport {
				what = append(what, "no rport in its Via")
			}
		}
		fmt.Fprintf(w, "  %-10s %-21s %s; %s\n", h.Name, h.Address, where, strings.Join(what, ", "))
	}
	for _, n := range s.NATs {
		hp := "no hairpinning"
		if n.Hairpinning {
			hp = "hairpinning"
		}
		extra := ""
		for _, f := range n.Forwards {
			extra += fmt.Sprintf(", forwards port %d to %s (%s)", f.Port, f.Host, f.To)
		}
		if n.SIPALG != "" && n.SIPALG != alg.None {
			extra += ", SIP ALG " + string(n.SIPALG)
		}
		fmt.Fprintf(w, "  %-10s %-21s NAT in front of %s: %s mapping, %s filtering, bindings expire after %s idle, %s%s\n",
			n.Name, n.Public, n.LAN, n.Mapping, n.Filtering, n.BindingTimeout, hp, extra)
	}
	fmt.Fprintln(w)
}

// contactBlamed reports whether the call's blame is the first hop whose Contact no
// longer led to the callee (not a hop a pitfall's class names for another reason).
func contactBlamed(c judge.CallFacts) bool {
	for _, h := range c.Hops {
		if h.Host == c.Blame {
			return !h.Leads
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
