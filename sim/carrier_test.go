package sim_test

import (
	"errors"
	"net"
	"os"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("Carriers", func() {
	DescribeTable("ParseCarrier and String round-trip",
		func(word string, want sim.CarrierKind) {
			k, err := sim.ParseCarrier(word)
			Expect(err).NotTo(HaveOccurred())
			Expect(k).To(Equal(want))
			Expect(k.String()).To(Equal(word))
		},
		Entry("loopback", "loopback", sim.Loopback),
		Entry("memory", "memory", sim.Memory),
	)

	It("rejects other carrier words and names invalid kinds", func() {
		for _, s := range []string{"", "Memory", "udp", "loopback "} {
			_, err := sim.ParseCarrier(s)
			Expect(err).To(MatchError(`parse carrier "` + s + `": want loopback or memory`))
		}
		Expect(sim.CarrierKind(7).String()).To(Equal("CarrierKind(7)"))
		Expect(func() { sim.NewNetwork(sim.Config{Carrier: 7}) }).To(PanicWith("sim: NewNetwork: invalid carrier CarrierKind(7)"))
	})

	It("defaults to loopback", func() {
		n := sim.NewNetwork(sim.Config{})
		defer n.Close()
		Expect(n.Carrier()).To(Equal(sim.Loopback))
	})

	// script drives one fixed sequence of traffic through every kind of hop and verdict,
	// reading each delivered datagram before the next is sent.
	script := func(kind sim.CarrierKind) *world {
		w := newWorldOn(kind, sim.NATConfig{Filtering: sim.AddressAndPortDependent, Hairpinning: true, BindingTimeout: 30 * time.Second})
		a, b, p, c := listen(w.alice, 5060), listen(w.bob, 5060), listen(w.proxy, 5060), listen(w.cr, 5060)
		send(a, ap("203.0.113.2:5060"), "REGISTER alice")
		recv(p)
		w.clock.Advance(time.Second)
		send(p, ap("203.0.113.50:40000"), "200 OK")
		recv(a)
		send(c, ap("203.0.113.50:40000"), "INVITE from carrier") // filtered
		send(p, ap("192.168.1.10:5060"), "INVITE to Contact")    // private
		send(b, ap("203.0.113.2:5060"), "REGISTER bob")
		recv(p)
		send(a, ap("203.0.113.50:40001"), "punch") // filtered at bob's binding, opens alice's
		send(b, ap("203.0.113.50:40000"), "INVITE via hairpin")
		recv(a)
		send(a, ap("192.168.1.11:5060"), "")
		recv(b)
		w.clock.Advance(31 * time.Second)
		send(p, ap("203.0.113.50:40000"), "OPTIONS") // expired
		send(p, ap("198.51.100.10:5070"), "closed port")
		return w
	}

	It("records the same capture for the same traffic on both carriers", func() {
		lo, mem := script(sim.Loopback), script(sim.Memory)
		rs := lo.net.Capture().Records()
		Expect(rs).To(HaveLen(29))
		Expect(rs).To(ContainElement(HaveField("Kind", sim.BindingExpired)))
		Expect(rs).To(ContainElement(HaveField("Reason", HavePrefix("hairpin via"))))
		Expect(mem.net.Capture().Records()).To(Equal(rs))
		ls, ms := lo.net.Stats(), mem.net.Stats()
		Expect(ls).To(Equal(sim.Stats{RealSent: 5, Delivered: 5, Dropped: 5}))
		Expect(ms).To(Equal(sim.Stats{MemorySent: 5, Delivered: 5, Dropped: 5}))
	})

	// The capture keeps one copy of a payload per datagram, however many hops record it:
	// on loopback the Delivered record used to hold a copy of the frame read from the socket.
	DescribeTable("shares one payload between the records of a datagram",
		func(kind sim.CarrierKind) {
			w := script(kind)
			first := map[int]*byte{}
			shared := 0
			for _, r := range w.net.Capture().Records() {
				if r.Datagram == 0 || len(r.Data) == 0 {
					continue
				}
				p := unsafe.SliceData(r.Data)
				if q, ok := first[r.Datagram]; ok {
					Expect(p).To(BeIdenticalTo(q), "record %d (%s at %s) holds its own copy of datagram %d", r.Seq, r.Kind, r.Hop, r.Datagram)
					shared++
					continue
				}
				first[r.Datagram] = p
			}
			Expect(shared).To(BeNumerically(">=", 10))
		},
		Entry("loopback", sim.Loopback),
		Entry("memory", sim.Memory),
	)

	Describe("memory", func() {
		It("drops at a full receive queue and records why", func() {
			w := newWorldOn(sim.Memory, sim.NATConfig{})
			p, c := listen(w.proxy, 5060), listen(w.cr, 5060)
			for range sim.MemoryQueueLen {
				send(p, ap("198.51.100.10:5060"), "x")
			}
			Expect(w.net.Stats()).To(Equal(sim.Stats{MemorySent: sim.MemoryQueueLen}))
			send(p, ap("198.51.100.10:5060"), "one too many")
			Expect(last(w.net)).To(MatchFields(IgnoreExtras, Fields{
				"Datagram": Equal(sim.MemoryQueueLen + 1), "Kind": Equal(sim.Dropped), "Hop": Equal("carrier"),
				"Src": Equal(ap("203.0.113.2:5060")), "Dst": Equal(ap("198.51.100.10:5060")),
				"Reason": Equal("receive queue full on carrier:5060"), "Data": Equal([]byte("one too many")),
			}))
			Expect(kinds(w.net, sim.MemoryQueueLen+1)).To(Equal([]sim.Kind{sim.Sent, sim.Dropped}))
			Expect(w.net.Stats()).To(Equal(sim.Stats{MemorySent: sim.MemoryQueueLen, Dropped: 1}))

			recv(c)
			send(p, ap("198.51.100.10:5060"), "fits again")
			Expect(w.net.Stats().MemorySent).To(BeEquivalentTo(sim.MemoryQueueLen + 1))
		})

		It("delivers in the order the datagrams were sent", func() {
			w := newWorldOn(sim.Memory, sim.NATConfig{})
			p, c := listen(w.proxy, 5060), listen(w.cr, 5060)
			for _, m := range []string{"1", "2", "3"} {
				send(p, ap("198.51.100.10:5060"), m)
			}
			for _, m := range []string{"1", "2", "3"} {
				msg, _ := recv(c)
				Expect(msg).To(Equal(m))
			}
		})

		It("opens no sockets", func() {
			w := newWorldOn(sim.Memory, sim.NATConfig{})
			listen(w.proxy, 5060)
			Expect(w.net.RealAddrs()).To(ConsistOf(BeZero()))
		})
	})

	for _, kind := range carriers {
		Context("deadlines over "+kind.String(), func() {
			It("applies a read deadline set while ReadFrom is blocked", func() {
				w := newWorldOn(kind, sim.NATConfig{})
				c := listen(w.proxy, 5060)
				errc := make(chan error, 1)
				go func() {
					_, _, err := c.ReadFrom(make([]byte, 10))
					errc <- err
				}()
				Consistently(errc, "20ms").ShouldNot(Receive())
				Expect(c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))).To(Succeed())
				var err error
				Eventually(errc).Should(Receive(&err))
				Expect(errors.Is(err, os.ErrDeadlineExceeded)).To(BeTrue(), "%v", err)
			})

			It("fails a write after its deadline with a timeout, after the Sent record", func() {
				w := newWorldOn(kind, sim.NATConfig{})
				p := listen(w.proxy, 5060)
				listen(w.cr, 5060)
				Expect(p.SetWriteDeadline(time.Now().Add(-time.Second))).To(Succeed())
				_, err := p.WriteToAddrPort([]byte("late"), ap("198.51.100.10:5060"))
				var ne net.Error
				Expect(errors.As(err, &ne)).To(BeTrue(), "%v", err)
				Expect(ne.Timeout()).To(BeTrue())
				Expect(kinds(w.net, 1)).To(Equal([]sim.Kind{sim.Sent}))
				Expect(carried(w.net.Stats())).To(BeZero())

				Expect(p.SetWriteDeadline(time.Time{})).To(Succeed())
				send(p, ap("198.51.100.10:5060"), "in time")
			})

			It("refuses deadlines on a closed Conn", func() {
				w := newWorldOn(kind, sim.NATConfig{})
				c := must(w.proxy.ListenPacket(5060))
				Expect(c.Close()).To(Succeed())
				Expect(c.SetReadDeadline(time.Now())).To(HaveOccurred())
				Expect(c.SetWriteDeadline(time.Now())).To(HaveOccurred())
			})
		})
	}
})
