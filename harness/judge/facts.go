// Package judge decides, from a scenario's topology and the trace of what happened, the
// facts of every call (did the ACK for the 2xx reach the callee, where was it lost, which
// hop broke the Contact), the diagnosis and the expectations. It is a pure function of
// its inputs: it asks no live network and no actor, so a saved capture is judged
// exactly like a live run.
package judge

import (
	"fmt"
	"slices"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// CallFacts are the judged facts of one call, all derived from the trace (never from the
// scenario's expect block). They are the "calls" entries of the JSON verdict.
type CallFacts struct {
	From, To          string
	CallID            string
	Answered          bool           // the callee sent a 2xx for the INVITE
	ACKAtCallee       bool           // an ACK for the 2xx was delivered to the callee UA
	ACKDelay          *time.Duration // first 2xx sent -> first ACK delivered; nil without ACK
	OKRetransmissions int            // 2xx datagrams the callee sent after the first
	CalleeBYE         bool           // the callee sent a BYE before any ACK reached it (it gave up waiting)
	CalleeBYEAfter    *time.Duration // first 2xx sent -> callee's BYE sent
	ContactAtCaller   string         // Contact URI of the first 2xx delivered to the caller
	ACKLostAt         string         // last host that handled the ACK; "" when it arrived
	ACKFate           string         // what became of the ACK at ACKLostAt, in words
	Blame             string         // first host whose outgoing 2xx Contact no longer leads to the callee, or the hop a pitfall's class names (a proxy, or a NAT whose SIP ALG broke the 2xx); "" when the ACK arrived
	Hops              []HopContact   // the 2xx's Contact on each hop of the reply path
	Diagnosis         string         // one or two sentences a person can act on
	Class             Class          // what became of the ACK, one word for programs
	Fix               string         // the change that makes the ACK arrive, in OpenSIPS/Kamailio terms; "" when none is needed

	// What real proxies do differently: the 2xx retransmissions as the caller and each
	// proxy passed them on (docs/scenario-format.md, "late-2xx"), and an unanswered
	// call's final response. Blame of an unanswered call is the proxy that answered
	// it without forwarding the INVITE anywhere it could arrive.
	ContactChanges []ContactChange // retransmissions of the 2xx that reached the caller with another Contact than the one before
	HopChanges     []ContactChange // each proxy's first 2xx retransmission sent on with another Contact than the first 2xx
	Withheld       []Withheld      // proxies that stopped passing on the 2xx retransmissions
	FinalResponse  string          // an unanswered call: the final response that reached the caller ("408 Request Timeout"); "" when none did
	FinalFrom      string          // the hop that sent FinalResponse first, its author; "" when unknown
}

// HopContact is the Contact of the 2xx as one host received and sent it.
type HopContact struct {
	Host     string
	In, Out  string // Contact URI received and sent ("" for the callee's In)
	Leads    bool   // Out leads to the callee
	Resolves string // where Out leads, in words
}

// Calls derives the facts of every call in the trace: each initial INVITE a UA of the
// scenario sent (no To tag), in the order they were sent. The callee is the UA the
// INVITE's To URI names (a UA's address of record is sip:name@domain), else the UA
// that answered it with a 2xx.
func Calls(s *scenario.Scenario, tr *trace.Trace) []CallFacts {
	type call struct{ id, from, to string }
	var calls []call
	for _, id := range tr.CallIDs() {
		for _, d := range tr.Call(id) {
			req, ok := d.Message().(*sip.Request)
			if !ok || req.Method != sip.INVITE || d.SentIndex() < 0 || trace.ToTag(req) != "" {
				continue
			}
			if h, ok := s.Host(d.Sender()); !ok || h.Role != scenario.RoleUA {
				continue
			}
			to := ""
			if t := req.To(); t != nil {
				if h, ok := s.Host(t.Address.User); ok && h.Role == scenario.RoleUA {
					to = h.Name
				}
			}
			if to == "" {
				to = answerer(s, tr, id)
			}
			calls = append(calls, call{id: id, from: d.Sender(), to: to})
			break
		}
	}
	out := make([]CallFacts, len(calls))
	var qs []*question
	for i, c := range calls {
		qs = judgeCall(s, tr, c.id, c.from, c.to, &out[i], qs)
	}
	// Where a Contact leads when no ACK went there: asked of the replayed network in
	// the order of the instants, so the capture is replayed once.
	if len(qs) > 0 {
		r := newResolver(s, tr)
		slices.SortStableFunc(qs, func(a, b *question) int { return a.seq - b.seq })
		for _, q := range qs {
			q.answer(r.resolve(q.seq, q.at, q.sender, q.dst))
		}
		r.close()
	}
	for i := range out {
		f := &out[i]
		for _, h := range f.Hops {
			// Blame follows what happened: an ACK that arrived was led there, whatever
			// the Contacts look like (one with a NAT alias parameter can still lead to
			// the callee).
			if !f.ACKAtCallee && h.Host != f.To && !h.Leads {
				f.Blame = h.Host
				break
			}
		}
		d := diagnose(s, tr, *f)
		f.Diagnosis, f.Class, f.Fix = d.text, d.class, d.fix
		if d.blame != "" {
			f.Blame = d.blame
		}
		if late := lateSentence(*f); late != "" {
			f.Diagnosis += " " + late
		}
	}
	return out
}

// answerer is the UA that sent the first 2xx for an INVITE of the call: the callee
// when the To URI names no host of the scenario (a field capture, whose UAs are
// named by address and called by number).
func answerer(s *scenario.Scenario, tr *trace.Trace, callID string) string {
	for _, d := range tr.Call(callID) {
		if _, ok := trace.Invite2xx(d.Message()); ok && d.SentIndex() >= 0 {
			if h, ok := s.Host(d.Sender()); ok && h.Role == scenario.RoleUA {
				return h.Name
			}
		}
	}
	return ""
}

// judgeCall derives the facts of one call into f but the blame and the diagnosis, which
// wait for the answers to the questions it adds to qs.
func judgeCall(s *scenario.Scenario, tr *trace.Trace, callID, from, to string, f *CallFacts, qs []*question) []*question {
	*f = CallFacts{From: from, To: to, CallID: callID}
	steps := tr.Steps(callID)
	var firstOK time.Time
	okSent := 0
	calleeTag := "" // the To tag of the callee's 2xx: the dialog its ACK belongs to
	for _, st := range steps {
		if ok, isOK := trace.Invite2xx(st.D.Message()); isOK && st.Kind == sim.Sent && st.Hop == to {
			if okSent == 0 {
				firstOK = st.Time
				calleeTag = trace.ToTag(ok)
			}
			okSent++
		}
	}
	f.Answered = okSent > 0
	f.OKRetransmissions = max(okSent-1, 0)

	var lastACK *sim.Record
	ackSent := false
	for i := range steps {
		st := &steps[i]
		m := st.D.Message()
		// Only the ACK for the callee's 2xx counts: an ACK for a non-2xx
		// final response (a 408 from a proxy) is hop by hop (RFC 3261 §17.1.1.3).
		if trace.IsRequest(m, sip.ACK) && f.Answered && trace.ToTag(m) == calleeTag {
			if st.Kind == sim.Sent && st.Hop == from {
				ackSent = true
			}
			if st.Kind == sim.Delivered && st.Hop == to && !f.ACKAtCallee {
				f.ACKAtCallee = true
				d := st.Time.Sub(firstOK)
				f.ACKDelay = &d
			}
			if (st.Kind == sim.Sent || st.Kind == sim.Delivered || st.Kind == sim.Dropped) && !isNAT(s, st.Hop) {
				lastACK = &st.Record
			}
		}
		// A BYE the callee sends after the ACK arrived is an ordinary hang-up.
		if trace.IsRequest(m, sip.BYE) && st.Kind == sim.Sent && st.Hop == to && !f.CalleeBYE && !f.ACKAtCallee {
			f.CalleeBYE = true
			if f.Answered {
				d := st.Time.Sub(firstOK)
				f.CalleeBYEAfter = &d
			}
		}
		if ok, isOK := trace.Invite2xx(m); isOK && st.Kind == sim.Delivered && st.Hop == from && f.ContactAtCaller == "" {
			f.ContactAtCaller = trace.Contact(ok)
		}
	}

	if !f.ACKAtCallee {
		switch {
		case !ackSent:
			f.ACKLostAt = from
			f.ACKFate = fmt.Sprintf("%s never sent an ACK", from)
		case lastACK != nil:
			f.ACKLostAt = lastACK.Hop
			f.ACKFate = ackFate(tr, lastACK, callID)
		}
	}
	f.Hops, qs = replyPath(s, tr, steps, f, calleeTag, qs)
	if f.Answered {
		f.ContactChanges = contactChanges(steps, f, calleeTag, firstOK)
		f.HopChanges = hopChanges(steps, f, calleeTag, firstOK)
		f.Withheld = withheld(steps, f, calleeTag, firstOK)
	}
	if !f.Answered {
		// Blame follows what happened here too: a proxy that ended the call with a
		// response of its own and never sent the INVITE on.
		if fr := finalResponse(tr.Call(f.CallID), *f); fr != nil {
			f.FinalResponse, f.FinalFrom, f.Blame = fr.status(), fr.from, fr.blame(s)
		}
	}
	return qs
}

func isNAT(s *scenario.Scenario, hop string) bool {
	_, ok := s.NAT(hop)
	return ok
}

// ackFate says, in words, why the ACK went no further than last's host.
func ackFate(tr *trace.Trace, last *sim.Record, callID string) string {
	// A drop on the way out of the host (or at a NAT just behind it).
	if d := tr.Datagram(last.Datagram); d != nil && d.Dropped() {
		return fmt.Sprintf("dropped: %s", d.End().Reason)
	}
	for _, n := range tr.Notes(callID) {
		if n.Hop == last.Hop && n.Datagram == last.Datagram {
			return n.Reason
		}
	}
	if last.Kind == sim.Delivered {
		return fmt.Sprintf("%s received the ACK and did not forward it", last.Hop)
	}
	return fmt.Sprintf("sent by %s to %s and never delivered", last.Hop, last.Dst)
}
