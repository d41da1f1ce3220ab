package field_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// seed loads a seed scenario: the verdict its expect block states is what every
// capture of it must be diagnosed with.
func seed(name string) *scenario.Scenario {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", name+".yaml"))
	Expect(err).NotTo(HaveOccurred())
	return s
}

// want returns the scenario's expected ack-at-callee, callee-bye and blame (a host
// name, "" for none).
func want(s *scenario.Scenario) (ack, bye bool, blame string) {
	for _, e := range s.Expect {
		switch e.Key {
		case scenario.ExpectACKAtCallee:
			ack = *e.Bool
		case scenario.ExpectCalleeBYE:
			bye = *e.Bool
		case scenario.ExpectBlame:
			blame = e.Host
		}
	}
	return ack, bye, blame
}

func addrOf(s *scenario.Scenario, name string) string {
	if name == "" {
		return ""
	}
	h, ok := s.Host(name)
	Expect(ok).To(BeTrue())
	return h.Address.Addr().String()
}

var seeds = []string{"no-nat-handling", "correct-nat-handling", "excessive-nat-handling"}

var _ = Describe("Diagnose", func() {
	// Captures of the seed scenarios: run --pcap's pcapng (one interface per hop, with
	// the project's comments); the same as plain pcap (no comments, no interfaces,
	// as tcpdump of the same traffic would be); and only what the registrar saw.
	for _, name := range seeds {
		DescribeTable(name,
			func(file string, named, blameShown bool) {
				s := seed(name)
				var o field.Options
				if named {
					o.Scenario = s
				}
				d, err := field.Diagnose([]string{filepath.Join("testdata", file)}, o)
				Expect(err).NotTo(HaveOccurred())
				Expect(d.Errors).To(BeEmpty())
				Expect(d.Calls).To(HaveLen(1))
				f := d.Calls[0]
				ack, bye, blame := want(s)
				Expect(f.Answered).To(BeTrue())
				Expect(f.ACKAtCallee).To(Equal(ack))
				Expect(f.CalleeBYE).To(Equal(bye))
				Expect(d.Lost()).To(Equal(!ack))
				if !named {
					blame = addrOf(s, blame)
					Expect(f.To).To(Equal(addrOf(s, "bob")))
				}
				if blameShown {
					Expect(f.Blame).To(Equal(blame))
				} else {
					// The registrar cannot see the hop that broke the Contact:
					// no blame, and the inference says where to look.
					Expect(f.Blame).To(BeEmpty())
					Expect(d.Evidence[0].Statements).To(ContainElement(HaveField("Text", ContainSubstring("a hop the capture does not show changed the Contact"))))
				}
				if !ack {
					// The callee's retransmissions follow T1·2ⁿ capped at T2, and its
					// BYE comes at 64·T1: it hung up because no ACK came.
					Expect(d.Timers.T1).To(Equal(s.Timers.T1))
					Expect(d.Timers.T2).To(Equal(s.Timers.T2))
					Expect(d.Evidence[0].Schedule).To(HavePrefix("follows"))
					Expect(d.Evidence[0].HungUpForNoACK).To(BeTrue())
					Expect(f.Class).NotTo(Equal(judge.ClassACKLost))
				}
			},
			Entry("run --pcap, names from --scenario", "sim-"+name+".pcapng", true, true),
			Entry("run --pcap, names by address", "sim-"+name+".pcapng", false, true),
			Entry("comments stripped (plain pcap)", "sim-"+name+"-plain.pcap", false, true),
			Entry("only the registrar's vantage point", "sim-"+name+"-registrar.pcap", false, name != "excessive-nat-handling"),
		)
	}

	It("says what is certain and what is inferred on the registrar's capture alone", func() {
		d, err := field.Diagnose([]string{"testdata/sim-no-nat-handling-registrar.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		var text []string
		for _, s := range d.Evidence[0].Statements {
			text = append(text, s.Confidence+": "+s.Text)
		}
		Expect(text).To(ContainElement(HavePrefix("certain: 203.0.113.2 sent the ACK (Request-URI sip:bob@192.168.1.10:5060) to 192.168.1.10:5060")))
		// Where the ACK went after the registrar is inferred, backed by bob's own
		// retransmissions until 64·T1.
		Expect(text).To(ContainElement(HavePrefix("almost certain: it was dropped at 203.0.113.2: no route to private address 192.168.1.10:5060")))
		Expect(d.NATs).To(HaveLen(1))
		Expect(d.NATs[0].Public.String()).To(Equal("203.0.113.50"))
	})

	It("merges several vantage points of one incident and de-duplicates their copies", func() {
		one, err := field.Diagnose([]string{"testdata/sim-no-nat-handling-plain.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		two, err := field.Diagnose([]string{"testdata/sim-no-nat-handling-plain.pcap", "testdata/sim-no-nat-handling-registrar.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(two.Calls).To(HaveLen(1))
		Expect(two.Calls[0].OKRetransmissions).To(Equal(one.Calls[0].OKRetransmissions))
		Expect(two.Calls[0].Blame).To(Equal(one.Calls[0].Blame))
		Expect(two.Result.Capture).To(HaveLen(len(one.Result.Capture)))
	})

	It("diagnoses a truncated file up to the damage and says so", func() {
		data, err := os.ReadFile("testdata/sim-no-nat-handling-plain.pcap")
		Expect(err).NotTo(HaveOccurred())
		cut := filepath.Join(GinkgoT().TempDir(), "cut.pcap")
		Expect(os.WriteFile(cut, data[:len(data)*2/3], 0o644)).To(Succeed())
		d, err := field.Diagnose([]string{cut}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Errors).To(HaveLen(1))
		Expect(d.Errors[0].Error()).To(And(ContainSubstring("cut.pcap"), ContainSubstring("truncated")))
		Expect(d.Calls).To(HaveLen(1))
		Expect(d.Calls[0].ACKAtCallee).To(BeFalse())
	})

	It("refuses a file that is no capture, naming it", func() {
		bad := filepath.Join(GinkgoT().TempDir(), "notes.txt")
		Expect(os.WriteFile(bad, []byte("INVITE sip:bob@example.com SIP/2.0\r\n"), 0o644)).To(Succeed())
		_, err := field.Diagnose([]string{bad}, field.Options{})
		Expect(err).To(MatchError(field.ErrFormat))
		Expect(err.Error()).To(ContainSubstring("notes.txt"))
	})

	// A field incident becomes a regression test: the written scenario, run in
	// simulated time, gives the verdict the capture was diagnosed with.
	DescribeTable("--scenario-out round trip",
		func(ctx SpecContext, file string) {
			d, err := field.Diagnose([]string{filepath.Join("testdata", file)}, field.Options{})
			Expect(err).NotTo(HaveOccurred())
			var buf bytes.Buffer
			Expect(d.WriteScenario(&buf)).To(Succeed())
			out := filepath.Join(GinkgoT().TempDir(), "incident.yaml")
			Expect(os.WriteFile(out, buf.Bytes(), 0o644)).To(Succeed())
			s, err := scenario.Load(out)
			Expect(err).NotTo(HaveOccurred(), buf.String())
			res, err := harness.Run(context.Context(ctx), s, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Passed).To(BeTrue(), buf.String())
			Expect(res.Calls).To(HaveLen(1))
			got, f := res.Calls[0], d.Calls[0]
			Expect(got.ACKAtCallee).To(Equal(f.ACKAtCallee))
			Expect(got.CalleeBYE).To(Equal(f.CalleeBYE))
			Expect(got.Class).To(Equal(f.Class))
			// The capture named hosts by address; the scenario by kebab-case names.
			blamed := ""
			if got.Blame != "" {
				blamed = addrOf(s, got.Blame)
			}
			Expect(blamed).To(Equal(f.Blame))
		},
		Entry("no NAT handling", "sim-no-nat-handling-plain.pcap"),
		Entry("correct NAT handling", "sim-correct-nat-handling-plain.pcap"),
		Entry("excessive NAT handling", "sim-excessive-nat-handling-plain.pcap"),
	)
})
