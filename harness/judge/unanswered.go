package judge

import (
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// final is the final non-2xx response that ended a caller's INVITE transaction, and
// the hop that made it (RFC 3261 §16.7: a proxy relays the best final response of its
// branches, or sends its own, 408 when no branch answered, §16.8).
type final struct {
	res   *sip.Response
	from  string        // the hop that sent it first: its author
	after time.Duration // from the caller's INVITE to the response's arrival at the caller
	// forwarded are the INVITEs the author sent on for the request it answered (its
	// own Via above the Via of that request); none when it never forwarded it.
	forwarded []*trace.Datagram
}

// status is the response's code and reason, "408 Request Timeout".
func (fr *final) status() string { return fmt.Sprintf("%d %s", fr.res.StatusCode, fr.res.Reason) }

// finalResponse finds the first final non-2xx response to the initial INVITE of the
// call that reached the caller, its author and what the author did with the INVITE it
// answered, from the call's datagrams dgs; nil when none reached the caller.
func finalResponse(dgs []*trace.Datagram, f CallFacts) *final {
	var invSent time.Time
	var got *trace.Datagram
	for _, d := range dgs {
		if trace.IsRequest(d.Message(), sip.INVITE) && d.Sender() == f.From && invSent.IsZero() {
			invSent = d.Sent().Time
		}
		if r, ok := d.Message().(*sip.Response); ok && r.StatusCode >= 300 && isInviteResponse(r) &&
			d.Delivered() && d.End().Hop == f.From {
			got = d
			break
		}
	}
	if got == nil {
		return nil
	}
	res := got.Message().(*sip.Response)
	fr := &final{res: res, after: got.End().Time.Sub(invSent)}
	// The author: the first hop that sent a response with this status and To tag.
	var authored *trace.Datagram
	for _, d := range dgs {
		if r, ok := d.Message().(*sip.Response); ok && d.SentIndex() >= 0 && r.StatusCode == res.StatusCode &&
			isInviteResponse(r) && trace.ToTag(r) == trace.ToTag(res) {
			authored = d
			break
		}
	}
	if authored == nil {
		return fr
	}
	fr.from = authored.Sender()
	// The request it answered carries the response's top Via; the author forwarded
	// it when an INVITE it sent carries that Via below its own.
	branch := topBranch(authored.Message())
	if branch == "" {
		return fr
	}
	for _, d := range dgs {
		if !trace.IsRequest(d.Message(), sip.INVITE) || d.Sender() != fr.from {
			continue
		}
		for i, v := range d.Message().(*sip.Request).GetHeaders("Via") {
			if vh, ok := v.(*sip.ViaHeader); ok && i > 0 {
				if b, _ := vh.Params.Get("branch"); b == branch {
					fr.forwarded = append(fr.forwarded, d)
				}
			}
		}
	}
	return fr
}

func isInviteResponse(r *sip.Response) bool {
	return r.CSeq() != nil && r.CSeq().MethodName == sip.INVITE
}

func topBranch(m sip.Message) string {
	v := m.Via()
	if v == nil {
		return ""
	}
	b, _ := v.Params.Get("branch")
	return b
}

// blame names the author of fr when it is a proxy that never sent the INVITE it
// answered anywhere it could arrive: it did not forward it, or sent it only to a
// private address it has no route to. A proxy whose INVITE a NAT dropped for want of
// a binding is not blamed: keep-alives are the fix, not its routing.
func (fr *final) blame(s *scenario.Scenario) string {
	if fr == nil || fr.from == "" {
		return ""
	}
	if h, ok := s.Host(fr.from); !ok || h.Role != scenario.RoleProxy {
		return ""
	}
	for _, d := range fr.forwarded {
		if d.End() == nil || d.End().Kind != sim.Dropped || causeClass(d.End().Cause) != ClassPrivateContact {
			return ""
		}
	}
	return fr.from
}

// sentence says which final response ended the call and who sent it: a clause
// that follows "so there was no 200 OK to acknowledge".
func (fr *final) sentence(f CallFacts) string {
	if fr.from == "" {
		return fmt.Sprintf("%s received %s after %.1f s", f.From, fr.status(), fr.after.Seconds())
	}
	what := fr.answered(f)
	switch {
	case fr.from == f.To:
		return fmt.Sprintf("%s itself answered %s's INVITE with %s after %.1f s", f.To, f.From, fr.status(), fr.after.Seconds())
	case len(fr.forwarded) == 0:
		return what + ", without ever forwarding it"
	}
	dst := fr.forwarded[0]
	if dst.Dropped() {
		return what + fmt.Sprintf(", having sent it to %s, where it was dropped: %s", dst.Sent().Dst, dst.End().Reason)
	}
	return what
}

// answered says who answered the caller's INVITE with what, and when it arrived.
func (fr *final) answered(f CallFacts) string {
	return fmt.Sprintf("%s answered %s's INVITE with %s after %.1f s", fr.from, f.From, fr.status(), fr.after.Seconds())
}

// finalFix is what to change on the hop that answered a call with fr, by the
// response's code; it starts with a verb.
func finalFix(fr *final, f CallFacts, loop []string) string {
	switch c := fr.res.StatusCode; {
	case c == 483 && loop != nil:
		return fmt.Sprintf("fix the next hops: the INVITE went round %s until Max-Forwards ran out; the route must end at %s's registrar", strings.Join(loop, " -> "), f.To)
	case c == 404 || c == 480 || c == 604:
		return fmt.Sprintf("check %s's location table: it had no usable registration of %s; %s must register with it and lookup() must find it under the Request-URI %s receives", fr.from, f.To, f.To, fr.from)
	case c == 408 && len(fr.forwarded) > 0:
		return fmt.Sprintf("make %s send the INVITE where %s can be reached: the source address and port of its REGISTER (fix_nated_register(), or set_contact_alias() at registration and handle_ruri_alias() before relaying)", fr.from, f.To)
	case c == 408:
		return fmt.Sprintf("check %s's route to %s (next hop, location table) and its log: it sent the INVITE nowhere that answered", fr.from, f.To)
	case fr.from == f.To:
		return fmt.Sprintf("nothing in the network to fix: %s refused the call itself", f.To)
	}
	return fmt.Sprintf("check why %s refused the INVITE (its log) and its route to %s", fr.from, f.To)
}

// inviteLoop lists the hops that sent the call's INVITE on, in the order each first
// did, when one of them sent it more than once; nil otherwise.
func inviteLoop(dgs []*trace.Datagram, f CallFacts) []string {
	var hops []string
	n := map[string]int{}
	for _, d := range dgs {
		if !trace.IsRequest(d.Message(), sip.INVITE) || d.SentIndex() < 0 || trace.ToTag(d.Message()) != "" || d.Sender() == f.From {
			continue
		}
		if n[d.Sender()] == 0 {
			hops = append(hops, d.Sender())
		}
		n[d.Sender()]++
	}
	for _, c := range n {
		if c > 1 {
			return append(hops, hops[0])
		}
	}
	return nil
}

// diagnoseFinal explains an unanswered call that a final response ended, naming the
// response and its author; ok is false when no final response reached the caller.
func diagnoseFinal(dgs []*trace.Datagram, f CallFacts, fr *final, blame string) (diagnosis, bool) {
	if fr == nil || fr.from == "" {
		return diagnosis{}, false
	}
	d := diagnosis{class: ClassNotAnswered, fix: finalFix(fr, f, inviteLoop(dgs, f))}
	first := fmt.Sprintf("%s never answered, so there was no 200 OK to acknowledge: %s.", f.To, fr.sentence(f))
	if blame != "" {
		d.class = ClassNotForwarded
	}
	d.text = first + " " + strings.ToUpper(d.fix[:1]) + d.fix[1:] + "."
	return d, true
}
