package field_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// seed loads a seed scenario: the verdict its expect block states is what every
// capture of it must be diagnosed with.
func seed(name string) *scenario.Scenario {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", name+".yaml"))
	Expect(err).NotTo(HaveOccurred())
	return s
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

// verdict is the verdict the run that made a capture gave, kept beside it as the
// JSON of `sipnatlab judge --json CAPTURE` (testdata/*.verdict.json), with every host's
// address as the capture shows it (the real one where a container ran).
func verdict(file string) (judge.CallFacts, func(string) string) {
	data, err := os.ReadFile(strings.TrimSuffix(file, ".pcapng") + ".verdict.json")
	Expect(err).NotTo(HaveOccurred())
	var v struct {
		Scenarios []struct {
			Name  string
			Real  map[string]string `json:"real_addresses"`
			Calls []struct {
				From, To, Blame   string
				ACKAtCallee       bool   `json:"ack_at_callee"`
				CalleeBYE         bool   `json:"callee_bye"`
				OKRetransmissions int    `json:"ok_retransmissions"`
				Class             string `json:"diagnosis_class"`
			}
		}
	}
	Expect(json.Unmarshal(data, &v)).To(Succeed())
	Expect(v.Scenarios).To(HaveLen(1))
	run := v.Scenarios[0]
	Expect(run.Calls).To(HaveLen(1))
	c := run.Calls[0]
	// The kept verdict is the run's judge as it is now: judged again from the
	// project's own records, the capture gives the same class and blame.
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	res, _, err := report.ReadPcap(f)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Calls).To(HaveLen(1))
	Expect(string(res.Calls[0].Class)).To(Equal(c.Class), file)
	Expect(res.Calls[0].Blame).To(Equal(c.Blame), file)
	s := seed(run.Name)
	addr := func(name string) string {
		if name == "" {
			return ""
		}
		if r, ok := run.Real[name]; ok {
			a, err := netip.ParseAddrPort(r)
			Expect(err).NotTo(HaveOccurred())
			return a.Addr().String()
		}
		h, ok := s.Host(name)
		Expect(ok).To(BeTrue(), name)
		return h.Address.Addr().String()
	}
	return judge.CallFacts{From: c.From, To: c.To, Blame: c.Blame, ACKAtCallee: c.ACKAtCallee, CalleeBYE: c.CalleeBYE,
		OKRetransmissions: c.OKRetransmissions, Class: judge.Class(c.Class)}, addr
}

// bridgeClass is the class a capture on the Docker bridge shows where it sees more
// than validate's capture, which holds what the in-process hosts sent and received:
// without NAT handling, Kamailio sends the ACK to bob's private Contact, an address
// no in-process host owns, so the run's capture ends the ACK at proxy-b (ack-lost)
// while the bridge sees it leave for 192.168.1.10 (private-contact).
var bridgeClass = map[string]judge.Class{"kamailio-no-nat-handling-bridge.pcap": judge.ClassPrivateContact}

