package report_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// benchChain is 200 calls through two proxies, 50 at a time, bob behind a NAT.
const benchChain = `name: bench-chain
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: %s}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a, talk: 1s, count: 200, concurrency: 50}
`

// BenchmarkReports renders each report of one run of 200 calls (ACKs arrived, or lost
// to proxy-a's excessive handling) from its trace, again and again: what a report costs
// beyond the run, reading the trace.
func BenchmarkReports(b *testing.B) {
	for _, handling := range []string{"correct", "excessive"} {
		s, err := scenario.Parse("bench.yaml", []byte(fmt.Sprintf(benchChain, handling)))
		if err != nil {
			b.Fatal(err)
		}
		res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
		if err != nil || len(res.Calls) != 200 {
			b.Fatalf("run: %v", err)
		}
		reports := []struct {
			name  string
			write func() error
		}{
			{"text", func() error { report.WriteText(io.Discard, s, res, nil, report.TextOptions{}); return nil }},
			{"explain", func() error { report.WriteExplain(io.Discard, s, res); return nil }},
			{"html", func() error { return report.WriteHTML(io.Discard, s, res, nil) }},
			{"pcap", func() error { return report.WritePcap(io.Discard, res, nil) }},
			{"ladder", func() error { report.NewLadder(res); return nil }},
		}
		for _, r := range reports {
			b.Run(handling+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if err := r.write(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
