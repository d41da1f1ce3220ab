package harness

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// CallFacts are the judged facts of one call, all derived from the capture
// and the actors' events (never from the scenario's expect block). They are
// the "calls" entries of the JSON verdict.
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
	Blame             string         // first host whose outgoing 2xx Contact no longer leads to the callee
	Hops              []HopContact   // the 2xx's Contact on each hop of the reply path
	Diagnosis         string         // one or two sentences a person can act on (diagnosis.go)
	Class             Class          // what became of the ACK, one word for programs
	Fix               string         // the change that makes the ACK arrive, in OpenSIPS/Kamailio terms; "" when none is needed
}

// HopContact is the Contact of the 2xx as one host received and sent it.
type HopContact struct {
	Host     string
	In, Out  string // Contact URI received and sent ("" for the callee's In)
	Leads    bool   // Out leads to the callee
	Resolves string // where Out leads, in words
}

// parsed is a record of the capture with its datagram parsed; rec points
// into the Result's capture, which outlives the judging.
type parsed struct {
	rec *sim.Record
	msg sip.Message
}

func parseCapture(recs []sim.Record) []parsed {
	p := sip.NewParser()
	cache := map[int]sip.Message{}
	out := make([]parsed, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Datagram == 0 || len(r.Data) == 0 {
			continue
		}
		m, ok := cache[r.Datagram]
		if !ok {
			mm, err := p.ParseSIP(r.Data) // copies what it keeps; Data stays as captured
			if err == nil {
				m = mm
			}
			cache[r.Datagram] = m
		}
		if m != nil {
			out = append(out, parsed{rec: r, msg: m})
		}
	}
	return out
}

func msgCallID(m sip.Message) string {
	switch v := m.(type) {
	case *sip.Request:
		if c := v.CallID(); c != nil {
			return c.Value()
		}
	case *sip.Response:
		if c := v.CallID(); c != nil {
			return c.Value()
		}
	}
	return ""
}

func isInvite2xx(m sip.Message) (*sip.Response, bool) {
	r, ok := m.(*sip.Response)
	if !ok || !r.IsSuccess() || r.CSeq() == nil || r.CSeq().MethodName != sip.INVITE {
		return nil, false
	}
	return r, true
}

func toTag(m sip.Message) string {
	if to := m.To(); to != nil {
		t, _ := to.Params.Get("tag")
		return t
	}
	return ""
}

func isRequest(m sip.Message, method sip.RequestMethod) bool {
	r, ok := m.(*sip.Request)
	return ok && r.Method == method
}

func contactOf(r *sip.Response) string {
	if c := r.Contact(); c != nil {
		return c.Address.String()
	}
	return ""
}

// judge derives the facts of every placed call. It asks net where Contacts
// lead, so it runs before the network is torn down.
func judge(net *sim.Network, s *scenario.Scenario, res *Result) []CallFacts {
	byCall := map[string][]parsed{}
	for _, p := range parseCapture(res.Capture) {
		id := msgCallID(p.msg)
		byCall[id] = append(byCall[id], p)
	}
	var out []CallFacts
	for _, pc := range res.Placed {
		out = append(out, judgeCall(net, s, res, pc, byCall[pc.CallID]))
	}
	return out
}