var _ = Describe("Diagnose", func() {
	// Captures of the seed scenarios, each diagnosed from the packets alone and
	// checked against the verdict of the run that made it: run --pcap's pcapng (one
	// interface per hop, with the project's comments); the same as plain pcap (no
	// comments, no interfaces, as tcpdump of the same traffic would be); only what
	// the registrar saw; and real Kamailio as proxy-b (validate --pcap, and dumpcap
	// on the internal Docker network's bridge, which sees only Kamailio's traffic).
	for _, name := range seeds {
		DescribeTable(name,
			func(file, run string, named bool) {
				var o field.Options
				if named {
					o.Scenario = seed(name)
				}
				path := filepath.Join("testdata", file)
				if f, ok := strings.CutPrefix(file, "stripped:"); ok {
					path = stripComments(filepath.Join("testdata", f))
				}
				d, err := field.Diagnose(context.Background(), []string{path}, o)
				Expect(err).NotTo(HaveOccurred())
				Expect(d.Errors).To(BeEmpty())
				Expect(d.Calls).To(HaveLen(1))
				got := d.Calls[0]
				want, addr := verdict(filepath.Join("testdata", run))
				name := addr
				if named {
					name = func(n string) string { return n }
				}
				Expect(got.Answered).To(BeTrue())
				Expect(got.ACKAtCallee).To(Equal(want.ACKAtCallee))
				Expect(got.CalleeBYE).To(Equal(want.CalleeBYE))
				Expect(got.OKRetransmissions).To(Equal(want.OKRetransmissions))
				Expect(got.To).To(Equal(name(want.To)))
				Expect(got.From).To(Equal(name(want.From)))
				Expect(got.Blame).To(Equal(name(want.Blame)))
				if c, ok := bridgeClass[file]; ok {
					want.Class = c
				}
				Expect(got.Class).To(Equal(want.Class))
				Expect(d.Lost()).To(Equal(!want.ACKAtCallee))
				if !want.ACKAtCallee {
					// The callee's retransmissions follow T1·2ⁿ capped at T2 (500 ms,
					// 4 s), and its BYE comes at 64·T1: it hung up because no ACK came.
					Expect(d.Timers.T1).To(BeNumerically("~", 500*time.Millisecond, 5*time.Millisecond))
					Expect(d.Timers.T2).To(BeNumerically("~", 4*time.Second, 40*time.Millisecond))
					Expect(d.Evidence[0].Schedule).To(HavePrefix("follows"))
					Expect(d.Evidence[0].HungUpForNoACK).To(BeTrue())
				}
			},
			Entry("run --pcap, names from --scenario", "sim-"+name+".pcapng", "sim-"+name+".pcapng", true),
			Entry("run --pcap, names by address", "sim-"+name+".pcapng", "sim-"+name+".pcapng", false),
			Entry("comments stripped (plain pcap)", "sim-"+name+"-plain.pcap", "sim-"+name+".pcapng", false),
			Entry("only the registrar's vantage point", "sim-"+name+"-registrar.pcap", "sim-"+name+".pcapng", false),
			Entry("run --pcap with the project's comments stripped (pcapng)", "stripped:sim-"+name+".pcapng", "sim-"+name+".pcapng", false),
			Entry("Kamailio as proxy-b, validate --pcap", "kamailio-"+name+".pcapng", "kamailio-"+name+".pcapng", false),
			Entry("Kamailio as proxy-b, validate --pcap with the comments stripped", "stripped:kamailio-"+name+".pcapng", "kamailio-"+name+".pcapng", false),
			Entry("Kamailio as proxy-b, dumpcap on the Docker bridge", "kamailio-"+name+"-bridge.pcap", "kamailio-"+name+".pcapng", false),
		)
	}

	It("infers the hop that broke the Contact where the registrar cannot see it, and says so", func() {
		d, err := field.Diagnose(context.Background(), []string{"testdata/sim-excessive-nat-handling-registrar.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Calls[0].Blame).To(Equal("203.0.113.1"))
		Expect(d.Evidence[0].Statements).To(ContainElement(Equal(field.Statement{Confidence: field.Likely,
			Text: "203.0.113.1 rewrote the Contact sip:bob@203.0.113.50:40000 to sip:bob@203.0.113.2:5060, which leads to 203.0.113.2, not 192.168.1.10 (not every copy of the 200 OK at this hop was captured)"})))
	})

	It("says what is certain and what is inferred on the registrar's capture alone", func() {
		d, err := field.Diagnose(context.Background(), []string{"testdata/sim-no-nat-handling-registrar.pcap"}, field.Options{})
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
		one, err := field.Diagnose(context.Background(), []string{"testdata/sim-no-nat-handling-plain.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		two, err := field.Diagnose(context.Background(), []string{"testdata/sim-no-nat-handling-plain.pcap", "testdata/sim-no-nat-handling-registrar.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(two.Calls).To(HaveLen(1))
		Expect(two.Calls[0].OKRetransmissions).To(Equal(one.Calls[0].OKRetransmissions))
		Expect(two.Calls[0].Blame).To(Equal(one.Calls[0].Blame))
		Expect(two.Result.Capture.Len()).To(Equal(one.Result.Capture.Len()))
	})

	It("diagnoses a truncated file up to the damage and says so", func() {
		data, err := os.ReadFile("testdata/sim-no-nat-handling-plain.pcap")
		Expect(err).NotTo(HaveOccurred())
		cut := filepath.Join(GinkgoT().TempDir(), "cut.pcap")
		Expect(os.WriteFile(cut, data[:len(data)*2/3], 0o644)).To(Succeed())
		d, err := field.Diagnose(context.Background(), []string{cut}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Errors).To(HaveLen(1))
		Expect(d.Errors[0].Error()).To(And(ContainSubstring("cut.pcap"), ContainSubstring("truncated")))
		Expect(d.Calls).To(HaveLen(1))
		Expect(d.Calls[0].ACKAtCallee).To(BeFalse())
	})

	It("refuses a file that is no capture, naming it", func() {
		bad := filepath.Join(GinkgoT().TempDir(), "notes.txt")
		Expect(os.WriteFile(bad, []byte("INVITE sip:bob@example.com SIP/2.0\r\n"), 0o644)).To(Succeed())
		_, err := field.Diagnose(context.Background(), []string{bad}, field.Options{})
		Expect(err).To(MatchError(field.ErrFormat))
		Expect(err.Error()).To(ContainSubstring("notes.txt"))
	})

	// A field incident becomes a regression test: the written scenario, run in
	// simulated time, gives the verdict the capture was diagnosed with.
	DescribeTable("--scenario-out round trip",
		func(ctx SpecContext, file string) {
			d, err := field.Diagnose(context.Background(), []string{filepath.Join("testdata", file)}, field.Options{})
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
		Entry("no NAT handling, the registrar's capture alone", "sim-no-nat-handling-registrar.pcap"),
		Entry("excessive NAT handling, the registrar's capture alone", "sim-excessive-nat-handling-registrar.pcap"),
		Entry("Kamailio, no NAT handling (bridge)", "kamailio-no-nat-handling-bridge.pcap"),
		Entry("Kamailio, correct NAT handling (bridge)", "kamailio-correct-nat-handling-bridge.pcap"),
		Entry("Kamailio, excessive NAT handling of proxy-a (bridge)", "kamailio-excessive-nat-handling-bridge.pcap"),
	)
})

// split writes one pcap file per interface of a pcapng file: one vantage point each.
func split(in string) []string {
	f, err := os.Open(in)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	writers := map[int]*pcapgo.Writer{}
	var names []string
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return names
		}
		Expect(err).NotTo(HaveOccurred())
		w := writers[ci.InterfaceIndex]
		if w == nil {
			intf, err := r.Interface(ci.InterfaceIndex)
			Expect(err).NotTo(HaveOccurred())
			name := filepath.Join(dir, intf.Name+".pcap")
			o, err := os.Create(name)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(o.Close)
			w = pcapgo.NewWriter(o)
			Expect(w.WriteFileHeader(65535, layers.LinkTypeEthernet)).To(Succeed())
			writers[ci.InterfaceIndex] = w
			names = append(names, name)
		}
		Expect(w.WritePacket(ci, data)).To(Succeed())
	}
}

var _ = Describe("several vantage points", func() {
	It("merges one file per host by time and gives the run's verdict, the ACK's fate seen where it ended", func() {
		for _, name := range seeds {
			files := split("testdata/sim-" + name + ".pcapng")
			Expect(len(files)).To(BeNumerically(">=", 5))
			d, err := field.Diagnose(context.Background(), files, field.Options{})
			Expect(err).NotTo(HaveOccurred())
			want, addr := verdict("testdata/sim-" + name + ".pcapng")
			Expect(d.Calls).To(HaveLen(1))
			got := d.Calls[0]
			Expect(got.ACKAtCallee).To(Equal(want.ACKAtCallee), name)
			Expect(got.Blame).To(Equal(addr(want.Blame)), name)
			Expect(got.Class).To(Equal(want.Class), name)
			Expect(got.OKRetransmissions).To(Equal(want.OKRetransmissions), name)
			if want.ACKAtCallee {
				// bob's file holds the ACK after home-nat, but bob talked to proxy-b
				// only, so the file could be either's: inferred, and bob's silence
				// (no retransmission) backs it.
				Expect(d.Evidence[0].Statements).To(ContainElement(Equal(field.Statement{Confidence: field.AlmostCertain,
					Text: "it reached 192.168.1.10 (not captured on 192.168.1.10; the topology the capture showed routes it there)"})))
			}
		}
	})
})

// stripComments writes a pcapng file's packets, interfaces and timestamps again with
// no comment at all (neither the section's nor the packets'), as dumpcap writes one.
func stripComments(in string) string {
	f, err := os.Open(in)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred())
	name := filepath.Join(GinkgoT().TempDir(), "stripped.pcapng")
	o, err := os.Create(name)
	Expect(err).NotTo(HaveOccurred())
	defer o.Close()
	intf := func(i int) pcapgo.NgInterface {
		x, err := r.Interface(i)
		Expect(err).NotTo(HaveOccurred())
		return pcapgo.NgInterface{Name: x.Name, LinkType: x.LinkType, SnapLength: x.SnapLength}
	}
	var w *pcapgo.NgWriter
	added := 0
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		// The reader knows an interface once a packet names it.
		if w == nil {
			w, err = pcapgo.NewNgWriterInterface(o, intf(0), pcapgo.NgWriterOptions{})
			Expect(err).NotTo(HaveOccurred())
			added = 1
		}
		for ; added < r.NInterfaces(); added++ {
			_, err := w.AddInterface(intf(added))
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(w.WritePacket(ci, data)).To(Succeed())
	}
	Expect(w.Flush()).To(Succeed())
	return name
}

// repeat writes a one-call capture n times, a minute apart, each call with its own
// Call-ID (the last two characters replaced by the copy's number).
func repeat(in, callID string, n int) string {
	one := readFrames(in)
	var frames []frame
	for i := range n {
		id := fmt.Sprintf("%s%02d", callID[:len(callID)-2], i)
		for _, fr := range one {
			ci := fr.ci
			ci.Timestamp = ci.Timestamp.Add(time.Duration(i) * time.Minute)
			frames = append(frames, frame{ci, bytes.ReplaceAll(fr.data, []byte(callID), []byte(id))})
		}
	}
	return writeFrames(layers.LinkTypeEthernet, frames)
}

var _ = Describe("a long capture", func() {
	It("holds only the dialogs open at once: one closes 8 s after its BYE is answered", func() {
		file := repeat("testdata/sim-correct-nat-handling-plain.pcap", "uqeqd6znl9kc4flo2jyn", 30)
		d, err := field.Diagnose(context.Background(), []string{file}, field.Options{Keep: 2})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Calls).To(HaveLen(30))
		for _, c := range d.Calls {
			Expect(c.ACKAtCallee).To(BeTrue())
		}
		// bob's REGISTER dialog (one Call-ID, re-sent every minute) and one call.
		Expect(d.MaxOpenDialogs).To(Equal(2))
		Expect(d.Evidence).To(HaveLen(30))
	})
})

var _ = Describe("an interrupted diagnosis", func() {
	It("diagnoses what it read and says it stopped", func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d, err := field.Diagnose(ctx, []string{"testdata/sim-no-nat-handling-plain.pcap"}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Errors).To(ConsistOf(MatchError(context.Canceled)))
		Expect(d.Calls).To(BeEmpty())
	})
})

