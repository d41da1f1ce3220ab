package judge

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// replyPath follows the callee's first 2xx towards the caller and says, for each hop,
// whether the Contact it sent on leads to the callee from the element that sends the
// ACK to that Contact (the host of the first Record-Route entry, or the caller without
// one). What an ACK sent that way met decides it; otherwise a question added to qs asks
// the NAT state of that instant, replayed from the capture. f must not move until the
// questions are answered.
func replyPath(s *scenario.Scenario, tr *trace.Trace, steps []trace.Step, f *CallFacts, calleeTag string, qs []*question) ([]HopContact, []*question) {
	callee, _ := s.Host(f.To)
	acks := ackOutcomes(tr, f.CallID, f.To, calleeTag)
	var hops []HopContact
	seen := map[string]bool{}
	inContact := map[string]string{}
	for i := range steps {
		st := &steps[i]
		ok, isOK := trace.Invite2xx(st.D.Message())
		if !isOK || trace.ToTag(ok) != calleeTag {
			continue
		}
		if st.Kind == sim.Delivered && inContact[st.Hop] == "" {
			inContact[st.Hop] = trace.Contact(ok)
			if in, isOK := trace.Invite2xx(st.D.Received()); isOK {
				inContact[st.Hop] = trace.Contact(in) // as a NAT's SIP ALG rewrote it
			}
		}
		if st.Kind != sim.Sent || seen[st.Hop] {
			continue
		}
		seen[st.Hop] = true
		h := HopContact{Host: st.Hop, In: inContact[st.Hop], Out: trace.Contact(ok)}
		sender := f.From
		if rr := ok.GetHeaders("Record-Route"); len(rr) > 0 {
			if a, err := endpoint.URIAddr(rr[0].(*sip.RecordRouteHeader).Address); err == nil {
				if hh, ok := s.HostReachedAt(a); ok {
					sender = hh.Name
				}
			}
		}
		if q := leads(acks, sender, ok, callee, &st.Record, &h); q != nil {
			q.owner, q.idx = f, len(hops)
			qs = append(qs, q)
		}
		hops = append(hops, h)
	}
	return hops, qs
}

// ackSend is an ACK's sender and destination.
type ackSend struct {
	from string
	dst  netip.AddrPort
}

// ackOutcome is what became of the ACKs one host sent to one destination: the first
// Sent record, whether one of them reached the callee, and where the first one ended.
type ackOutcome struct {
	first   *sim.Record
	arrived bool
	end     *sim.Record
}

// ackOutcomes maps each sender and destination of the call's ACKs for the callee's 2xx
// to what became of them.
func ackOutcomes(tr *trace.Trace, callID, callee, calleeTag string) map[ackSend]*ackOutcome {
	out := map[ackSend]*ackOutcome{}
	for _, d := range tr.Call(callID) {
		if d.SentIndex() < 0 || !trace.IsRequest(d.Message(), sip.ACK) || trace.ToTag(d.Message()) != calleeTag {
			continue
		}
		k := ackSend{d.Sender(), d.Sent().Dst}
		o := out[k]
		if o == nil {
			o = &ackOutcome{first: d.Sent(), end: d.End()}
			out[k] = o
		}
		if d.Delivered() && d.End().Hop == callee {
			o.arrived = true
		}
	}
	return out
}

// leads says, into h, whether the Contact of ok, as sender would send an ACK to it,
// leads to callee. An ACK that sender really sent there answers it; else leads returns
// the question for the replayed network at the instant that ACK was sent (or the 2xx
// was, when no ACK went that way).
func leads(acks map[ackSend]*ackOutcome, sender string, ok *sip.Response, callee scenario.Host, okSent *sim.Record, h *HopContact) *question {
	c := ok.Contact()
	if c == nil {
		h.Resolves = "no Contact"
		return nil
	}
	dst, alias, err := contactTarget(c.Address)
	if err != nil {
		h.Resolves = err.Error()
		return nil
	}
	at := okSent
	o := acks[ackSend{sender, dst}]
	ignored := "" // the alias sender did not route on
	if o == nil && alias {
		// handle_ruri_alias() strips the alias and sends the ACK to it; a sender that
		// sent the ACK to the Contact's own host and port has none: judge that.
		if plain, perr := endpoint.URIAddr(c.Address); perr == nil && acks[ackSend{sender, plain}] != nil {
			o, ignored, dst, alias = acks[ackSend{sender, plain}], dst.String(), plain, false
		}
	}
	if o != nil {
		switch {
		case o.arrived:
			h.Leads, h.Resolves = true, fmt.Sprintf("leads to %s", callee.Name)
			if alias {
				h.Resolves += fmt.Sprintf(" (through its alias %s, where %s sent the ACK: handle_ruri_alias())", dst, sender)
			}
			return nil
		case o.end != nil && o.end.Kind == sim.Dropped:
			h.Resolves = "leads nowhere: " + o.end.Reason
		case o.end != nil && o.end.Kind == sim.Delivered:
			h.Resolves = fmt.Sprintf("leads to %s, not %s", o.end.Hop, callee.Name)
		}
		if h.Resolves != "" {
			if ignored != "" {
				h.Resolves += fmt.Sprintf(" (%s sent the ACK to the Contact's own address, not to its alias %s: no handle_ruri_alias() there)", sender, ignored)
			}
			return nil
		}
		at = o.first
	}
	return &question{seq: at.Seq, at: at.Time, sender: sender, dst: dst, callee: callee, alias: alias}
}

