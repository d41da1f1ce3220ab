// Package match holds Gomega matchers that state a run's facts in SIP terms,
// and a Ginkgo helper that turns a folder of scenario files into table
// entries, for teams that assert on sipnatlab runs in their own suites:
//
//	res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
//	Expect(err).NotTo(HaveOccurred())
//	Expect(res).To(match.DeliverACKToCallee(match.Within(64 * scenario.T1)))
//	Expect(res).To(match.BlameHost("none"))
//	Expect(res.Call(0)).NotTo(match.HaveCalleeBYE())
//
// A matcher takes a *harness.Result (it looks at the first call) or a
// *judge.CallFacts. A failed match explains itself: what became of the call and
// the fix first, then its facts, its diagnosis and the ladder of its own datagrams.
package match

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/judge"

	"github.com/onsi/gomega/types"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// subject unpacks what a matcher was given.
func subject(actual any) (*harness.Result, *judge.CallFacts, error) {
	switch v := actual.(type) {
	case *harness.Result:
		if v == nil {
			return nil, nil, fmt.Errorf("expected a run result, got nil")
		}
		c := v.Call(0)
		if c == nil {
			return v, nil, fmt.Errorf("the run %q placed no call", v.Scenario.Name)
		}
		return v, c, nil
	case *judge.CallFacts:
		if v == nil {
			return nil, nil, fmt.Errorf("expected a call, got nil (is there such a call?)")
		}
		return nil, v, nil
	case judge.CallFacts:
		return nil, &v, nil
	}
	return nil, nil, fmt.Errorf("expected a *harness.Result or *judge.CallFacts, got %T", actual)
}

// explain describes a call for a failure message: what became of it, the fix, its
// facts and diagnosis and, when the whole result is at hand, the ladder of its own
// datagrams (no registrations, no other call), so the message stays short.
func explain(res *harness.Result, c *judge.CallFacts) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", report.CallOutcome(*c))
	if c.Fix != "" {
		fmt.Fprintf(&b, "fix: %s\n", c.Fix)
	}
	fmt.Fprintf(&b, "call %s -> %s: ACK at callee %v, 200 OK retransmitted %d times, callee BYE %v, Contact at caller %s, ACK lost at %q, blame %q\n",
		c.From, c.To, c.ACKAtCallee, c.OKRetransmissions, c.CalleeBYE, c.ContactAtCaller, c.ACKLostAt, c.Blame)
	fmt.Fprintf(&b, "diagnosis: %s\n", c.Diagnosis)
	if res != nil {
		fmt.Fprintf(&b, "\nscenario %s (%s), %s time, seed %d; the ladder of this call (sipnatlab run for the whole run):\n",
			res.Scenario.Name, res.Scenario.File, res.Clock, res.Seed)
		report.WriteCallLadder(&b, res, c.CallID, report.TextOptions{})
	}
	return b.String()
}

type matcher struct {
	match    func(res *harness.Result, c *judge.CallFacts) (bool, error)
	positive string // what was expected, e.g. "the ACK for the 2xx to reach the callee"
	negative string
}

func (m *matcher) Match(actual any) (bool, error) {
	res, c, err := subject(actual)
	if err != nil {
		return false, err
	}
	return m.match(res, c)
}