func judgeCall(net *sim.Network, s *scenario.Scenario, res *Result, pc CallRecord, msgs []parsed) CallFacts {
	f := CallFacts{From: pc.From, To: pc.To, CallID: pc.CallID}
	var firstOK time.Time
	okSent := 0
	calleeTag := "" // the To tag of the callee's 2xx: the dialog its ACK belongs to
	for _, p := range msgs {
		r := p.rec
		if ok, isOK := isInvite2xx(p.msg); isOK && r.Kind == sim.Sent && r.Hop == pc.To {
			if okSent == 0 {
				firstOK = r.Time
				if to := ok.To(); to != nil {
					calleeTag, _ = to.Params.Get("tag")
				}
			}
			okSent++
		}
	}
	f.Answered = okSent > 0
	f.OKRetransmissions = max(okSent-1, 0)

	var lastACK *sim.Record
	ackSent := false
	for i, p := range msgs {
		r := p.rec
		// Only the ACK for the callee's 2xx counts: an ACK for a non-2xx
		// final response (a 408 from a proxy) is hop by hop (RFC 3261 §17.1.1.3).
		if isRequest(p.msg, sip.ACK) && f.Answered && toTag(p.msg) == calleeTag {
			if r.Kind == sim.Sent && r.Hop == pc.From {
				ackSent = true
			}
			if r.Kind == sim.Delivered && r.Hop == pc.To && !f.ACKAtCallee {
				f.ACKAtCallee = true
				if f.Answered {
					d := r.Time.Sub(firstOK)
					f.ACKDelay = &d
				}
			}
			if (r.Kind == sim.Sent || r.Kind == sim.Delivered || r.Kind == sim.Dropped) && !isNAT(s, r.Hop) {
				lastACK = msgs[i].rec
			}
		}
		// A BYE the callee sends after the ACK arrived is an ordinary hang-up.
		if isRequest(p.msg, sip.BYE) && r.Kind == sim.Sent && r.Hop == pc.To && !f.CalleeBYE && !f.ACKAtCallee {
			f.CalleeBYE = true
			if f.Answered {
				d := r.Time.Sub(firstOK)
				f.CalleeBYEAfter = &d
			}
		}
		if ok, isOK := isInvite2xx(p.msg); isOK && r.Kind == sim.Delivered && r.Hop == pc.From && f.ContactAtCaller == "" {
			f.ContactAtCaller = contactOf(ok)
		}
	}

	if !f.ACKAtCallee {
		switch {
		case !ackSent:
			f.ACKLostAt = pc.From
			f.ACKFate = fmt.Sprintf("%s never sent an ACK", pc.From)
		case lastACK != nil:
			f.ACKLostAt = lastACK.Hop
			f.ACKFate = ackFate(msgs, res.Events, lastACK, pc.CallID)
		}
	}
	f.Hops, f.Blame = replyPath(net, s, pc, msgs)
	d := diagnose(s, f, msgs, res.Events)
	f.Diagnosis, f.Class, f.Fix = d.text, d.class, d.fix
	return f
}

func isNAT(s *scenario.Scenario, hop string) bool {
	_, ok := s.NAT(hop)
	return ok
}

// ackFate says, in words, why the ACK went no further than rec's host.
func ackFate(msgs []parsed, events []Event, last *sim.Record, callID string) string {
	// A drop on the way out of the host (or at a NAT just behind it).
	for _, p := range msgs {
		if isRequest(p.msg, sip.ACK) && p.rec.Kind == sim.Dropped && p.rec.Datagram == last.Datagram {
			return fmt.Sprintf("dropped: %s", p.rec.Reason)
		}
	}
	for _, e := range events {
		if e.Host == last.Hop && e.Kind == "absorbed" && e.CallID == callID && !e.Time.Before(last.Time) {
			return e.Detail
		}
	}
	if last.Kind == sim.Delivered {
		return fmt.Sprintf("%s received the ACK and did not forward it", last.Hop)
	}
	return fmt.Sprintf("sent by %s to %s and never delivered", last.Hop, last.Dst)
}

// replyPath follows the first 2xx from the callee towards the caller and
// asks the network, for each hop, whether the Contact it sent on still leads
// to the callee: from the element that will send the ACK to that Contact
// (the first Record-Route entry's host, or the caller without one).
func replyPath(net *sim.Network, s *scenario.Scenario, pc CallRecord, msgs []parsed) ([]HopContact, string) {
	callee, _ := s.Host(pc.To)
	lost := lostACKs(msgs, pc.To)
	var hops []HopContact
	seen := map[string]bool{}
	inContact := map[string]string{}
	blame := ""
	for _, p := range msgs {
		ok, isOK := isInvite2xx(p.msg)
		if !isOK {
			continue
		}
		r := p.rec
		if r.Kind == sim.Delivered && inContact[r.Hop] == "" {
			inContact[r.Hop] = contactOf(ok)
		}
		if r.Kind != sim.Sent || seen[r.Hop] {
			continue
		}
		seen[r.Hop] = true
		h := HopContact{Host: r.Hop, In: inContact[r.Hop], Out: contactOf(ok)}
		from := pc.From
		if rr := ok.GetHeaders("Record-Route"); len(rr) > 0 {
			if a, err := endpoint.URIAddr(rr[0].(*sip.RecordRouteHeader).Address); err == nil {
				if hh := net.HostByAddr(a.Addr()); hh != nil {
					from = hh.Name()
				}
			}
		}
		h.Leads, h.Resolves = leads(net, from, ok, callee)
		// The network at the end of the run may have opened a path that was closed when
		// the ACK went (a NAT filter opened by the callee's BYE): what the ACK met wins.
		if c := ok.Contact(); c != nil && h.Leads {
			if dst, err := endpoint.URIAddr(c.Address); err == nil {
				if why, ok := lost[ackSend{from, dst}]; ok {
					h.Leads, h.Resolves = false, "leads nowhere: "+why
				}
			}
		}
		hops = append(hops, h)
		if blame == "" && r.Hop != pc.To && !h.Leads {
			blame = r.Hop
		}
	}
	return hops, blame
}

