package judge_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("the callee of a call", func() {
	It("is the UA that answered when the To URI names no host (a field capture's UAs are named by address)", func(ctx SpecContext) {
		s, err := scenario.Load("../../scenarios/correct-nat-handling.yaml")
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(context.Context(ctx), s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		// bob becomes "phone": the INVITE's To (sip:bob@...) names no host now.
		renamed := *s
		renamed.Hosts = append([]scenario.Host(nil), s.Hosts...)
		for i := range renamed.Hosts {
			if renamed.Hosts[i].Name == "bob" {
				renamed.Hosts[i].Name = "phone"
			}
		}
		recs := res.Capture.Records()
		for i := range recs {
			if recs[i].Hop == "bob" {
				recs[i].Hop = "phone"
			}
		}
		calls := judge.Calls(&renamed, trace.New(sim.LogOf(recs)))
		Expect(calls).To(HaveLen(1))
		Expect(calls[0].To).To(Equal("phone"))
		Expect(calls[0].ACKAtCallee).To(BeTrue())
		Expect(calls[0].Class).To(Equal(judge.ClassACKArrived))
	})
})
