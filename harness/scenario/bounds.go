package scenario

// This file holds the bounds of the values that drive timers, and the bound of a run's
// length: a value outside them is refused with the bound and where it comes from, and
// no sum the runner makes of a scenario's durations can overflow.

import (
	"fmt"
	"math"
	"time"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/ua"
	"go.yaml.in/yaml/v3"
)

// Bounds of the values that drive timers, chosen from what real devices use: below them
// a run only floods itself with timer events, above them durations stop being counted.
const (
	// MinT1 and MaxT1 bound timers.t1, RFC 3261's round-trip estimate (§17.1.1.1,
	// 500 ms by default): no network is faster than a millisecond, and at a minute Timer
	// B (64*T1) is already over an hour.
	MinT1 = time.Millisecond
	MaxT1 = time.Minute
	// MinBindingTimeout bounds a NAT's binding-timeout: real NATs keep an idle UDP
	// binding for 30 s or more (RFC 4787 REQ-5 asks for at least 2 minutes).
	MinBindingTimeout = time.Second
	// MinKeepAliveInterval bounds a UA's keep-alive interval: real UAs send them tens of
	// seconds apart (RFC 5626 §4.4; 25 s by default here).
	MinKeepAliveInterval = time.Second
	// MaxRegisterExpires bounds register-expires: the Expires header holds 2^32-1 seconds
	// at most (RFC 3261 §20.19, delta-seconds).
	MaxRegisterExpires = math.MaxUint32 * time.Second
	// MaxRunTime bounds how long a run may last by the RFC timers of its steps (the
	// bound the runner waits for each step, summed over the steps): a year of simulated
	// time. The largest call step at the default timers (60000 calls one at a time)
	// takes up to 94 days of it, and it is far below the 292 years a time.Duration
	// holds, so none of these sums overflows.
	MaxRunTime = 365 * 24 * time.Hour
	// MaxPeriodicMessages bounds the keep-alives and re-registrations a UA may send in
	// the longest its run may last (MaxRunTime or less): every one of them is kept in
	// the capture with its way through the network. 197,100 of them (CRLF keep-alives
	// every 25 s for 1350 h) peaked at 747 MB in simulated time (BENCHMARKS.md, "Bounded
	// memory"); a year of keep-alives every second, 31.5 million, would need about 120 GB.
	MaxPeriodicMessages = 200000
	// MaxCallHops bounds the calls of a run weighted by their way: the sum over the call
	// steps of count times the hops of a call (the proxies on its route, and the callee).
	// Every hop of every call is kept in the capture, and a call whose ACK is lost costs
	// most: ten 2xx retransmissions, their ACKs and a BYE at every hop, 54 datagrams
	// through two proxies and a NAT. 20000 such calls, 1000 at a time, peaked at 1138 MB
	// in simulated time, and each 10000 more add about 500 MB (BENCHMARKS.md, "Bounded
	// memory"): 60000 call hops keep the worst case under 2 GB with room to spare.
	MaxCallHops = 60000
)

// bound is a sum of durations that saturates at MaxInt64 instead of overflowing.
type bound time.Duration

func (b bound) add(d time.Duration) bound {
	if d > 0 && b > bound(math.MaxInt64)-bound(d) {
		return math.MaxInt64
	}
	return b + bound(d)
}

func (b bound) times(n int) bound {
	if n > 0 && b > bound(math.MaxInt64)/bound(n) {
		return math.MaxInt64
	}
	return b * bound(n)
}

// RegisterBound is the longest a registration may take in a run of s: its transaction's
// Timer F (64*T1) and a second. The runner waits that long for one; the loader sums it
// into the run's bound.
func (s *Scenario) RegisterBound() time.Duration {
	return endpoint.Timers{T1: s.Timers.T1}.TransactionTimeout() + time.Second
}

// CallBound is the longest one call of the call step st may take in a run of s: talk,
// the callee's ACK timeout, three transaction timeouts (64*T1) and 5 s. The runner waits
// that long per call (per batch of concurrent calls); the loader sums it into the run's
// bound, where it cannot overflow.
func (s *Scenario) CallBound(st Step) time.Duration {
	return time.Duration(s.callBound(st))
}

func (s *Scenario) callBound(st Step) bound {
	to, _ := s.Host(st.To)
	ack := to.AckTimeout
	if ack <= 0 { // a Scenario made in Go without the loader
		ack = ua.DefaultAckTimeout(s.Timers.T1)
	}
	tx := endpoint.Timers{T1: s.Timers.T1}.TransactionTimeout()
	return bound(0).add(st.Talk).add(ack).add(3 * tx).add(5 * time.Second)
}

