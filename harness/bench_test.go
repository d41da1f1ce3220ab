package harness_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// benchChain is the correct-handling two-proxy chain of the bundled scenarios, with
// a load step: calls through alice -> proxy-a -> proxy-b -> home-nat -> bob.
const benchChain = `name: bench-chain
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: correct}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a, talk: %s, count: %d, concurrency: %d}
`

// benchCalls runs bounded batches of calls (count per batch, fixed) and
// reports calls/s; every call must have its ACK delivered.
func benchCalls(b *testing.B, mode harness.ClockMode, talk string, count, conc int) {
	s, err := scenario.Parse("bench.yaml", []byte(fmt.Sprintf(benchChain, talk, count, conc)))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	calls := 0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res, err := harness.Run(ctx, s, harness.Options{Clock: mode})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range res.Calls {
			if !c.ACKAtCallee {
				b.Fatalf("call %s lost its ACK: %s", c.CallID, c.Diagnosis)
			}
		}
		calls += len(res.Calls)
	}
	b.ReportMetric(float64(calls)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkCallsSimulated: 200 calls, 50 at a time, in simulated time.
func BenchmarkCallsSimulated(b *testing.B) { benchCalls(b, harness.Simulated, "1s", 200, 50) }

// BenchmarkCallsLoopback: 200 calls, 50 at a time, on loopback sockets in
// real time with 10 ms of talk; wall time is bound by the sockets and actors.
func BenchmarkCallsLoopback(b *testing.B) { benchCalls(b, harness.RealTime, "10ms", 200, 50) }

// BenchmarkTimerAccuracyLoopback runs no-nat-handling on loopback with timers
// scaled by 0.1 (T1 = 50 ms) and reports how late the callee's 2xx
// retransmissions were against T1*2^n capped at T2: mean and worst, in
// microseconds.
func BenchmarkTimerAccuracyLoopback(b *testing.B) {
	s, err := scenario.Load(filepath.Join("..", "scenarios", "no-nat-handling.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	s = s.Scaled(0.1)
	callee, _ := s.Host("bob")
	want := nominalRetransmissions(s.Timers.T1, s.Timers.T2, callee.AckTimeout)
	var sum, worst time.Duration
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := harness.Run(context.Background(), s, harness.Options{})
		if err != nil {
			b.Fatal(err)
		}
		got := okSendTimes(res, "bob")
		if len(got) != len(want)+1 {
			b.Fatalf("%d retransmissions, want %d", len(got)-1, len(want))
		}
		for j, w := range want {
			d := got[j+1] - w
			sum += d
			worst = max(worst, d)
			n++
		}
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(n), "mean-late-µs")
	b.ReportMetric(float64(worst.Microseconds()), "worst-late-µs")
}

// BenchmarkSuiteSimulated runs every bundled scenario in simulated time and
// reports the ratio of wall time to the simulated time the scenarios span
// (their RFC timer bounds): how much faster than real time the suite runs.
func BenchmarkSuiteSimulated(b *testing.B) {
	scenarios, err := scenario.LoadDir(filepath.Join("..", "scenarios"))
	if err != nil {
		b.Fatal(err)
	}
	var simulated time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for _, s := range scenarios {
			res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
			if err != nil || !res.Passed {
				b.Fatalf("%s: passed %v, %v", s.Name, res != nil && res.Passed, err)
			}
			simulated += res.End.Sub(res.Start)
		}
	}
	wall := time.Since(start)
	b.ReportMetric(float64(simulated)/float64(wall), "x-realtime")
	b.ReportMetric(math.Round(simulated.Seconds()/float64(b.N)), "simulated-s/op")
}

// benchJudge runs one batch of calls through the chain with the proxies' handling
// written in, once, then judges its capture again and again: the judge alone, from the
// records (a trace built anew each time), as `sipnatlab judge` does. It reports calls
// judged per second and the judge's time as a share of the run that made the capture.
func benchJudge(b *testing.B, handlingA, handlingB string, wantACK bool) {
	yaml := strings.Replace(fmt.Sprintf(benchChain, "1s", 200, 50), "nat-handling: correct}", "nat-handling: "+handlingA+"}", 1)
	yaml = strings.Replace(yaml, "registrar: true, nat-handling: correct}", "registrar: true, nat-handling: "+handlingB+"}", 1)
	s, err := scenario.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	run := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		again := &harness.Result{Scenario: s, Capture: res.Capture}
		again.Judge()
		if len(again.Calls) != 200 || again.Calls[199].ACKAtCallee != wantACK || again.Calls[0].Blame != res.Calls[0].Blame {
			b.Fatalf("judged %d calls, the last with ACK %v, blame %q", len(again.Calls), again.Calls[199].ACKAtCallee, again.Calls[0].Blame)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(200/per.Seconds(), "calls-judged/s")
	b.ReportMetric(float64(per)/float64(run), "judge/run")
}

// BenchmarkJudgeArrived judges 200 calls whose ACKs arrived: every Contact is answered
// by where the ACKs went.
func BenchmarkJudgeArrived(b *testing.B) { benchJudge(b, "correct", "correct", true) }

// BenchmarkJudgeLost judges 200 calls whose ACKs proxy-a's excessive handling lost:
// the Contact proxy-b sent on, where no ACK went, is asked of the NAT state replayed
// from the capture.
func BenchmarkJudgeLost(b *testing.B) { benchJudge(b, "excessive", "correct", false) }
