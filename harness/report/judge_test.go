package report_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// simulated runs the scenario file in simulated time with seed and returns the result
// with its pcapng and JSON verdict.
func simulated(ctx context.Context, file string, seed uint64) (*harness.Result, []byte, []byte) {
	GinkgoHelper()
	s := match.Load(file)
	res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated, Seed: seed})
	Expect(err).NotTo(HaveOccurred())
	var pcap, js bytes.Buffer
	Expect(report.WritePcap(&pcap, res, nil)).To(Succeed())
	Expect(report.WriteJSON(&js, report.Verdict{Scenarios: []report.ScenarioVerdict{report.NewScenarioVerdict(s, res, nil)}})).To(Succeed())
	return res, pcap.Bytes(), js.Bytes()
}

var _ = Describe("judging a saved capture", func() {
	DescribeTable("gives the run's calls, expectations and verdict from the pcapng alone",
		func(ctx SpecContext, file string) {
			res, pcap, js := simulated(ctx, file, 0)
			back, runErr, err := report.ReadPcap(bytes.NewReader(pcap))
			Expect(err).NotTo(HaveOccurred())
			Expect(runErr).NotTo(HaveOccurred())

			Expect(back.Scenario).To(Equal(res.Scenario))
			Expect(back.Seed).To(Equal(res.Seed))
			Expect(back.Clock).To(Equal(harness.Simulated))
			Expect(back.Capture.Len()).To(Equal(res.Capture.Len()), "every record, packet or not")
			for i := range res.Capture.Len() {
				want, got := res.Capture.At(i), back.Capture.At(i)
				Expect(got.Data).To(Equal(want.Data), "payload of record %d", want.Seq)
				want.Data, got.Data = nil, nil
				Expect(got).To(Equal(want))
			}
			Expect(back.Calls).To(Equal(res.Calls))
			Expect(back.Expectations).To(Equal(res.Expectations))
			Expect(back.Passed).To(Equal(res.Passed))

			var again bytes.Buffer
			Expect(report.WriteJSON(&again, report.Verdict{Scenarios: []report.ScenarioVerdict{report.NewScenarioVerdict(back.Scenario, back, nil)}})).To(Succeed())
			Expect(again.String()).To(Equal(string(js)))
		},
		match.Entries("../../scenarios"),
	)

	It("keeps the error of a run that failed, and fails its verdict", func(ctx SpecContext) {
		s := match.Load("../../scenarios/no-nat-handling.yaml")
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		res, runErr := harness.Run(cancelled, s, harness.Options{Clock: harness.Simulated})
		Expect(runErr).To(HaveOccurred())
		var pcap bytes.Buffer
		Expect(report.WritePcap(&pcap, res, runErr)).To(Succeed())
		back, backErr, err := report.ReadPcap(&pcap)
		Expect(err).NotTo(HaveOccurred())
		Expect(backErr).To(MatchError(runErr.Error()))
		Expect(back.Passed).To(BeFalse())
	})

	It("refuses a capture it did not write, naming why", func() {
		file := filepath.Join(GinkgoT().TempDir(), "field.pcapng")
		f, err := os.Create(file)
		Expect(err).NotTo(HaveOccurred())
		w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
		Expect(err).NotTo(HaveOccurred())
		buf := gopacket.NewSerializeBuffer()
		Expect(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, gopacket.Payload("OPTIONS sip:x SIP/2.0\r\n\r\n"))).To(Succeed())
		Expect(w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes())).To(Succeed())
		Expect(w.Flush()).To(Succeed())
		Expect(f.Close()).To(Succeed())

		r, err := os.Open(file)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		_, _, err = report.ReadPcap(r)
		Expect(errors.Is(err, report.ErrNotOurs)).To(BeTrue(), "got %v", err)
	})
})

var _ = Describe("a simulated run", func() {
	It("gives the same JSON and pcapng bytes for the same scenario and seed, and other identifiers for another seed", func(ctx SpecContext) {
		file := "../../scenarios/excessive-nat-handling.yaml"
		a, pcapA, jsA := simulated(ctx, file, 7)
		_, pcapB, jsB := simulated(ctx, file, 7)
		Expect(pcapB).To(Equal(pcapA))
		Expect(string(jsB)).To(Equal(string(jsA)))

		c, pcapC, _ := simulated(ctx, file, 8)
		Expect(c.Call(0).CallID).NotTo(Equal(a.Call(0).CallID))
		Expect(pcapC).NotTo(Equal(pcapA))
		Expect(c.Call(0).Blame).To(Equal(a.Call(0).Blame), "the seed changes identifiers, not what happens")
		Expect(c.Call(0).OKRetransmissions).To(Equal(a.Call(0).OKRetransmissions))
	})

	It("uses seed 1 when none is given, and says so", func(ctx SpecContext) {
		res, _, js := simulated(ctx, "../../scenarios/correct-nat-handling.yaml", 0)
		Expect(res.Seed).To(Equal(uint64(1)))
		Expect(string(js)).To(ContainSubstring(`"seed": 1`))
	})
})