// runTime checks that the run's bound, the bounds of the registrations before the steps
// and of every step summed, stays within MaxRunTime. nodes holds the node of each step
// to point at: its value for a wait, the step for the others.
func (p *parser) runTime(nodes []*yaml.Node) error {
	explicit := map[string]bool{}
	for _, st := range p.s.Steps {
		if st.Kind == StepRegister {
			explicit[st.UA] = true
		}
	}
	var total bound
	for _, h := range p.s.Hosts {
		if h.Role == RoleUA && h.RegisterWith != "" && !explicit[h.Name] {
			total = total.add(p.s.RegisterBound())
		}
	}
	for i, st := range p.s.Steps {
		var step bound
		var what string
		path := fmt.Sprintf("steps[%d].%s", i, st.Kind)
		switch st.Kind {
		case StepRegister:
			step = bound(p.s.RegisterBound())
			what = "registering " + st.UA
		case StepWait:
			step = bound(0).add(st.Wait).add(time.Second)
			what = st.Wait.String()
		case StepCall:
			per := p.s.callBound(st)
			rounds := (st.Count + st.Concurrency - 1) / st.Concurrency
			step = per.times(rounds)
			each := "up to " + time.Duration(per).String()
			if per == math.MaxInt64 {
				each = "more than " + time.Duration(math.MaxInt64).Truncate(time.Hour).String()
			}
			what = fmt.Sprintf("%d calls of %s each (talk + ack-timeout + 3*64*T1 + 5s), %d at a time,", st.Count, each, st.Concurrency)
			if st.Count == 1 {
				what = fmt.Sprintf("a call of %s (talk + ack-timeout + 3*64*T1 + 5s)", each)
			}
		}
		if total = total.add(time.Duration(step)); total > bound(MaxRunTime) {
			return p.errf(nodes[i], path, "%s would make the run last longer than %s (a year), the longest run a scenario may describe", what, MaxRunTime)
		}
	}
	if err := p.callHops(nodes); err != nil {
		return err
	}
	return p.periodic(time.Duration(total))
}

// hops is the number of hops of a call of st: the proxies its INVITE crosses, from its via
// along the next-hops to the callee's registrar or the last proxy, and the callee. The
// route was checked before, so the walk ends; the seen set only guards it.
func (p *parser) hops(st Step) int {
	to, _ := p.hostNamed(st.To)
	n := 1
	seen := map[string]bool{}
	for name := st.Via; name != "" && !seen[name]; n++ {
		seen[name] = true
		h, ok := p.hostNamed(name)
		if !ok || h.Name == to.RegisterWith {
			n++
			break
		}
		name = h.NextHop
	}
	return n
}

// callHops checks the run's calls against MaxCallHops, naming the call step that passes it.
func (p *parser) callHops(nodes []*yaml.Node) error {
	total := 0
	walked := map[[2]string]int{} // hops by via and callee
	for i, st := range p.s.Steps {
		if st.Kind != StepCall {
			continue
		}
		h, ok := walked[[2]string{st.Via, st.To}]
		if !ok {
			h = p.hops(st)
			walked[[2]string{st.Via, st.To}] = h
		}
		count := max(st.Count, 1)
		if total += count * h; total > MaxCallHops {
			return p.errf(nodes[i], fmt.Sprintf("steps[%d].call", i),
				"%d calls of %d hops each (the proxies on the route and the callee) bring the run to %d call hops, more than the %d a run may hold in memory; place fewer calls, or split the load over several scenarios",
				count, h, total, MaxCallHops)
		}
	}
	return nil
}

// periodic checks that no UA sends more than MaxPeriodicMessages keep-alives and
// re-registrations (one every half of register-expires, RFC 3261 §10.2.4) in a run of
// length run, the run's bound.
func (p *parser) periodic(run time.Duration) error {
	for _, h := range p.s.Hosts {
		if h.Role != RoleUA || h.RegisterWith == "" {
			continue
		}
		expires := h.RegisterExpires
		if expires <= 0 {
			expires = ua.DefaultRegisterExpires
		}
		n := int64(run / max(expires/2, time.Second))
		what := fmt.Sprintf("a re-registration every %s (half of register-expires %s)", expires/2, expires)
		field := "register-expires"
		if k := h.KeepAlive; k != nil && k.Method != ua.NoKeepAlive && k.Interval > 0 {
			n += int64(run / k.Interval)
			what += fmt.Sprintf(" and a keep-alive every %s", k.Interval)
			field = "keep-alive"
		}
		if n > MaxPeriodicMessages {
			return p.errAt(h.Line, "hosts."+h.Name+"."+field,
				"%s over the run's %s (the bound of its steps) make %d messages, more than the %d a UA may send in one run; each is kept in the capture: send them less often or shorten the steps",
				what, run, n, MaxPeriodicMessages)
		}
	}
	return nil
}