// The project's own writer as it is now: what diagnose reads must keep up with it.
var _ = Describe("captures the project writes now", func() {
	DescribeTable("run --pcap and a tcpdump per host (--pcap-dir) give the run's verdict",
		func(ctx SpecContext, name string, perHost bool) {
			s := seed(name)
			res, err := harness.Run(context.Context(ctx), s, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())
			dir := GinkgoT().TempDir()
			write := func(file string, w func(*os.File) error) string {
				f, err := os.Create(filepath.Join(dir, file))
				Expect(err).NotTo(HaveOccurred())
				Expect(w(f)).To(Succeed())
				Expect(f.Close()).To(Succeed())
				return f.Name()
			}
			var files []string
			if perHost {
				for _, h := range s.Hosts {
					files = append(files, write(h.Name+".pcap", func(f *os.File) error { return report.WriteHostPcap(f, res, h.Name) }))
				}
				for _, n := range s.NATs {
					files = append(files, write(n.Name+".pcap", func(f *os.File) error { return report.WriteHostPcap(f, res, n.Name) }))
				}
			} else {
				files = append(files, write("run.pcapng", func(f *os.File) error { return report.WritePcap(f, res, nil) }))
			}
			d, err := field.Diagnose(context.Context(ctx), files, field.Options{Scenario: s})
			Expect(err).NotTo(HaveOccurred())
			Expect(d.Errors).To(BeEmpty())
			Expect(d.Calls).To(HaveLen(1))
			got, want := d.Calls[0], res.Calls[0]
			Expect(got.ACKAtCallee).To(Equal(want.ACKAtCallee))
			Expect(got.CalleeBYE).To(Equal(want.CalleeBYE))
			Expect(got.Blame).To(Equal(want.Blame))
			Expect(got.Class).To(Equal(want.Class))
			Expect(got.OKRetransmissions).To(Equal(want.OKRetransmissions))
		},
		Entry("no NAT handling, run --pcap", "no-nat-handling", false),
		Entry("no NAT handling, one file per host", "no-nat-handling", true),
		Entry("correct NAT handling, run --pcap", "correct-nat-handling", false),
		Entry("correct NAT handling, one file per host", "correct-nat-handling", true),
		Entry("excessive NAT handling, run --pcap", "excessive-nat-handling", false),
		Entry("excessive NAT handling, one file per host", "excessive-nat-handling", true),
	)
})