// contactTarget is where an ACK for the Contact u goes: u's host and port or, for a
// Contact a proxy marked with nathelper's set_contact_alias() (";alias=ip~port~proto"),
// the address of the alias, where that proxy's handle_ruri_alias() sends it. alias says
// which.
func contactTarget(u sip.Uri) (dst netip.AddrPort, alias bool, err error) {
	if v, ok := u.UriParams.Get("alias"); ok {
		parts := strings.Split(v, "~")
		if len(parts) >= 2 {
			if port, perr := strconv.ParseUint(parts[1], 10, 16); perr == nil {
				if a, perr := netip.ParseAddr(parts[0]); perr == nil {
					return netip.AddrPortFrom(a.Unmap(), uint16(port)), true, nil
				}
			}
		}
		return netip.AddrPort{}, false, fmt.Errorf("Contact alias %q is not ip~port~proto", v)
	}
	dst, err = endpoint.URIAddr(u)
	return dst, false, err
}

// question asks where a datagram that sender sent to dst just before the record seq
// (made at at) would have gone, for the Contact of hop idx of owner. It keeps no record,
// so that the steps of a call are not kept while the questions of later calls gather.
type question struct {
	seq    int
	at     time.Time
	sender string
	dst    netip.AddrPort
	callee scenario.Host
	alias  bool // dst came from the Contact's alias parameter
	owner  *CallFacts
	idx    int
}

func (q *question) answer(res sim.Resolution) {
	h := &q.owner.Hops[q.idx]
	switch {
	case !res.OK:
		h.Leads, h.Resolves = false, "leads nowhere: "+res.Reason
	case res.Host == q.callee.Name && res.Port == q.callee.Address.Port():
		h.Leads, h.Resolves = true, fmt.Sprintf("leads to %s", q.callee.Name)
		if q.alias {
			h.Resolves += fmt.Sprintf(" (through its alias %s)", q.dst)
		}
	default:
		h.Leads, h.Resolves = false, fmt.Sprintf("leads to %s, not %s", res.Host, q.callee.Name)
	}
}

// resolver answers where a datagram would have gone at an instant of the run: a replica
// of the scenario's topology on the memory carrier whose NAT tables replay the capture
// up to that instant. Questions come in Seq order, so the capture is replayed once.
type resolver struct {
	net   *sim.Network
	tr    *trace.Trace
	log   *sim.Log
	next  int          // index in log of the first record not replayed
	batch []sim.Record // the records decoded to be replayed together
	err   error
	port  map[string]uint16 // each host's port, the source of what it sends
}

func newResolver(s *scenario.Scenario, tr *trace.Trace) *resolver {
	var t0 time.Time
	log := tr.Log()
	if log.Len() > 0 {
		t0 = log.Head(0).Time
	}
	r := &resolver{tr: tr, log: log, port: map[string]uint16{}}
	r.net = sim.NewNetwork(sim.Config{Clock: sim.NewVirtualClock(t0), Carrier: sim.Memory})
	if r.err = s.AddTo(r.net); r.err != nil {
		return r
	}
	for _, h := range s.Hosts {
		if _, err := r.net.Host(h.Name).ListenPacket(h.Address.Port()); err != nil {
			r.err = err
			return r
		}
		r.port[h.Name] = h.Address.Port()
	}
	return r
}

// resolve answers for a datagram sender would send to dst just before the record seq,
// made at at.
func (r *resolver) resolve(seq int, at time.Time, sender string, dst netip.AddrPort) sim.Resolution {
	if r.err != nil {
		return sim.Resolution{Reason: "topology: " + r.err.Error()}
	}
	end := r.next + sort.Search(r.log.Len()-r.next, func(k int) bool { return r.log.Head(r.next+k).Seq >= seq })
	batch := r.batch[:0]
	for ; r.next < end; r.next++ {
		if k := r.tr.Kind(r.next); k != sim.BindingCreated && k != sim.Translated && k != sim.BindingExpired {
			continue // nothing a NAT table replays
		}
		if batch = append(batch, r.log.Head(r.next)); len(batch) == replayBatch {
			r.net.Replay(batch...)
			batch = batch[:0]
		}
	}
	r.net.Replay(batch...)
	r.batch = batch
	return r.net.ResolveAt(at, sender, r.port[sender], dst)
}

// replayBatch is how many records the resolver decodes before replaying them at once.
const replayBatch = 256

func (r *resolver) close() { _ = r.net.Close() }