func (m *matcher) FailureMessage(actual any) string {
	res, c, err := subject(actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Expected %s, but:\n%s", m.positive, explain(res, c))
}

func (m *matcher) NegatedFailureMessage(actual any) string {
	res, c, err := subject(actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Expected %s, but:\n%s", m.negative, explain(res, c))
}

// Bound limits how late the ACK may reach the callee: a time.Duration, or a
// scenario.TimerMultiple such as 64*scenario.T1 (taken in the scenario's T1).
type Bound interface {
	time.Duration | scenario.TimerMultiple
}

// ACKOption refines DeliverACKToCallee.
type ACKOption struct {
	limit  time.Duration
	t1s    scenario.TimerMultiple
	timers bool
}

// Within requires the ACK to reach the callee no later than d after its
// first 2xx (the contract's ack-within).
func Within[D Bound](d D) ACKOption {
	switch v := any(d).(type) {
	case scenario.TimerMultiple:
		return ACKOption{t1s: v, timers: true}
	case time.Duration:
		return ACKOption{limit: v}
	}
	panic("unreachable")
}

// DeliverACKToCallee succeeds when the ACK for the callee's 2xx reached the
// callee UA itself (not just a proxy on the way), within the bound if one is
// given.
func DeliverACKToCallee(opts ...ACKOption) types.GomegaMatcher {
	what := "the ACK for the 2xx to reach the callee"
	for _, o := range opts {
		if o.timers {
			what += fmt.Sprintf(" within %g*T1", float64(o.t1s))
		} else {
			what += fmt.Sprintf(" within %s", o.limit)
		}
	}
	return &matcher{
		positive: what,
		negative: "the ACK for the 2xx never to reach the callee",
		match: func(res *harness.Result, c *judge.CallFacts) (bool, error) {
			if !c.ACKAtCallee {
				return false, nil
			}
			for _, o := range opts {
				limit := o.limit
				if o.timers {
					if res == nil {
						return false, fmt.Errorf("Within(N*scenario.T1) needs the *harness.Result to know the scenario's T1")
					}
					limit = o.t1s.Of(res.Scenario)
				}
				if c.ACKDelay == nil || *c.ACKDelay > limit {
					return false, nil
				}
			}
			return true, nil
		},
	}
}

// BlameHost succeeds when the judged blame is host: the first host on the
// reply path whose outgoing 2xx Contact no longer led to the callee. "none"
// (or "") expects that no host is to blame.
func BlameHost(host string) types.GomegaMatcher {
	want := host
	if want == "none" {
		want = ""
	}
	label := host
	if want == "" {
		label = "no host"
	}
	return &matcher{
		positive: fmt.Sprintf("%s to be blamed for the Contact of the 200 OK", label),
		negative: fmt.Sprintf("%s not to be blamed for the Contact of the 200 OK", label),
		match: func(_ *harness.Result, c *judge.CallFacts) (bool, error) {
			return c.Blame == want, nil
		},
	}
}

// LoseACKAt succeeds when the ACK went no further than host.
func LoseACKAt(host string) types.GomegaMatcher {
	return &matcher{
		positive: fmt.Sprintf("the ACK to be lost at %s", host),
		negative: fmt.Sprintf("the ACK not to be lost at %s", host),
		match: func(_ *harness.Result, c *judge.CallFacts) (bool, error) {
			return !c.ACKAtCallee && c.ACKLostAt == host, nil
		},
	}
}

// HaveCalleeBYE succeeds when the callee ended the call itself with a BYE
// because no ACK came (RFC 3261 §13.3.1.4).
func HaveCalleeBYE() types.GomegaMatcher {
	return &matcher{
		positive: "the callee to hang up with BYE after waiting in vain for the ACK",
		negative: "the callee to keep the call (no BYE of its own)",
		match: func(_ *harness.Result, c *judge.CallFacts) (bool, error) {
			return c.CalleeBYE, nil
		},
	}
}

// HaveContactAtCaller succeeds when the 200 OK reached the caller with this
// Contact URI (e.g. "sip:bob@203.0.113.50:40000").
func HaveContactAtCaller(uri string) types.GomegaMatcher {
	return &matcher{
		positive: fmt.Sprintf("the caller to see the Contact %s", uri),
		negative: fmt.Sprintf("the caller not to see the Contact %s", uri),
		match: func(_ *harness.Result, c *judge.CallFacts) (bool, error) {
			return c.ContactAtCaller == uri, nil
		},
	}
}

// PassExpectations succeeds when every key of the scenario's expect block
// held.
func PassExpectations() types.GomegaMatcher {
	return &passMatcher{}
}

type passMatcher struct{}

func (passMatcher) Match(actual any) (bool, error) {
	res, ok := actual.(*harness.Result)
	if !ok || res == nil {
		return false, fmt.Errorf("PassExpectations expects a *harness.Result, got %T", actual)
	}
	return res.Passed, nil
}

func (passMatcher) FailureMessage(actual any) string {
	res := actual.(*harness.Result)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Expected scenario %q to meet its expect block, but:\n%s\n", res.Scenario.Name, report.NewHeadline(res.Scenario, res, nil))
	for _, e := range res.Expectations {
		if !e.OK {
			fmt.Fprintf(&b, "  %s (line %d): want %s, got %s\n", e.Key, e.Line, e.Want, e.Got)
		}
	}
	if c := res.Call(0); c != nil {
		b.WriteString(explain(res, c))
	}
	return b.String()
}

func (passMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected scenario %q to fail its expect block, but every key held", actual.(*harness.Result).Scenario.Name)
}
