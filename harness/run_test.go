package harness_test

import (
	"context"
	"fmt"

	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

type outcome struct {
	res *harness.Result
	err error
}

// runAll runs the scenarios concurrently, each in its own world, so the
// suite waits for the longest RFC timer once, not once per scenario.
func runAll(ctx context.Context, scenarios []*harness.Scenario) map[string]outcome {
	out := make(map[string]outcome, len(scenarios))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range scenarios {
		wg.Go(func() {
			res, err := harness.Run(ctx, s, harness.Options{})
			mu.Lock()
			out[s.Name] = outcome{res, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// scenarioFiles lists the bundled scenarios when the tree is built, one
// table entry each.
func scenarioFiles() []TableEntry {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	var entries []TableEntry
	for _, f := range files {
		entries = append(entries, Entry(filepath.Base(f), f))
	}
	return entries
}

func okSendTimes(res *harness.Result, callee string) []time.Duration {
	var first time.Time
	var out []time.Duration
	for _, r := range res.Capture {
		if r.Kind != sim.Sent || r.Hop != callee || !strings.HasPrefix(string(r.Data), "SIP/2.0 200") || !strings.Contains(string(r.Data), "INVITE\r\n") {
			continue
		}
		if first.IsZero() {
			first = r.Time
		}
		out = append(out, r.Time.Sub(first))
	}
	return out
}

func countEvents(res *harness.Result, host string, kind ua.EventKind) int {
	n := 0
	for _, e := range res.Events {
		if e.Host == host && e.Kind == string(kind) {
			n++
		}
	}
	return n
}

var _ = Describe("bundled scenarios on loopback sockets in real time", Ordered, Label("loopback"), func() {
	var (
		results   map[string]outcome
		byFile    map[string]*harness.Scenario
		leakCheck error
	)

	BeforeAll(func(ctx SpecContext) {
		ignore := goleak.IgnoreCurrent()
		scenarios, err := harness.LoadDir("../scenarios")
		Expect(err).NotTo(HaveOccurred())
		byFile = map[string]*harness.Scenario{}
		for _, s := range scenarios {
			byFile[filepath.Clean(s.File)] = s
		}
		results = runAll(ctx, scenarios)
		leakCheck = goleak.Find(ignore)
	}, NodeTimeout(3*time.Minute))

	It("leaves no goroutine behind", func() {
		Expect(leakCheck).NotTo(HaveOccurred())
	})

	DescribeTable("the expect block holds and the facts agree with the UAs' own events",
		func(file string) {
			s := byFile[filepath.Clean(file)]
			Expect(s).NotTo(BeNil(), "scenario %s not loaded", file)
			o := results[s.Name]
			Expect(o.err).NotTo(HaveOccurred())
			Expect(o.res.Expectations).To(HaveLen(len(s.Expect)))
			for _, e := range o.res.Expectations {
				Expect(e.OK).To(BeTrue(), "line %d: %s: want %s, got %s\n%s", e.Line, e.Key, e.Want, e.Got, o.res.Calls[0].Diagnosis)
			}
			Expect(o.res.Passed).To(BeTrue())
			Expect(o.res.Calls).NotTo(BeEmpty())

			call := o.res.Calls[0]
			Expect(call.Answered).To(BeTrue())
			Expect(call.OKRetransmissions).To(Equal(countEvents(o.res, call.To, ua.OKRetransmitted)))
			Expect(call.ACKAtCallee).To(Equal(countEvents(o.res, call.To, ua.ACKReceived) > 0))
			Expect(call.CalleeBYE).To(Equal(countEvents(o.res, call.To, ua.ACKTimeout) > 0))
			Expect(call.Diagnosis).NotTo(BeEmpty())

			// RFC 3261 §13.3.1.4: retransmissions at T1, 3*T1, 7*T1 ... after the
			// first 2xx, the interval doubling up to T2. Timers never fire early.
			sends := okSendTimes(o.res, call.To)
			Expect(sends).To(HaveLen(call.OKRetransmissions + 1))
			nominal, interval := time.Duration(0), s.Timers.T1
			for i := 1; i < len(sends); i++ {
				nominal += interval
				Expect(sends[i]).To(BeNumerically(">=", nominal), "retransmission %d", i)
				interval = min(2*interval, s.Timers.T2)
			}
		},
		scenarioFiles(),
	)

	It("no-nat-handling: the private Contact is relayed unchanged and the ACK dies at proxy-b", func() {
		c := results["no-nat-handling"].res.Calls[0]
		Expect(c.ContactAtCaller).To(Equal("sip:bob@192.168.1.10:5060"))
		Expect(c.ACKLostAt).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.OKRetransmissions).To(Equal(10))
		Expect(*c.CalleeBYEAfter).To(BeNumerically(">=", 32*time.Second))
		Expect(c.Diagnosis).To(ContainSubstring("fix_nated_contact()"))
		Expect(c.Diagnosis).To(ContainSubstring("no route to private address 192.168.1.10"))
	})

	It("excessive-nat-handling: proxy-a rewrites the good Contact to proxy-b, which swallows the ACK", func() {
		c := results["excessive-nat-handling"].res.Calls[0]
		Expect(c.ContactAtCaller).To(Equal("sip:bob@203.0.113.2:5060"))
		Expect(c.ACKLostAt).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-a"))
		Expect(c.OKRetransmissions).To(Equal(10))
		Expect(*c.CalleeBYEAfter).To(BeNumerically(">=", 32*time.Second))
		Expect(c.Hops).To(HaveLen(3))
		Expect(c.Hops[1].Out).To(Equal("sip:bob@203.0.113.50:40000"))
		Expect(c.Hops[1].Leads).To(BeTrue())
		Expect(c.Diagnosis).To(ContainSubstring("never to replies relayed by another proxy"))
	})

	It("correct-nat-handling: the ACK arrives before the first retransmission and alice ends the call", func() {
		o := results["correct-nat-handling"]
		c := o.res.Calls[0]
		Expect(c.ContactAtCaller).To(Equal("sip:bob@203.0.113.50:40000"))
		Expect(c.ACKLostAt).To(BeEmpty())
		Expect(c.Blame).To(BeEmpty())
		Expect(c.OKRetransmissions).To(Equal(0))
		Expect(*c.ACKDelay).To(BeNumerically("<", o.res.Scenario.Timers.T1))
		Expect(countEvents(o.res, "alice", ua.BYESent)).To(Equal(1))
		Expect(countEvents(o.res, "bob", ua.BYEReceived)).To(Equal(1))
		Expect(countEvents(o.res, "bob", ua.BYESent)).To(Equal(0))
	})
})

const matrixTemplate = `name: matrix-%[1]s-%[2]s
timers: {t1: 50ms, t2: 400ms}
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: %[1]s}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: %[2]s}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b%[3]s}
steps:
  - call: {from: alice, to: bob, via: proxy-a, talk: 100ms}
`

var _ = Describe("proxy reply-route Contact policies", Label("loopback"), func() {
	// Only the proxy next to the NATed callee may fix the Contact; the other
	// must leave a relayed reply alone (BACKGROUND.md).
	type want struct {
		arrives bool
		blame   string
		lostAt  string
	}
	cases := map[[2]string]want{
		{"none", "none"}:           {false, "proxy-b", "proxy-b"},
		{"excessive", "none"}:      {false, "proxy-b", "proxy-b"},
		{"correct", "none"}:        {false, "proxy-b", "proxy-b"},
		{"none", "excessive"}:      {true, "", ""},
		{"correct", "excessive"}:   {true, "", ""},
		{"excessive", "excessive"}: {false, "proxy-a", "proxy-b"},
		{"none", "correct"}:        {true, "", ""},
		{"correct", "correct"}:     {true, "", ""},
		{"excessive", "correct"}:   {false, "proxy-a", "proxy-b"},
	}

	It("decide where the ACK goes for all nine combinations of proxy-a and proxy-b", func(ctx SpecContext) {
		var scenarios []*harness.Scenario
		for k := range cases {
			s, err := harness.Parse(fmt.Sprintf("matrix-%s-%s.yaml", k[0], k[1]), []byte(fmt.Sprintf(matrixTemplate, k[0], k[1], "")))
			Expect(err).NotTo(HaveOccurred())
			scenarios = append(scenarios, s)
		}
		results := runAll(ctx, scenarios)
		for k, w := range cases {
			o := results["matrix-"+k[0]+"-"+k[1]]
			Expect(o.err).NotTo(HaveOccurred())
			c := o.res.Calls[0]
			Expect(c.ACKAtCallee).To(Equal(w.arrives), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.Blame).To(Equal(w.blame), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.ACKLostAt).To(Equal(w.lostAt), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.CalleeBYE).To(Equal(!w.arrives))
		}
	}, SpecTimeout(time.Minute))

	It("honours a callee's own ack-timeout: BYE after it, retransmissions only before it", func(ctx SpecContext) {
		s, err := harness.Parse("ack-timeout.yaml", []byte(fmt.Sprintf(matrixTemplate, "none", "none", ", ack-timeout: 1s")))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{})
		Expect(err).NotTo(HaveOccurred())
		c := res.Calls[0]
		Expect(c.CalleeBYE).To(BeTrue())
		Expect(*c.CalleeBYEAfter).To(BeNumerically(">=", time.Second))
		// 50, 150, 350, 750 ms; the next (1150 ms) would fall after the timeout.
		Expect(c.OKRetransmissions).To(Equal(4))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("a run", func() {
	It("stops at once when its context is cancelled, still returning what it captured", func() {
		s, err := harness.Parse("cancel.yaml", []byte(fmt.Sprintf(matrixTemplate, "none", "none", "")))
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := harness.Run(ctx, s, harness.Options{})
		Expect(err).To(MatchError(harness.ErrRun))
		Expect(res).NotTo(BeNil())
		Expect(res.Passed).To(BeFalse())
	})
})
