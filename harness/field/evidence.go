package field

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Confidence words, from strongest to weakest. "certain" is what a packet in the
// capture shows; the others are inferences, strongest when the callee's own behaviour
// (its 2xx retransmissions, its BYE) agrees with them.
const (
	Certain       = "certain"
	AlmostCertain = "almost certain"
	Likely        = "likely"
	Possible      = "possible"
)

// observation says how a record of a datagram is known: seen (basis: where) or
// inferred (basis: from what).
type observation struct {
	inferred bool
	basis    string
}

type datagramEvidence struct{ sent, end observation }

// Statement is one thing the capture shows about a call, with how sure it is.
type Statement struct {
	Confidence string `json:"confidence"`
	Text       string `json:"text"`
}

// CallEvidence is what the capture shows for certain about one call and what is
// inferred, and the callee's 2xx retransmission schedule.
type CallEvidence struct {
	CallID     string      `json:"call_id"`
	Statements []Statement `json:"statements"`
	// OKSent are the instants the callee sent its 2xx, from the first.
	OKSent []time.Duration `json:"-"`
	// T1 and T2 estimated from the schedule (0: not shown).
	T1, T2 time.Duration `json:"-"`
	// Schedule says whether the retransmissions follow T1·2ⁿ capped at T2.
	Schedule string `json:"schedule,omitempty"`
	// HungUpForNoACK: the callee's BYE came about 64*T1 after its first 2xx.
	HungUpForNoACK bool `json:"hung_up_for_no_ack"`

	via string // the host the caller sent its INVITE to
}

// TimerEstimate is T1 and T2 estimated from every callee's 2xx retransmissions
// (RFC 3261 §13.3.1.4: T1, 2·T1, 4·T1 ... capped at T2).
type TimerEstimate struct {
	T1, T2 time.Duration // 0 when no retransmission showed it
	Calls  int           // calls whose schedule gave the estimate
}

func (e TimerEstimate) String() string {
	if e.T1 == 0 {
		return "no 2xx retransmissions: T1 and T2 not shown"
	}
	t2 := "T2 not reached"
	if e.T2 > 0 {
		t2 = "T2 ≈ " + e.T2.String()
	}
	return fmt.Sprintf("T1 ≈ %s, %s (from %d call(s)' 2xx retransmissions)", e.T1, t2, e.Calls)
}

// round rounds a measured interval to a millisecond (to a microsecond under 10 ms).
func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// near reports whether got is want within 10% plus 2 ms (capture timestamps and
// timer wheels are not exact).
func near(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/10+2*time.Millisecond
}

// schedule estimates T1 and T2 from the instants of a callee's 2xx and checks them
// against T1·2ⁿ capped at T2.
func schedule(sent []time.Duration) (t1, t2 time.Duration, verdict string) {
	if len(sent) < 2 {
		return 0, 0, ""
	}
	var iv []time.Duration
	for i := 1; i < len(sent); i++ {
		iv = append(iv, sent[i]-sent[i-1])
	}
	top := slices.Max(iv)
	capped := 0
	for _, d := range iv {
		if near(d, top) {
			capped++
		}
	}
	// T1 from every interval before the cap (interval n is T1·2ⁿ), T2 from the
	// capped ones: one late timer tick then weighs little.
	var sum, n time.Duration
	for i, d := range iv {
		if i > 0 && capped >= 2 && near(d, top) || i > 20 {
			break
		}
		sum += d >> i
		n++
	}
	t1 = round(sum / n)
	if capped >= 2 && len(iv) >= 3 {
		var tsum time.Duration
		for _, d := range iv {
			if near(d, top) {
				tsum += d
			}
		}
		t2 = round(tsum / time.Duration(capped))
	}
	want := t1
	for i, d := range iv {
		if t2 > 0 && want > t2 {
			want = t2
		}
		if !near(d, want) {
			return t1, t2, fmt.Sprintf("does not follow T1·2ⁿ capped at T2: interval %d is %s, want %s", i+1, round(d), want)
		}
		want *= 2
	}
	return t1, t2, "follows T1·2ⁿ capped at T2 (RFC 3261 §13.3.1.4)"
}

// timerCounts counts the T1 and T2 every callee's schedule showed, to the
// microsecond: bounded by the distinct values, not by the calls.
type timerCounts struct {
	t1, t2 map[time.Duration]int
	n1, n2 int
}

