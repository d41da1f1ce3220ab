package harness_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"

	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

type outcome struct {
	res *harness.Result
	err error
}

// runAll runs the scenarios concurrently, each in its own world, so the
// suite waits for the longest RFC timer once, not once per scenario.
func runAll(ctx context.Context, scenarios []*scenario.Scenario, mode harness.ClockMode) map[string]outcome {
	out := make(map[string]outcome, len(scenarios))
	var mu sync.Mutex
	var wg sync.WaitGroup
	// At most ten real-time runs at once: their call set-ups, all at the start,
	// otherwise contend for two cores and a retransmission comes more than 1*T1
	// late.
	slots := make(chan struct{}, 10)
	for _, s := range scenarios {
		wg.Go(func() {
			if mode != harness.Simulated {
				slots <- struct{}{}
				defer func() { <-slots }()
			}
			res, err := harness.Run(ctx, s, harness.Options{Clock: mode})
			mu.Lock()
			out[s.Name] = outcome{res, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func okSendTimes(res *harness.Result, callee string) []time.Duration {
	var first time.Time
	var out []time.Duration
	for _, r := range res.Capture.All() {
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

// nominalRetransmissions are the offsets of the 2xx retransmissions from the
// first 2xx that RFC 3261 §13.3.1.4 prescribes: T1, 3*T1, 7*T1 ..., the
// interval doubling up to T2, all before the ACK timeout.
func nominalRetransmissions(t1, t2, ackTimeout time.Duration) []time.Duration {
	var out []time.Duration
	at, interval := t1, t1
	for at < ackTimeout {
		out = append(out, at)
		interval = min(2*interval, t2)
		at += interval
	}
	return out
}

func checkExpectations(s *scenario.Scenario, o outcome) {
	Expect(o.err).NotTo(HaveOccurred())
	Expect(o.res.Expectations).To(HaveLen(len(s.Expect)))
	for _, e := range o.res.Expectations {
		Expect(e.OK).To(BeTrue(), "line %d: %s: want %s, got %s\n%s", e.Line, e.Key, e.Want, e.Got, o.res.Calls[0].Diagnosis)
	}
	Expect(o.res.Passed).To(BeTrue())
	Expect(o.res.Calls).NotTo(BeEmpty())

	call := o.res.Calls[0]
	Expect(call.Answered).To(Equal(countEvents(o.res, call.To, ua.OKSent) > 0))
	// A call fails when the callee never answered or its 2xx never reached the caller.
	Expect(call.Answered && call.ContactAtCaller != "").To(Equal(o.res.Placed[0].Err == ""), "a call whose 2xx never reached the caller fails")
	Expect(call.OKRetransmissions).To(Equal(countEvents(o.res, call.To, ua.OKRetransmitted)))
	Expect(call.ACKAtCallee).To(Equal(countEvents(o.res, call.To, ua.ACKReceived) > 0))
	Expect(call.CalleeBYE).To(Equal(countEvents(o.res, call.To, ua.ACKTimeout) > 0))
	Expect(call.Diagnosis).NotTo(BeEmpty())
}

func calleeOf(s *scenario.Scenario, o outcome) scenario.Host {
	h, ok := s.Host(o.res.Calls[0].To)
	Expect(ok).To(BeTrue())
	return h
}

func loadBundled() map[string]*scenario.Scenario {
	scenarios, err := scenario.LoadDir("../scenarios")
	Expect(err).NotTo(HaveOccurred())
	byFile := map[string]*scenario.Scenario{}
	for _, s := range scenarios {
		byFile[filepath.Clean(s.File)] = s
	}
	return byFile
}

func values(m map[string]*scenario.Scenario) []*scenario.Scenario {
	var out []*scenario.Scenario
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

var _ = Describe("bundled scenarios in simulated time", Ordered, func() {
	var (
		results map[string]outcome
		byFile  map[string]*scenario.Scenario
	)

	BeforeAll(func(ctx SpecContext) {
		byFile = loadBundled()
		results = runAll(ctx, values(byFile), harness.Simulated)
	})

	DescribeTable("the expect block holds, the facts agree with the UAs' events, the timers are exact",
		func(file string) {
			s := byFile[filepath.Clean(file)]
			Expect(s).NotTo(BeNil(), "scenario %s not loaded", file)
			o := results[s.Name]
			checkExpectations(s, o)

			call := o.res.Calls[0]
			callee := calleeOf(s, o)
			sends := okSendTimes(o.res, call.To)
			if !call.Answered {
				Expect(sends).To(BeEmpty())
				return
			}
			if call.ACKAtCallee {
				Expect(sends).To(HaveLen(1))
				Expect(*call.ACKDelay).To(BeZero(), "the memory carrier has no latency")
				return
			}
			// Exactly RFC 3261 §13.3.1.4, and BYE exactly at the ACK timeout.
			Expect(sends[1:]).To(Equal(nominalRetransmissions(s.Timers.T1, s.Timers.T2, callee.AckTimeout)))
			Expect(*call.CalleeBYEAfter).To(Equal(callee.AckTimeout))
		},
		match.Entries("../scenarios"),
	)

	It("runs the same way every time", func(ctx SpecContext) {
		again := runAll(ctx, values(byFile), harness.Simulated)
		for name, o := range results {
			a, b := o.res, again[name].res
			Expect(b.Calls[0].OKRetransmissions).To(Equal(a.Calls[0].OKRetransmissions))
			Expect(b.Capture.Len()).To(Equal(a.Capture.Len()), name)
			for i := range a.Capture.Len() {
				Expect(b.Capture.At(i).Time.Sub(b.Start)).To(Equal(a.Capture.At(i).Time.Sub(a.Start)))
				Expect(b.Capture.At(i).Kind).To(Equal(a.Capture.At(i).Kind))
				Expect(b.Capture.At(i).Hop).To(Equal(a.Capture.At(i).Hop))
			}
		}
	})

	It("no-nat-handling: the private Contact is relayed unchanged and the ACK dies at proxy-b", func() {
		c := results["no-nat-handling"].res.Calls[0]
		Expect(c.ContactAtCaller).To(Equal("sip:bob@192.168.1.10:5060"))
		Expect(c.ACKLostAt).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.OKRetransmissions).To(Equal(10))
		Expect(*c.CalleeBYEAfter).To(Equal(32 * time.Second))
		Expect(c.Diagnosis).To(ContainSubstring("fix_nated_contact()"))
		Expect(c.Diagnosis).To(ContainSubstring("no route to private address 192.168.1.10"))
	})

	It("excessive-nat-handling: proxy-a rewrites the good Contact to proxy-b, which swallows the ACK", func() {
		c := results["excessive-nat-handling"].res.Calls[0]
		Expect(c.ContactAtCaller).To(Equal("sip:bob@203.0.113.2:5060"))
		Expect(c.ACKLostAt).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-a"))
		Expect(c.OKRetransmissions).To(Equal(10))
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
		Expect(countEvents(o.res, "alice", ua.BYESent)).To(Equal(1))
		Expect(countEvents(o.res, "bob", ua.BYEReceived)).To(Equal(1))
		Expect(countEvents(o.res, "bob", ua.BYESent)).To(Equal(0))
	})
})

// loopbackScale shrinks the bundled scenarios' timers for the loopback
// specs: T1 100 ms leaves 100 ms between the last 2xx retransmission
// (63*T1) and the ACK timeout (64*T1), and the specs accept a retransmission
// up to T1 late. At a tenth, the ACK of the correct cases was seen 63 ms
// after the 2xx while test processes started beside the run, beyond 1*T1.
const loopbackScale = 0.2

// loopbackMinT1 is the smallest T1 the loopback specs scale a scenario to: a
// scenario written with a short T1 (the pitfalls' 250 ms) is scaled less, so
// that its last 2xx retransmission keeps 100 ms before the ACK timeout (at
// 50 ms a loaded machine pushed the tenth past it).
const loopbackMinT1 = 100 * time.Millisecond

// loopbackScaled is s with its timers scaled by loopbackScale, or by less
// where that would bring T1 under loopbackMinT1.
func loopbackScaled(s *scenario.Scenario) *scenario.Scenario {
	f := loopbackScale
	if t1 := s.Timers.T1; t1 > 0 && time.Duration(f*float64(t1)) < loopbackMinT1 {
		f = min(1, float64(loopbackMinT1)/float64(t1))
	}
	return s.Scaled(f)
}

// loopbackLong is how long a scaled run may last for make test to wait on it:
// a scaled lost ACK's 64*T1 (6.4 s) and a little.
const loopbackLong = 7 * time.Second

// loopbackSlow are the bundled scenarios whose scaled run lasts longer than
// loopbackLong (binding-expiry 12.4 s, no-rport 19.2 s): their entries are
// labelled slow (make test-slow), and make test waits 6.6 s, not 19.2 s.
var loopbackSlow = map[string]bool{"binding-expiry.yaml": true, "no-rport.yaml": true}

// loopbackEntries are match.Entries of the bundled scenarios, those named in
// loopbackSlow labelled slow.
func loopbackEntries() []TableEntry {
	var out []TableEntry
	files, _ := filepath.Glob("../scenarios/*.yaml")
	for _, f := range files {
		if loopbackSlow[filepath.Base(f)] {
			out = append(out, Entry(filepath.Base(f), Label("slow"), f))
		} else {
			out = append(out, Entry(filepath.Base(f), f))
		}
	}
	return out
}

var _ = Describe(fmt.Sprintf("bundled scenarios on loopback sockets, timers scaled by %g (T1 at least %s)", loopbackScale, loopbackMinT1), Ordered, Label("loopback"), func() {
	var (
		real, simulated map[string]outcome
		scaled          map[string]*scenario.Scenario
		leakCheck       error
	)

	BeforeAll(func(ctx SpecContext) {
		ignore := goleak.IgnoreCurrent()
		// Only the scenarios whose entries the label filter lets run.
		filter := GinkgoLabelFilter()
		fast, slow := Label("loopback").MatchesLabelFilter(filter), Label("loopback", "slow").MatchesLabelFilter(filter)
		scaled = map[string]*scenario.Scenario{}
		for f, s := range loadBundled() {
			if loopbackSlow[filepath.Base(f)] && slow || !loopbackSlow[filepath.Base(f)] && fast {
				scaled[f] = loopbackScaled(s)
			}
		}
		real = runAll(ctx, values(scaled), harness.RealTime)
		simulated = runAll(ctx, values(scaled), harness.Simulated)
		leakCheck = goleak.Find(ignore)
	}, NodeTimeout(2*time.Minute))

	It("leaves no goroutine behind", func() {
		Expect(leakCheck).NotTo(HaveOccurred())
	})

	DescribeTable("the facts equal those of simulated time; retransmissions no earlier than nominal and each timer at most T1 late",
		func(file string) {
			s := scaled[filepath.Clean(file)]
			o, sim := real[s.Name], simulated[s.Name]
			took := sim.res.End.Sub(sim.res.Start)
			Expect(took > loopbackLong).To(Equal(loopbackSlow[filepath.Base(file)]), "%s lasts %s scaled: loopbackSlow names those longer than %s", file, took, loopbackLong)
			checkExpectations(s, o)
			a, b := o.res.Calls[0], sim.res.Calls[0]
			Expect(a.ACKAtCallee).To(Equal(b.ACKAtCallee))
			Expect(a.Blame).To(Equal(b.Blame))
			Expect(a.ACKLostAt).To(Equal(b.ACKLostAt))
			Expect(a.OKRetransmissions).To(Equal(b.OKRetransmissions))
			Expect(a.CalleeBYE).To(Equal(b.CalleeBYE))
			Expect(a.ContactAtCaller).To(Equal(b.ContactAtCaller))
			Expect(a.Hops).To(Equal(b.Hops))

			// Judged again from its pcapng, the real-time run gives the same facts.
			var pcap bytes.Buffer
			Expect(report.WritePcap(&pcap, o.res, o.err)).To(Succeed())
			back, _, err := report.ReadPcap(&pcap)
			Expect(err).NotTo(HaveOccurred())
			Expect(back.Calls).To(Equal(o.res.Calls))
			Expect(back.Expectations).To(Equal(o.res.Expectations))

			sends := okSendTimes(o.res, a.To)
			want := okSendTimes(sim.res, b.To)
			Expect(sends).To(HaveLen(len(want)))
			// Never early; each timer (the interval since the previous send) at most
			// T1 late, so that the scheduling delays of a loaded machine do not add up
			// over a schedule of eleven timers.
			for i := 1; i < len(sends); i++ {
				Expect(sends[i]).To(BeNumerically(">=", want[i]), "retransmission %d", i)
				Expect(sends[i]-sends[i-1]).To(BeNumerically("<=", want[i]-want[i-1]+s.Timers.T1), "retransmission %d", i)
			}
		},
		loopbackEntries(),
	)
})

var _ = Describe("bundled scenarios at their own timers on loopback in real time", Ordered, Label("loopback", "realtime"), func() {
	var (
		results map[string]outcome
		byFile  map[string]*scenario.Scenario
	)

	BeforeAll(func(ctx SpecContext) {
		byFile = loadBundled()
		results = runAll(ctx, values(byFile), harness.RealTime)
	}, NodeTimeout(3*time.Minute))

	DescribeTable("the expect block holds and the callee gives up at 32 s",
		func(file string) {
			s := byFile[filepath.Clean(file)]
			o := results[s.Name]
			checkExpectations(s, o)
			call := o.res.Calls[0]
			if call.Answered && !call.ACKAtCallee {
				Expect(call.OKRetransmissions).To(Equal(len(nominalRetransmissions(s.Timers.T1, s.Timers.T2, calleeOf(s, o).AckTimeout))))
				Expect(*call.CalleeBYEAfter).To(BeNumerically(">=", calleeOf(s, o).AckTimeout))
			}
		},
		match.Entries("../scenarios"),
	)
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

var _ = Describe("proxy reply-route Contact policies", func() {
	// Only the proxy next to the NATed callee may fix the Contact; the other
	// must leave a relayed reply alone (docs/lessons.md).
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
		var scenarios []*scenario.Scenario
		for k := range cases {
			s, err := scenario.Parse(fmt.Sprintf("matrix-%s-%s.yaml", k[0], k[1]), []byte(fmt.Sprintf(matrixTemplate, k[0], k[1], "")))
			Expect(err).NotTo(HaveOccurred())
			scenarios = append(scenarios, s)
		}
		results := runAll(ctx, scenarios, harness.Simulated)
		for k, w := range cases {
			o := results["matrix-"+k[0]+"-"+k[1]]
			Expect(o.err).NotTo(HaveOccurred())
			c := o.res.Calls[0]
			Expect(c.ACKAtCallee).To(Equal(w.arrives), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.Blame).To(Equal(w.blame), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.ACKLostAt).To(Equal(w.lostAt), "proxy-a %s, proxy-b %s: %s", k[0], k[1], c.Diagnosis)
			Expect(c.CalleeBYE).To(Equal(!w.arrives))
		}
	})

	It("honours a callee's own ack-timeout: BYE at it, retransmissions only before it", func(ctx SpecContext) {
		s, err := scenario.Parse("ack-timeout.yaml", []byte(fmt.Sprintf(matrixTemplate, "none", "none", ", ack-timeout: 1s")))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		c := res.Calls[0]
		Expect(c.CalleeBYE).To(BeTrue())
		Expect(*c.CalleeBYEAfter).To(Equal(time.Second))
		// 50, 150, 350, 750 ms; the next (1150 ms) would fall after the timeout.
		Expect(c.OKRetransmissions).To(Equal(4))
	})
})

var _ = Describe("a run", func() {
	It("stops at once when its context is cancelled, still returning what it captured", func() {
		s, err := scenario.Parse("cancel.yaml", []byte(fmt.Sprintf(matrixTemplate, "none", "none", "")))
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := harness.Run(ctx, s, harness.Options{})
		Expect(err).To(MatchError(harness.ErrRun))
		Expect(res).NotTo(BeNil())
		Expect(res.Passed).To(BeFalse())
	})
})

var _ = Describe("a bounded load through the correct-handling chain", func() {
	load := `name: load
timers: {t1: 500ms, t2: 4s}
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: correct}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a, talk: %s, count: %d, concurrency: %d}
expect:
  ack-at-callee: true
  callee-bye: false
`
	check := func(res *harness.Result, n int) {
		Expect(res.Passed).To(BeTrue())
		Expect(res.Calls).To(HaveLen(n))
		for _, c := range res.Calls {
			Expect(c.ACKAtCallee).To(BeTrue(), c.Diagnosis)
			Expect(c.CalleeBYE).To(BeFalse())
		}
		for _, r := range res.Capture.All() {
			Expect(r.Kind).NotTo(Equal(sim.Dropped), "%s: %s", r.Hop, r.Reason)
		}
	}

	// One run serves both: a second one would double the suite's most
	// expensive spec (about 4 s of CPU under -race). A load: make test-slow.
	It("delivers every ACK of 1000 calls, 100 at a time, in simulated time, and leaves the heap where it found it", Label("slow"), func(ctx SpecContext) {
		s, err := scenario.Parse("load.yaml", []byte(fmt.Sprintf(load, "1s", 1000, 100)))
		Expect(err).NotTo(HaveOccurred())
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		check(res, 1000)
		for _, c := range res.Calls {
			Expect(c.OKRetransmissions).To(BeZero())
		}
		// 10 waves of 100 calls, each up for 1 s of talk.
		Expect(res.End.Sub(res.Start)).To(Equal(10 * time.Second))
		held := heap()
		runtime.KeepAlive(res)
		// The result holds the capture, the single record of the run: its
		// every datagram, so the heap grows with it until the result goes.
		Expect(held).To(BeNumerically(">", before+1<<20))
		after := heap()
		GinkgoWriter.Printf("heap: %d B before the run, %d B holding its result, %d B after it\n", before, held, after)
		Expect(after).To(BeNumerically("<", before+2<<20), "heap %d B before the run, %d B after it", before, after)
	})

	// Serial: its CPU would make the real-time specs running beside it late.
	// A load: make test-slow.
	It("delivers every ACK of 200 calls, 50 at a time, on loopback", Label("loopback", "slow"), Serial, func(ctx SpecContext) {
		s, err := scenario.Parse("load.yaml", []byte(fmt.Sprintf(load, "200ms", 200, 50)))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{})
		Expect(err).NotTo(HaveOccurred())
		check(res, 200)
	})
})
