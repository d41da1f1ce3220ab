package harness_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// spyProxies learns the real socket (127.0.0.1:port) behind every host of a run, as
// anyone on the machine can with ss -u or tshark on lo. It stands in for the real-proxy
// extension point only to be handed each host's Conn; it attaches nothing, so every
// host stays in process.
type spyProxies struct {
	mu   sync.Mutex
	real map[string]netip.AddrPort
}

func (p *spyProxies) Start(_ context.Context, s *scenario.Scenario, _ map[string]harness.Container) (harness.Started, error) {
	return spyStarted{p, s}, nil
}

func (p *spyProxies) socket(host string) netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.real[host]
}

type spyStarted struct {
	p *spyProxies
	s *scenario.Scenario
}

func (st spyStarted) Scenario() *scenario.Scenario { return st.s }
func (spyStarted) Real() map[string]string         { return nil }
func (spyStarted) Close()                          {}

func (st spyStarted) Attach(host string, c *sim.Conn) (bool, error) {
	st.p.mu.Lock()
	defer st.p.mu.Unlock()
	st.p.real[host] = c.RealAddr()
	return false, nil
}

// forgedFrame is a frame as the finding forged it: the loopback carrier's original
// header ("SNL1", the datagram id, the virtual source), which anyone can read in
// sim/carrier.go's history, and a payload.
func forgedFrame(id uint64, src netip.AddrPort, payload string) []byte {
	b := []byte("SNL1")
	b = binary.BigEndian.AppendUint64(b, id)
	a := src.Addr().As4()
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return append(b, payload...)
}

const forgedCallID = "forged-by-another-process"

// forgedOptions is a well-formed SIP request for bob, as if from proxy-b.
var forgedOptions = strings.Join([]string{
	"OPTIONS sip:bob@192.168.1.10:5060 SIP/2.0",
	"Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bK-forged",
	"Max-Forwards: 70",
	"From: <sip:attacker@203.0.113.2>;tag=forged",
	"To: <sip:bob@192.168.1.10>",
	"Call-ID: " + forgedCallID,
	"CSeq: 1 OPTIONS",
	"Content-Length: 0",
	"", ""}, "\r\n")

// It waits the callee's 64*T1 in real time: make test-slow.
var _ = Describe("a run on loopback attacked by another process", Label("loopback", "slow"), func() {
	It("keeps its verdict and records the forged frames as intrusions, delivering none", func(ctx SpecContext) {
		s := loadBundled()[filepath.Clean("../scenarios/no-nat-handling.yaml")].Scaled(loopbackScale)
		spy := &spyProxies{real: map[string]netip.AddrPort{}}

		attacker, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		defer attacker.Close()

		// Once bob retransmits his 2xx, the ACK has been lost at proxy-b: the attacker
		// replays every datagram id the run has used so far (and more) in 1-byte frames
		// at bob's and proxy-b's sockets, and sends bob a well-formed OPTIONS with a
		// fresh id, as from proxy-b, which never crosses home-nat.
		retransmitting := make(chan struct{})
		var once sync.Once
		observe := func(e harness.Event) {
			if e.Host == "bob" && e.Kind == string(ua.OKRetransmitted) {
				once.Do(func() { close(retransmitting) })
			}
		}
		proxyB := netip.MustParseAddrPort("203.0.113.2:5060")
		sent := 0
		done, ended := make(chan struct{}), make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			select {
			case <-retransmitting:
			case <-ended:
				return
			}
			bob, pb := spy.socket("bob"), spy.socket("proxy-b")
			for id := uint64(1); id <= 120; id++ {
				for _, to := range []netip.AddrPort{bob, pb} {
					if _, err := attacker.WriteToUDPAddrPort(forgedFrame(id, proxyB, "x"), to); err == nil {
						sent++
					}
				}
				time.Sleep(100 * time.Microsecond) // paced, so the kernel keeps every one
			}
			if _, err := attacker.WriteToUDPAddrPort(forgedFrame(1<<40, proxyB, forgedOptions), bob); err == nil {
				sent++
			}
		}()

		res, err := harness.Run(ctx, s, harness.Options{
			Clock: harness.RealTime, Observe: observe, Proxies: spy,
			Containers: map[string]harness.Container{"proxy-b": {}},
		})
		close(ended)
		<-done
		Expect(err).NotTo(HaveOccurred())
		Expect(sent).To(Equal(241), "the attack ran during the run")

		c := res.Calls[0]
		Expect(c.ACKAtCallee).To(BeFalse(), "the verdict: the ACK never reached bob\n%s", c.Diagnosis)
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.CalleeBYE).To(BeTrue())
		checkExpectations(s, outcome{res, nil})

		me := attacker.LocalAddr().String()
		intrusions := map[string]int{}
		var summaries []string
		for _, r := range res.Capture.All() {
			Expect(r.Data).NotTo(Equal([]byte("x")), "record %d delivered a forged byte: %+v", r.Seq, r)
			Expect(string(r.Data)).NotTo(ContainSubstring(forgedCallID), "record %d carries the forged OPTIONS or an answer to it: %+v", r.Seq, r)
			if r.Cause != sim.CauseForged {
				continue
			}
			Expect(r.Kind).To(Equal(sim.Dropped))
			Expect(r.Datagram).To(BeZero(), "an intrusion is no datagram of the run")
			Expect(r.Hop).To(BeElementOf("bob", "proxy-b"))
			Expect(r.Reason).To(ContainSubstring(" from " + me))
			if strings.HasPrefix(r.Reason, "forged frame of ") {
				if intrusions[r.Hop] == 0 {
					fmt.Fprintf(GinkgoWriter, "%s: %s\n", r.Hop, r.Reason)
				}
				intrusions[r.Hop]++
			} else {
				summaries = append(summaries, r.Reason)
			}
		}
		fmt.Fprintf(GinkgoWriter, "%d forged frames sent, recorded one by one: %v, then %q\n", sent, intrusions, summaries)
		Expect(intrusions["bob"]).To(BeNumerically(">", 0))
		Expect(intrusions["proxy-b"]).To(BeNumerically(">", 0))
		Expect(intrusions["bob"]+intrusions["proxy-b"]).To(Equal(64), "the first 64 one by one")
		Expect(summaries).To(ConsistOf(HavePrefix("128 forged frames refused so far, only the first 64 recorded one by one; ")))
		Expect(res.Trace.CallIDs()).NotTo(ContainElement(forgedCallID))

		// The capture, intrusions and all, survives the pcap and is judged the same from it.
		var pcap bytes.Buffer
		Expect(report.WritePcap(&pcap, res, nil)).To(Succeed())
		back, runErr, err := report.ReadPcap(&pcap)
		Expect(err).NotTo(HaveOccurred())
		Expect(runErr).NotTo(HaveOccurred())
		Expect(back.Capture.Len()).To(Equal(res.Capture.Len()))
		Expect(back.Passed).To(BeTrue())
		Expect(back.Calls[0].ACKAtCallee).To(BeFalse())
		Expect(back.Calls[0].Blame).To(Equal("proxy-b"))

		// The report says so.
		var text bytes.Buffer
		report.WriteText(&text, res.Scenario, res, nil, report.TextOptions{})
		Expect(text.String()).To(ContainSubstring("intrusion: frames from outside the run were refused and not delivered (65 records in the capture; the first: forged frame"))
	}, SpecTimeout(time.Minute))
})