func (c *timerCounts) add(ev CallEvidence) {
	if ev.T1 <= 0 {
		return
	}
	if c.t1 == nil {
		c.t1, c.t2 = map[time.Duration]int{}, map[time.Duration]int{}
	}
	c.t1[ev.T1.Round(time.Microsecond)]++
	c.n1++
	if ev.T2 > 0 {
		c.t2[ev.T2.Round(time.Microsecond)]++
		c.n2++
	}
}

// estimate is the median T1 and T2 of the calls counted.
func (c *timerCounts) estimate() TimerEstimate {
	return TimerEstimate{T1: median(c.t1, c.n1), T2: median(c.t2, c.n2), Calls: c.n1}
}

// median returns the value at rank n/2 of the counted values (0 for none).
func median(counts map[time.Duration]int, n int) time.Duration {
	seen := 0
	for _, v := range slices.Sorted(maps.Keys(counts)) {
		if seen += counts[v]; seen > n/2 {
			return v
		}
	}
	return 0
}

// callEvidence says what the capture shows of call f for certain and what is inferred.
func (a *analyzer) callEvidence(tr *trace.Trace, f judge.CallFacts) CallEvidence {
	ce := CallEvidence{CallID: f.CallID}
	for _, d := range tr.Call(f.CallID) {
		if d.Sender() == f.From && trace.IsRequest(d.Message(), sip.INVITE) {
			if h := a.topo.hosts[d.Sent().Dst.Addr()]; h != nil {
				ce.via = h.name
			} else if in, _, ok := a.topo.internal(d.Sent().Dst); ok {
				ce.via = a.topo.host(in).name
			}
			break
		}
	}
	say := func(conf, format string, args ...any) {
		ce.Statements = append(ce.Statements, Statement{conf, fmt.Sprintf(format, args...)})
	}
	tag := ""
	var first time.Time
	steps := tr.Steps(f.CallID)
	for _, st := range steps {
		if ok, isOK := trace.Invite2xx(st.D.Message()); isOK && st.Kind == sim.Sent && st.Hop == f.To {
			if tag == "" {
				tag, first = trace.ToTag(ok), st.Time
			}
			ce.OKSent = append(ce.OKSent, st.Time.Sub(first))
		}
	}
	if !f.Answered {
		say(Certain, "%s sent no 2xx for the INVITE in the capture", orHost(f.To))
		return ce
	}

	// The 2xx schedule and the callee's BYE.
	ce.T1, ce.T2, ce.Schedule = schedule(ce.OKSent)
	if len(ce.OKSent) > 1 {
		say(Certain, "%s sent its 200 OK %d times, the last %s after the first; the schedule %s", f.To, len(ce.OKSent), round(ce.OKSent[len(ce.OKSent)-1]), ce.Schedule)
	}
	if f.CalleeBYE && f.CalleeBYEAfter != nil {
		t1 := ce.T1
		if t1 == 0 {
			t1 = endpoint.DefaultT1
		}
		if near(*f.CalleeBYEAfter, 64*t1) || (len(ce.OKSent) > 1 && *f.CalleeBYEAfter >= 32*t1) {
			ce.HungUpForNoACK = true
			say(AlmostCertain, "%s hung up because no ACK came: its BYE left %s after its first 200 OK, about 64·T1 = %s (Timer H, RFC 3261 §13.3.1.4)", f.To, round(*f.CalleeBYEAfter), 64*t1)
		} else {
			say(Certain, "%s sent a BYE %s after its first 200 OK, before any ACK reached it", f.To, round(*f.CalleeBYEAfter))
		}
	}

	// Where the ACK was last seen and what became of it.
	var ack *trace.Datagram
	for _, d := range tr.Call(f.CallID) {
		if d.SentIndex() >= 0 && trace.IsRequest(d.Message(), sip.ACK) && trace.ToTag(d.Message()) == tag {
			if ack == nil || d.Sender() == f.ACKLostAt || !f.ACKAtCallee {
				ack = d
			}
			if f.ACKAtCallee && d.Delivered() && d.End().Hop == f.To {
				ack = d
				break
			}
		}
	}
	switch {
	case ack == nil:
		say(Certain, "the capture holds no ACK for %s's 200 OK", f.To)
	default:
		ev := a.evidence[ack.ID]
		if ev == nil {
			ev = &datagramEvidence{}
		}
		ruri := ack.Message().(*sip.Request).Recipient.String()
		if ev.sent.inferred {
			say(Likely, "%s sent the ACK (Request-URI %s) to %s: inferred from %s", ack.Sender(), ruri, ack.Sent().Dst, ev.sent.basis)
		} else {
			say(Certain, "%s sent the ACK (Request-URI %s) to %s (%s)", ack.Sender(), ruri, ack.Sent().Dst, ev.sent.basis)
		}
		end := "it was never seen again"
		if ack.End() != nil {
			if ack.End().Kind == sim.Delivered {
				end = "it reached " + ack.End().Hop
			} else {
				end = fmt.Sprintf("it was dropped at %s: %s", ack.End().Hop, ack.End().Reason)
			}
		}
		conf := Certain
		if ev.end.inferred || ack.End() == nil {
			conf = Likely
			// The callee's behaviour agrees: it stopped retransmitting once the ACK
			// would have arrived, or retransmitted until it gave up.
			if (f.ACKAtCallee && !f.CalleeBYE) || (!f.ACKAtCallee && ce.HungUpForNoACK) {
				conf = AlmostCertain
			}
		}
		how := ev.end.basis
		if how == "" {
			how = "nothing in the capture shows where it went"
		}
		say(conf, "%s (%s)", end, how)
	}

	// The Contact at each hop: certain where both copies were captured.
	if f.Blame != "" {
		for i, h := range f.Hops {
			if h.Host != f.Blame {
				continue
			}
			conf := Certain
			basis := "both the 200 OK it received and the one it sent are in the capture"
			if !a.okSeen(steps, tag, h.Host, sim.Sent) || (i > 0 && !a.okSeen(steps, tag, h.Host, sim.Delivered)) {
				conf, basis = Likely, "not every copy of the 200 OK at this hop was captured"
			}
			if h.In == h.Out {
				say(conf, "%s passed the Contact %s on unchanged; it %s (%s)", h.Host, h.Out, h.Resolves, basis)
			} else {
				say(conf, "%s rewrote the Contact %s to %s, which %s (%s)", h.Host, h.In, h.Out, h.Resolves, basis)
			}
		}
	}
	// A Contact changed where no vantage point looked: the ACK names something else
	// than the last captured hop passed on.
	if f.Blame == "" && !f.ACKAtCallee && len(f.Hops) > 0 {
		last := f.Hops[len(f.Hops)-1]
		for i := len(f.Hops) - 1; i >= 0; i-- {
			if a.okSeen(steps, tag, f.Hops[i].Host, sim.Sent) {
				last = f.Hops[i]
				break
			}
		}
		for _, d := range tr.Call(f.CallID) {
			if d.SentIndex() < 0 || !trace.IsRequest(d.Message(), sip.ACK) || trace.ToTag(d.Message()) != tag {
				continue
			}
			if ruri := d.Message().(*sip.Request).Recipient.String(); ruri != last.Out {
				say(Likely, "a hop the capture does not show changed the Contact of the 200 OK after %s: %s passed on %s, but the ACK's Request-URI is %s; look at the reply route of the proxies between %s and %s",
					last.Host, last.Host, last.Out, ruri, last.Host, f.From)
			}
			break
		}
	}
	// ICMP errors tied to the call's datagrams.
	var icmps []string
	count := map[string]int{}
	for _, d := range tr.Call(f.CallID) {
		if d.Dropped() && strings.HasPrefix(d.End().Reason, "ICMP ") && d.SentIndex() >= 0 {
			t := fmt.Sprintf("%s sent %s to %s and got %s", d.Sender(), label(d.Message()), d.End().Dst, d.End().Reason)
			if count[t] == 0 {
				icmps = append(icmps, t)
			}
			count[t]++
		}
	}
	for _, t := range icmps {
		if n := count[t]; n > 1 {
			t += fmt.Sprintf(", %d times", n)
		}
		say(Certain, "%s", t)
	}
	return ce
}

// okSeen reports whether a copy of the callee's 2xx that hop sent (or received) was
// captured rather than inferred, from the steps of its call.
func (a *analyzer) okSeen(steps []trace.Step, tag, hop string, kind sim.Kind) bool {
	for _, st := range steps {
		ok, isOK := trace.Invite2xx(st.D.Message())
		if !isOK || trace.ToTag(ok) != tag || st.Hop != hop || st.Kind != kind {
			continue
		}
		ev := a.evidence[st.D.ID]
		if ev == nil {
			continue
		}
		if kind == sim.Sent && !ev.sent.inferred || kind == sim.Delivered && !ev.end.inferred {
			return true
		}
	}
	return false
}

func label(m sip.Message) string {
	switch m := m.(type) {
	case *sip.Request:
		return "the " + string(m.Method)
	case *sip.Response:
		return fmt.Sprintf("a %d %s", m.StatusCode, m.Reason)
	}
	return "a datagram"
}

func orHost(s string) string {
	if s == "" {
		return "the callee"
	}
	return s
}
