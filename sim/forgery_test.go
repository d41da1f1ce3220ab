package sim_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/sipnatlab/sipnatlab/sim"
)

// oldFrame is a frame in the loopback carrier's first format ("SNL1", datagram id,
// virtual source, payload), which carried no secret: what the finding forged.
func oldFrame(id uint64, src netip.AddrPort, payload string) []byte {
	b := binary.BigEndian.AppendUint64([]byte("SNL1"), id)
	a := src.Addr().As4()
	b = binary.BigEndian.AppendUint16(append(b, a[:]...), src.Port())
	return append(b, payload...)
}

// invite is a well-formed SIP request, longer than any frame header.
const invite = "INVITE sip:proxy@203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK-1\r\n" +
	"Call-ID: forged\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

// forgedRecords returns the capture's records of refused frames.
func forgedRecords(n *sim.Network) []sim.Record {
	var out []sim.Record
	for _, r := range n.Capture().Records() {
		if r.Cause == sim.CauseForged {
			out = append(out, r)
		}
	}
	return out
}

var _ = Describe("forged frames on the loopback carrier", Label("loopback"), func() {
	var (
		w        *world
		p, cr    *sim.Conn // proxy:5060, the target; carrier:5060, a socket of the run
		attacker *net.UDPConn
		carrier  = ap("198.51.100.10:5060")
	)

	BeforeEach(func() {
		w = newWorld(sim.NATConfig{})
		p, cr = listen(w.proxy, 5060), listen(w.cr, 5060)
		var err error
		attacker, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(attacker.Close)
	})

	forge := func(b []byte) {
		GinkgoHelper()
		_, err := attacker.WriteToUDPAddrPort(b, p.RealAddr())
		Expect(err).NotTo(HaveOccurred())
	}

	// deliversOnlyTheReal sends a real datagram after whatever was forged: the proxy's
	// next read returns it, so every frame before it was refused.
	deliversOnlyTheReal := func() {
		GinkgoHelper()
		send(cr, ap("203.0.113.2:5060"), "the real one")
		msg, from := recv(p)
		Expect(msg).To(Equal("the real one"))
		Expect(from).To(Equal(carrier))
	}

	// refusedOnce checks that the capture holds one intrusion at the proxy, with why in
	// its reason and the real source the frame came from.
	refusedOnce := func(from netip.AddrPort, size int, why string) {
		GinkgoHelper()
		Expect(forgedRecords(w.net)).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
			"Datagram": BeZero(), "Kind": Equal(sim.Dropped), "Hop": Equal("proxy"),
			"Dst": Equal(ap("203.0.113.2:5060")), "Cause": Equal(sim.CauseForged), "Data": BeNil(),
			"Reason": And(HavePrefix("forged frame of %d bytes from %s refused: ", size, from), HaveSuffix(why)),
		})))
		Expect(w.net.Stats().Forged).To(BeEquivalentTo(1))
	}

	It("refuses a frame with a fresh id from a foreign socket", func() {
		b := oldFrame(1<<40, carrier, invite)
		forge(b)
		deliversOnlyTheReal()
		refusedOnce(attacker.LocalAddr().(*net.UDPAddr).AddrPort(), len(b), "not a frame of this fabric (no SNL2 magic)")
	})

	It("refuses a 1-byte frame replaying a real datagram id from a foreign socket", func() {
		deliversOnlyTheReal()
		id := last(w.net).Datagram
		b := oldFrame(uint64(id), carrier, "x")
		forge(b)
		send(cr, ap("203.0.113.2:5060"), "the real one")
		msg, _ := recv(p)
		Expect(msg).To(Equal("the real one"))
		refusedOnce(attacker.LocalAddr().(*net.UDPAddr).AddrPort(), len(b), "shorter than the frame header")
	})

	It("refuses a valid-looking header with a guessed secret and an id in flight", func() {
		p.Expect(77, cr, carrier, []byte(invite))
		b := sim.GuessedFrame(77, carrier, []byte(invite), [16]byte{})
		forge(b)
		deliversOnlyTheReal()
		refusedOnce(attacker.LocalAddr().(*net.UDPAddr).AddrPort(), len(b), "not this run's secret")
	})

	It("refuses the run's own secret from a foreign socket, then admits the same frame from the socket that owns it", func() {
		p.Expect(77, cr, carrier, []byte("in flight"))
		b := w.net.Frame(77, carrier, []byte("in flight"))
		forge(b)
		Expect(cr.WriteRaw(b, p.RealAddr())).To(Succeed())
		msg, from := recv(p)
		Expect(msg).To(Equal("in flight"))
		Expect(from).To(Equal(carrier))
		refusedOnce(attacker.LocalAddr().(*net.UDPAddr).AddrPort(), len(b),
			"datagram 77 was written by the run's socket "+cr.RealAddr().String()+", not this one")
	})

	It("refuses the run's own secret with an id not in flight from a foreign socket", func() {
		b := w.net.Frame(1<<40, carrier, []byte(invite))
		forge(b)
		deliversOnlyTheReal()
		refusedOnce(attacker.LocalAddr().(*net.UDPAddr).AddrPort(), len(b),
			"datagram 1099511627776 is not in flight to this endpoint (never sent here, or already delivered)")
	})

	It("refuses a repeated datagram id from the socket that sent it", func() {
		deliversOnlyTheReal()
		id := last(w.net).Datagram
		b := w.net.Frame(id, carrier, []byte("the real one"))
		Expect(cr.WriteRaw(b, p.RealAddr())).To(Succeed())
		send(cr, ap("203.0.113.2:5060"), "the next one")
		msg, _ := recv(p)
		Expect(msg).To(Equal("the next one"))
		Expect(forgedRecords(w.net)).To(ConsistOf(HaveField("Reason",
			"forged frame of "+strconv.Itoa(len(b))+" bytes from "+cr.RealAddr().String()+" refused: datagram "+strconv.Itoa(id)+
				" is not in flight to this endpoint (never sent here, or already delivered)")))
		Expect(w.net.Stats()).To(Equal(sim.Stats{RealSent: 2, Delivered: 2, Forged: 1}))
	})

	It("refuses a frame from the right socket that claims another virtual source", func() {
		p.Expect(77, cr, carrier, []byte("spoofed"))
		b := w.net.Frame(77, ap("203.0.113.50:40000"), []byte("spoofed"))
		Expect(cr.WriteRaw(b, p.RealAddr())).To(Succeed())
		deliversOnlyTheReal()
		Expect(forgedRecords(w.net)).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
			"Src":    Equal(ap("203.0.113.50:40000")),
			"Reason": HaveSuffix("datagram 77 claims virtual source 203.0.113.50:40000, the fabric routed it from 198.51.100.10:5060"),
		})))
	})

	// The Delivered record shares the payload recorded when the datagram was sent, so a
	// frame must carry exactly that payload to be delivered.
	It("refuses a frame from the right socket and source that carries another payload", func() {
		p.Expect(77, cr, carrier, []byte("as sent"))
		b := w.net.Frame(77, carrier, []byte("altered"))
		Expect(cr.WriteRaw(b, p.RealAddr())).To(Succeed())
		deliversOnlyTheReal()
		Expect(forgedRecords(w.net)).To(ConsistOf(HaveField("Reason",
			HaveSuffix("datagram 77 carries 7 bytes other than the 7 it was sent with"))))
	})

	It("bounds what a flood of 20,000 forged 1 KB frames costs: records, memory and allocations", func() {
		const flood = 20000
		type read struct {
			msg string
			err error
		}
		got := make(chan read, 1)
		go func() {
			buf := make([]byte, 2048)
			n, _, err := p.ReadFrom(buf)
			got <- read{string(buf[:n]), err}
		}()
		frame := sim.GuessedFrame(1, carrier, make([]byte, 1024), [16]byte{})
		var ms runtime.MemStats
		var heapAfterRecords, mallocsAfterRecords uint64
		deadline := time.Now().Add(time.Minute)
		to := p.RealAddr()
		for i := 1; i <= flood; i++ {
			// No Gomega in this loop: its assertions allocate.
			if _, err := attacker.WriteToUDPAddrPort(frame, to); err != nil {
				Fail(err.Error())
			}
			// At most 32 frames (about 70 KB of socket buffer) outstanding, so the kernel
			// drops none and every one is counted.
			for w.net.Stats().Forged < int64(i-32) {
				if time.Now().After(deadline) {
					Fail("the reader stalled")
				}
				runtime.Gosched()
			}
			if i == 2*sim.MaxForgedRecords {
				Eventually(func() int64 { return w.net.Stats().Forged }).Should(BeEquivalentTo(i))
				runtime.GC()
				runtime.ReadMemStats(&ms)
				heapAfterRecords, mallocsAfterRecords = ms.HeapAlloc, ms.Mallocs
			}
		}
		Eventually(func() int64 { return w.net.Stats().Forged }).Should(BeEquivalentTo(flood))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		Consistently(got).ShouldNot(Receive(), "a forged frame was delivered")
		deliversOnly := func() {
			send(cr, ap("203.0.113.2:5060"), "the real one")
			var r read
			Eventually(got).Should(Receive(&r))
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.msg).To(Equal("the real one"))
		}
		deliversOnly()

		perFrame := float64(ms.Mallocs-mallocsAfterRecords) / (flood - 2*sim.MaxForgedRecords)
		grown := int64(ms.HeapAlloc) - int64(heapAfterRecords)
		GinkgoWriter.Printf("after the first %d: %.3f allocations per forged frame, heap %+d bytes\n", 2*sim.MaxForgedRecords, perFrame, grown)
		Expect(perFrame).To(BeNumerically("<", 0.05))
		Expect(grown).To(BeNumerically("<", 1<<20), "19,872 forged 1 KB frames grew the heap")

		// 64 one by one, then a summary at 128, 256, 512, 1024, 2048, 4096, 8192 and 16384.
		recs := forgedRecords(w.net)
		Expect(recs).To(HaveLen(sim.MaxForgedRecords + 8))
		Expect(recs[len(recs)-1].Reason).To(HavePrefix("16384 forged frames refused so far, only the first 64 recorded one by one; the latest of 1058 bytes from " +
			attacker.LocalAddr().String() + ": not this run's secret"))
		Expect(w.net.Stats()).To(Equal(sim.Stats{RealSent: 1, Delivered: 1, Forged: flood}))
		Expect(w.net.Capture().Len()).To(Equal(sim.MaxForgedRecords + 8 + 2))
	})
})