// ackSend is an ACK's sender and destination.
type ackSend struct {
	from string
	dst  netip.AddrPort
}

// lostACKs maps each sender and destination of the call's ACKs to the reason the first of
// them was dropped, when none sent that way reached the callee.
func lostACKs(msgs []parsed, callee string) map[ackSend]string {
	sent := map[int]ackSend{}
	lost := map[ackSend]string{}
	arrived := map[ackSend]bool{}
	for _, p := range msgs {
		if !isRequest(p.msg, sip.ACK) {
			continue
		}
		r := p.rec
		switch r.Kind {
		case sim.Sent:
			sent[r.Datagram] = ackSend{r.Hop, r.Dst}
		case sim.Dropped:
			if k, ok := sent[r.Datagram]; ok {
				if _, seen := lost[k]; !seen {
					lost[k] = r.Reason
				}
			}
		case sim.Delivered:
			if k, ok := sent[r.Datagram]; ok && r.Hop == callee {
				arrived[k] = true
			}
		}
	}
	for k := range arrived {
		delete(lost, k)
	}
	return lost
}

func leads(net *sim.Network, from string, ok *sip.Response, callee scenario.Host) (bool, string) {
	c := ok.Contact()
	if c == nil {
		return false, "no Contact"
	}
	dst, err := endpoint.URIAddr(c.Address)
	if err != nil {
		return false, err.Error()
	}
	host, port, reached, reason := net.Resolve(from, dst)
	switch {
	case !reached:
		return false, "leads nowhere: " + reason
	case host == callee.Name && port == callee.Address.Port():
		return true, fmt.Sprintf("leads to %s", callee.Name)
	default:
		return false, fmt.Sprintf("leads to %s, not %s", host, callee.Name)
	}
}

// ExpectationResult is one checked key of the expect block.
type ExpectationResult struct {
	Key  string `json:"key"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
	Line int    `json:"line"`
}

// check compares the expect block with the first call's facts.
func check(s *scenario.Scenario, calls []CallFacts) ([]ExpectationResult, bool) {
	passed := true
	var out []ExpectationResult
	for _, e := range s.Expect {
		r := ExpectationResult{Key: e.Key, Want: e.Want, Line: e.Line}
		if len(calls) == 0 {
			r.Got = "no call"
		} else {
			f := calls[0]
			switch e.Key {
			case scenario.ExpectACKAtCallee:
				r.Got = fmt.Sprint(f.ACKAtCallee)
				r.OK = e.Bool != nil && *e.Bool == f.ACKAtCallee
			case scenario.ExpectCalleeBYE:
				r.Got = fmt.Sprint(f.CalleeBYE)
				r.OK = e.Bool != nil && *e.Bool == f.CalleeBYE
			case scenario.ExpectACKWithin:
				if f.ACKDelay == nil {
					r.Got = "no ACK"
				} else {
					r.Got = f.ACKDelay.Round(time.Millisecond).String()
					r.OK = *f.ACKDelay <= e.Duration
				}
			case scenario.ExpectBlame:
				r.Got = f.Blame
				if r.Got == "" {
					r.Got = "none"
				}
				r.OK = f.Blame == e.Host
			}
		}
		if !r.OK {
			passed = false
		}
		out = append(out, r)
	}
	return out, passed
}
