package proxy_test

import (
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

var _ = Describe("the proxy", func() {
	var w *world
	BeforeEach(func() {
		var err error
		w, err = newWorld("correct")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.close)
	})

	send := func(file string) {
		b, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		_, err = w.prober.WriteToAddrPort(b, proxyAddr)
		Expect(err).NotTo(HaveOccurred())
		w.settle(1000)
	}

	It("stores the REGISTER's source as where a NATed contact is reached (received)", func() {
		send("testdata/seed-register.sip")
		loc := w.proxy.Location()
		Expect(loc).To(HaveLen(1))
		Expect(loc[0].AOR).To(Equal("x"))
		Expect(loc[0].Received).To(Equal(proberAddr))
		Expect(loc[0].NATed()).To(BeTrue(), "Contact 10.0.0.1:5060 differs from the source")
		Expect(w.got).To(ContainElement(And(HavePrefix("SIP/2.0 200 OK"), ContainSubstring("expires=60"))))
		// RFC 3581: the response carries received= and rport= for the prober.
		Expect(w.got[0]).To(ContainSubstring("received=198.51.100.66"))
		Expect(w.got[0]).To(ContainSubstring("rport=5060"))
	})

	It("absorbs an in-dialog ACK whose Request-URI names the proxy itself", func() {
		send("testdata/seed-ack.sip")
		Expect(w.got).To(BeEmpty())
		Expect(w.events).To(ContainElement(ContainSubstring("names proxy itself and no Route is left")))

		// The capture says so too, about the ACK's own datagram, with a typed cause.
		var ack int
		var notes []sim.Record
		for _, r := range w.net.Capture().Records() {
			switch {
			case r.Kind == sim.Delivered && r.Hop == "proxy" && strings.HasPrefix(string(r.Data), "ACK "):
				ack = r.Datagram
			case r.Kind == sim.Noted:
				notes = append(notes, r)
			}
		}
		Expect(ack).NotTo(BeZero())
		Expect(notes).To(ConsistOf(And(
			HaveField("Hop", "proxy"), HaveField("Datagram", ack), HaveField("Flow", "seed-ack"),
			HaveField("Cause", proxy.CauseNothingToForward),
			HaveField("Reason", "ACK's Request-URI sip:bob@203.0.113.2:5060 names proxy itself and no Route is left: nothing to forward it to"),
		)))
	})

	It("answers 400 to a request missing mandatory headers, and records garbage as discarded", func() {
		send("testdata/seed-no-headers.sip")
		_, err := w.prober.WriteToAddrPort([]byte("\x00\x01garbage"), proxyAddr)
		Expect(err).NotTo(HaveOccurred())
		w.settle(100)
		Expect(strings.Join(w.events, "\n")).To(ContainSubstring("discarded"))
		var delivered int
		for _, r := range w.net.Capture().Records() {
			if r.Kind == sim.Delivered && r.Hop == "proxy" {
				delivered++
			}
		}
		Expect(delivered).To(Equal(2), "both datagrams are in the capture")
		Expect(w.alive()).To(Succeed())
	})

	It("answers 404 for an unregistered user", func() {
		send("testdata/seed-register.sip")
		w.got = nil
		inv, err := os.ReadFile("testdata/seed-invite.sip")
		Expect(err).NotTo(HaveOccurred())
		inv = []byte(strings.Replace(string(inv), "INVITE sip:bob@198.51.100.10", "INVITE sip:nobody@203.0.113.2", 1))
		_, err = w.prober.WriteToAddrPort(inv, proxyAddr)
		Expect(err).NotTo(HaveOccurred())
		w.settle(1000)
		Expect(w.got).NotTo(ContainElement(HavePrefix("SIP/2.0 100 Trying")), "a registrar that cannot route answers at once")
		Expect(w.got).To(ContainElement(HavePrefix("SIP/2.0 404")))
	})
})
