package sim_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("Network", func() {
	Describe("between public hosts", func() {
		for _, kind := range carriers {
			Context("over "+kind.String(), func() {
				It("delivers with Sent and Delivered records and the virtual source", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					p, c := listen(w.proxy, 5060), listen(w.cr, 5060)
					send(p, ap("198.51.100.10:5060"), "OPTIONS")
					msg, from := recv(c)
					Expect(msg).To(Equal("OPTIONS"))
					Expect(from).To(Equal(ap("203.0.113.2:5060")))

					rs := w.net.Capture().Records()
					Expect(rs).To(HaveLen(2))
					Expect(rs[0]).To(MatchFields(IgnoreExtras, Fields{
						"Seq": Equal(1), "Datagram": Equal(1), "Kind": Equal(sim.Sent), "Hop": Equal("proxy"),
						"Src": Equal(ap("203.0.113.2:5060")), "Dst": Equal(ap("198.51.100.10:5060")),
						"Data": Equal([]byte("OPTIONS")), "Time": Equal(t0),
					}))
					Expect(rs[1]).To(MatchFields(IgnoreExtras, Fields{
						"Seq": Equal(2), "Datagram": Equal(1), "Kind": Equal(sim.Delivered), "Hop": Equal("carrier"),
						"Src": Equal(ap("203.0.113.2:5060")), "Dst": Equal(ap("198.51.100.10:5060")),
						"Data": Equal([]byte("OPTIONS")),
					}))
					Expect(w.net.Stats()).To(Equal(carriedStats(kind, 1, sim.Stats{Delivered: 1})))
				})

				It("presents virtual addresses through the net.PacketConn interface", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					var p, c net.PacketConn = listen(w.proxy, 5060), listen(w.cr, 0)
					Expect(c.LocalAddr().String()).To(Equal("198.51.100.10:49152"))
					Expect(c.LocalAddr().(*net.UDPAddr).IP).To(HaveLen(4))
					_, err := p.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("198.51.100.10"), Port: 49152}) // 16-byte form
					Expect(err).NotTo(HaveOccurred())
					buf := make([]byte, 16)
					Expect(c.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
					n, from, err := c.ReadFrom(buf)
					Expect(err).NotTo(HaveOccurred())
					Expect(buf[:n]).To(Equal([]byte("x")))
					Expect(from.(*net.UDPAddr).IP).To(HaveLen(4))
					Expect(from.String()).To(Equal("203.0.113.2:5060"))
				})
			})
		}
	})

	Describe("through a NAT", func() {
		for _, kind := range carriers {
			Context("over "+kind.String(), func() {
				It("translates the source to public:40000, recording BindingCreated and Translated", func() {
					w := newWorldOn(kind, sim.NATConfig{Filtering: sim.AddressAndPortDependent})
					a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
					send(a, ap("203.0.113.2:5060"), "REGISTER")
					_, from := recv(p)
					Expect(from).To(Equal(ap("203.0.113.50:40000")))
					Expect(kinds(w.net, 1)).To(Equal([]sim.Kind{sim.Sent, sim.BindingCreated, sim.Translated, sim.Delivered}))
					rs := w.net.Capture().Records()
					Expect(rs[1]).To(MatchFields(IgnoreExtras, Fields{
						"Hop": Equal("home-nat"), "Src": Equal(ap("192.168.1.10:5060")), "X": PointTo(HaveField("Src", ap("203.0.113.50:40000"))),
					}))
					Expect(rs[2]).To(MatchFields(IgnoreExtras, Fields{
						"Hop": Equal("home-nat"), "Src": Equal(ap("192.168.1.10:5060")), "Dst": Equal(ap("203.0.113.2:5060")),
						"X":      PointTo(Equal(sim.Translation{Src: ap("203.0.113.50:40000"), Dst: ap("203.0.113.2:5060")})),
						"Reason": Equal("new binding 192.168.1.10:5060 -> 203.0.113.50:40000"),
					}))
					Expect(w.nat.Bindings()).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
						"Internal": Equal(ap("192.168.1.10:5060")), "External": Equal(ap("203.0.113.50:40000")),
						"Created": Equal(t0), "LastUsed": Equal(t0),
					})))
				})

				DescribeTable("inbound to alice's mapping after she sent to proxy:5060",
					func(f sim.Behavior, fromHost string, fromPort uint16, wantDelivered bool) {
						w := newWorldOn(kind, sim.NATConfig{Filtering: f})
						a := listen(w.alice, 5060)
						send(a, ap("203.0.113.2:5060"), "REGISTER")
						s := listen(w.net.Host(fromHost), fromPort)
						before := carried(w.net.Stats())
						send(s, ap("203.0.113.50:40000"), "INVITE")
						if !wantDelivered {
							r := last(w.net)
							Expect(r.Kind).To(Equal(sim.Dropped))
							Expect(r.Hop).To(Equal("home-nat"))
							Expect(r.Reason).To(HavePrefix("filtered by home-nat (" + f.String() + " filtering): "))
							Expect(r.Reason).To(HaveSuffix("never contacted from 192.168.1.10:5060"))
							Expect(carried(w.net.Stats())).To(Equal(before))
							return
						}
						msg, from := recv(a)
						Expect(msg).To(Equal("INVITE"))
						Expect(from).To(Equal(s.LocalAddrPort()))
						Expect(kinds(w.net, 2)).To(Equal([]sim.Kind{sim.Sent, sim.Translated, sim.Delivered}))
					},
					Entry("APDF: the reply from proxy:5060 passes", sim.AddressAndPortDependent, "proxy", uint16(5060), true),
					Entry("APDF: proxy:5080 is filtered", sim.AddressAndPortDependent, "proxy", uint16(5080), false),
					Entry("APDF: another host is filtered", sim.AddressAndPortDependent, "carrier", uint16(5060), false),
					Entry("ADF: proxy:5080 passes", sim.AddressDependent, "proxy", uint16(5080), true),
					Entry("ADF: another host is filtered", sim.AddressDependent, "carrier", uint16(5060), false),
					Entry("EIF: another host passes", sim.EndpointIndependent, "carrier", uint16(5060), true),
				)

				DescribeTable("mapping: alice sends to proxy:5060, then to the second destination",
					func(m sim.Behavior, second netip.AddrPort, wantPort uint16) {
						w := newWorldOn(kind, sim.NATConfig{Mapping: m})
						a := listen(w.alice, 5060)
						p1, p2 := listen(w.proxy, 5060), listen(w.net.HostByAddr(second.Addr()), second.Port())
						send(a, ap("203.0.113.2:5060"), "1")
						_, from := recv(p1)
						Expect(from).To(Equal(ap("203.0.113.50:40000")))
						send(a, second, "2")
						_, from = recv(p2)
						Expect(from).To(Equal(netip.AddrPortFrom(homePublic, wantPort)))
					},
					Entry("EIM reuses the external port", sim.EndpointIndependent, ap("198.51.100.10:5060"), uint16(40000)),
					Entry("ADM reuses it for the same IP", sim.AddressDependent, ap("203.0.113.2:5080"), uint16(40000)),
					Entry("ADM allocates for another IP", sim.AddressDependent, ap("198.51.100.10:5060"), uint16(40001)),
					Entry("APDM allocates for another port", sim.AddressAndPortDependent, ap("203.0.113.2:5080"), uint16(40001)),
				)

				It("drops inbound after the binding timeout, recording BindingExpired once", func() {
					w := newWorldOn(kind, sim.NATConfig{BindingTimeout: 30 * time.Second})
					a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
					send(a, ap("203.0.113.2:5060"), "REGISTER")
					recv(p)
					w.clock.Advance(29 * time.Second)
					send(p, ap("203.0.113.50:40000"), "OPTIONS")
					msg, _ := recv(a)
					Expect(msg).To(Equal("OPTIONS"))

					w.clock.Advance(time.Second)
					send(p, ap("203.0.113.50:40000"), "OPTIONS")
					rs := w.net.Capture().Records()
					Expect(rs[len(rs)-2]).To(MatchFields(IgnoreExtras, Fields{
						"Kind": Equal(sim.BindingExpired), "Hop": Equal("home-nat"),
						"Src": Equal(ap("192.168.1.10:5060")), "X": PointTo(HaveField("Src", ap("203.0.113.50:40000"))), "Time": Equal(t0.Add(30 * time.Second)),
					}))
					Expect(rs[len(rs)-1]).To(MatchFields(IgnoreExtras, Fields{
						"Kind": Equal(sim.Dropped), "Hop": Equal("home-nat"), "Reason": ContainSubstring("expired"),
					}))
					Expect(w.nat.Bindings()).To(BeEmpty())

					send(p, ap("203.0.113.50:40000"), "OPTIONS")
					Expect(last(w.net).Reason).To(Equal("no binding for 203.0.113.50:40000 on home-nat"))
					expired := 0
					for _, r := range w.net.Capture().Records() {
						if r.Kind == sim.BindingExpired {
							expired++
						}
					}
					Expect(expired).To(Equal(1))
				})

				It("delivers directly on the LAN without the NAT", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					a, b := listen(w.alice, 5060), listen(w.bob, 5060)
					send(a, ap("192.168.1.11:5060"), "hi")
					_, from := recv(b)
					Expect(from).To(Equal(ap("192.168.1.10:5060")))
					Expect(kinds(w.net, 1)).To(Equal([]sim.Kind{sim.Sent, sim.Delivered}))
					Expect(w.nat.Bindings()).To(BeEmpty())
				})

				DescribeTable("hairpinning (RFC 4787 §6)",
					func(hairpin bool) {
						w := newWorldOn(kind, sim.NATConfig{Hairpinning: hairpin})
						a, b, p := listen(w.alice, 5060), listen(w.bob, 5060), listen(w.proxy, 5060)
						send(b, ap("203.0.113.2:5060"), "REGISTER") // bob gets 203.0.113.50:40000
						recv(p)
						send(a, ap("203.0.113.50:40000"), "INVITE")
						if !hairpin {
							Expect(last(w.net)).To(MatchFields(IgnoreExtras, Fields{
								"Kind": Equal(sim.Dropped), "Hop": Equal("home-nat"), "Reason": Equal("hairpinning disabled on home-nat"),
							}))
							return
						}
						_, from := recv(b)
						Expect(from).To(Equal(ap("203.0.113.50:40001")), "hairpinned datagrams carry the external source (REQ-9)")
						Expect(kinds(w.net, 2)).To(Equal([]sim.Kind{sim.Sent, sim.BindingCreated, sim.Translated, sim.Translated, sim.Delivered}))
						rs := w.net.Capture().Records()
						Expect(rs[len(rs)-2].Reason).To(ContainSubstring("hairpin"))
					},
					Entry("enabled", true),
					Entry("disabled", false),
				)
			})
		}
	})

	Describe("safety: nothing unroutable touches a socket", func() {
		for _, kind := range carriers {
			Context("over "+kind.String(), func() {
				DescribeTable("drops with a typed cause and a reason and writes nothing",
					func(from string, dst string, hop string, cause sim.Cause, reason string) {
						w := newWorldOn(kind, sim.NATConfig{})
						listen(w.alice, 5060)
						c := listen(w.net.Host(from), 5060)
						before := w.net.Stats()
						send(c, ap(dst), "x")
						Expect(last(w.net)).To(MatchFields(IgnoreExtras, Fields{
							"Kind": Equal(sim.Dropped), "Hop": Equal(hop), "Cause": Equal(cause), "Reason": Equal(reason),
						}))
						after := w.net.Stats()
						Expect(carried(after)).To(Equal(carried(before)))
						Expect(after.Dropped).To(Equal(before.Dropped + 1))
					},
					Entry("unowned RFC 1918 address", "proxy", "10.1.2.3:5060", "proxy", sim.CausePrivateUnreachable,
						"no route to private address 10.1.2.3:5060 from 203.0.113.2 (no LAN holds it)"),
					Entry("a LAN address from the public side", "proxy", "192.168.1.99:5060", "proxy", sim.CausePrivateUnreachable,
						"no route to private address 192.168.1.99:5060 from 203.0.113.2 (it lies behind home-nat)"),
					Entry("a LAN host's own address from the public side", "proxy", "192.168.1.10:5060", "proxy", sim.CausePrivateUnreachable,
						"no route to private address 192.168.1.10:5060 from 203.0.113.2 (it lies behind home-nat)"),
					Entry("CGN space", "proxy", "100.64.0.1:5060", "proxy", sim.CausePrivateUnreachable,
						"no route to private address 100.64.0.1:5060 from 203.0.113.2 (no LAN holds it)"),
					Entry("a public address no host owns", "proxy", "8.8.8.8:53", "proxy", sim.CauseNoHost, "no host owns 8.8.8.8"),
					Entry("multicast", "proxy", "224.0.0.1:5060", "proxy", sim.CauseUnroutable, "no host owns 224.0.0.1 (multicast is not routed)"),
					Entry("broadcast", "proxy", "255.255.255.255:5060", "proxy", sim.CauseUnroutable, "no host owns 255.255.255.255 (broadcast is not routed)"),
					Entry("unspecified", "proxy", "0.0.0.0:5060", "proxy", sim.CauseUnroutable, "no host owns 0.0.0.0 (the unspecified address is not routed)"),
					Entry("loopback", "proxy", "127.0.0.1:5060", "proxy", sim.CauseUnroutable, "no host owns 127.0.0.1 (loopback is not routed)"),
					Entry("IPv6", "proxy", "[2001:db8::1]:5060", "proxy", sim.CauseUnroutable, "no host owns 2001:db8::1 (IPv6 is not routed)"),
					Entry("broadcast from a LAN host", "bob", "255.255.255.255:5060", "bob", sim.CauseUnroutable, "no host owns 255.255.255.255 (broadcast is not routed)"),
					Entry("an empty LAN address", "bob", "192.168.1.99:5060", "bob", sim.CauseNoHost, "no host owns 192.168.1.99 on the LAN of home-nat"),
					Entry("a public address no host owns, via the NAT", "bob", "8.8.8.8:53", "home-nat", sim.CauseNoHost, "no host owns 8.8.8.8"),
					Entry("another private network, via the NAT", "bob", "10.1.2.3:5060", "home-nat", sim.CausePrivateUnreachable,
						"no route to private address 10.1.2.3:5060 from 203.0.113.50 (no LAN holds it)"),
					Entry("a closed port", "proxy", "198.51.100.10:5070", "carrier", sim.CausePortUnreachable, "port 5070 unreachable on carrier"),
					Entry("a NAT port without binding", "proxy", "203.0.113.50:40001", "home-nat", sim.CauseNoBinding, "no binding for 203.0.113.50:40001 on home-nat"),
				)
			})
		}

		It("binds every socket it opens to 127.0.0.1", func() {
			w := newWorld(sim.NATConfig{})
			for _, h := range []*sim.Host{w.alice, w.bob, w.proxy, w.cr} {
				listen(h, 5060)
				listen(h, 0)
			}
			addrs := w.net.RealAddrs()
			Expect(addrs).To(HaveLen(8))
			for _, a := range addrs {
				Expect(a.Addr()).To(Equal(netip.MustParseAddr("127.0.0.1")))
				Expect(a.Port()).NotTo(BeZero())
			}
		})

		It("skips stray datagrams without a fabric header", func() {
			w := newWorld(sim.NATConfig{})
			p, c := listen(w.proxy, 5060), listen(w.cr, 5060)
			stray, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			Expect(err).NotTo(HaveOccurred())
			defer stray.Close()
			_, err = stray.WriteToUDPAddrPort([]byte("stray"), c.RealAddr())
			Expect(err).NotTo(HaveOccurred())
			send(p, ap("198.51.100.10:5060"), "real")
			msg, _ := recv(c)
			Expect(msg).To(Equal("real"))
		})
	})

	Describe("Resolve", func() {
		DescribeTable("predicts without sending or changing NAT state",
			func(from string, dst string, wantHost string, wantPort uint16, wantReason string) {
				w := newWorld(sim.NATConfig{Filtering: sim.AddressAndPortDependent})
				a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
				listen(w.cr, 5060)
				send(a, ap("203.0.113.2:5060"), "REGISTER")
				recv(p)
				records, stats, bindings := w.net.Capture().Len(), w.net.Stats(), w.nat.Bindings()

				host, port, ok, reason := w.net.Resolve(from, ap(dst))
				Expect(reason).To(Equal(wantReason))
				Expect(ok).To(Equal(wantReason == ""))
				Expect(host).To(Equal(wantHost))
				Expect(port).To(Equal(wantPort))

				Expect(w.net.Capture().Len()).To(Equal(records))
				Expect(w.net.Stats()).To(Equal(stats))
				Expect(w.nat.Bindings()).To(Equal(bindings))
			},
			Entry("proxy reaches alice through her binding", "proxy", "203.0.113.50:40000", "alice", uint16(5060), ""),
			Entry("carrier is filtered", "carrier", "203.0.113.50:40000", "", uint16(0),
				"filtered by home-nat (address-and-port-dependent filtering): 198.51.100.10:5060 never contacted from 192.168.1.10:5060"),
			Entry("alice's private Contact is unreachable", "proxy", "192.168.1.10:5060", "", uint16(0),
				"no route to private address 192.168.1.10:5060 from 203.0.113.2 (it lies behind home-nat)"),
			Entry("bob reaches the carrier via a new binding", "bob", "198.51.100.10:5060", "carrier", uint16(5060), ""),
			Entry("bob reaches alice on the LAN", "bob", "192.168.1.10:5060", "alice", uint16(5060), ""),
			Entry("unknown sender", "nobody", "192.168.1.10:5060", "", uint16(0), `no host named "nobody"`),
		)
	})

	Describe("Capture.Wait", func() {
		for _, kind := range carriers {
			Context("over "+kind.String(), func() {
				It("fires for existing and for future records", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					p, c := listen(w.proxy, 5060), listen(w.cr, 5060)
					send(p, ap("198.51.100.10:5060"), "1")
					Eventually(w.net.Capture().Wait(func(r sim.Record) bool { return r.Kind == sim.Sent })).Should(BeClosed())
					delivered := w.net.Capture().Wait(func(r sim.Record) bool { return r.Kind == sim.Delivered })
					Consistently(delivered, "20ms").ShouldNot(BeClosed())
					done := make(chan struct{})
					go func() {
						defer GinkgoRecover()
						defer close(done)
						recv(c)
					}()
					Eventually(delivered).Should(BeClosed())
					Eventually(done).Should(BeClosed())
				})
			})
		}
	})

	Describe("construction", func() {
		DescribeTable("AddHost errors",
			func(name, addr string, want string, wantNoLAN bool) {
				w := newWorld(sim.NATConfig{})
				_, err := w.net.AddHost(name, netip.MustParseAddr(addr))
				Expect(err).To(MatchError(ContainSubstring(want)))
				Expect(errors.Is(err, sim.ErrNoLAN)).To(Equal(wantNoLAN))
			},
			Entry("RFC 1918 outside every LAN", "x", "10.0.0.5", `add host "x": 10.0.0.5: private address lies inside no NAT LAN`, true),
			Entry("CGN outside every LAN", "x", "100.64.1.1", "100.64.1.1", true),
			Entry("duplicate name", "alice", "192.168.1.20", "name already taken", false),
			Entry("duplicate address", "eve", "192.168.1.10", "address 192.168.1.10 is taken by host alice", false),
			Entry("a NAT's public address", "eve", "203.0.113.50", "public address of NAT home-nat", false),
			Entry("a NAT's name", "home-nat", "203.0.113.9", "name already taken", false),
			Entry("empty name", "", "203.0.113.9", "empty name", false),
			Entry("multicast", "m", "224.0.0.1", "multicast", false),
		)

		DescribeTable("AddNAT errors",
			func(cfg sim.NATConfig, want string) {
				w := newWorld(sim.NATConfig{})
				_, err := w.net.AddNAT(cfg)
				Expect(err).To(MatchError(ContainSubstring(want)))
			},
			Entry("duplicate name", sim.NATConfig{Name: "home-nat", Public: netip.MustParseAddr("203.0.113.60"), LAN: netip.MustParsePrefix("10.0.0.0/8")}, "name already taken"),
			Entry("overlapping LAN", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("203.0.113.60"), LAN: netip.MustParsePrefix("192.168.0.0/16")}, "overlaps LAN 192.168.1.0/24 of home-nat"),
			Entry("private public outside every LAN", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("100.64.0.2"), LAN: netip.MustParsePrefix("10.0.0.0/8")}, "public address 100.64.0.2: private address lies inside no NAT LAN"),
			Entry("LAN holding an earlier NAT's public", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("198.51.100.99"), LAN: netip.MustParsePrefix("203.0.113.48/29")}, "LAN 203.0.113.48/29 holds the public address 203.0.113.50 of home-nat; add the outer NAT first"),
			Entry("public inside its own LAN", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("10.0.0.1"), LAN: netip.MustParsePrefix("10.0.0.0/8")}, "inside its own LAN"),
			Entry("public taken by a NAT", sim.NATConfig{Name: "n2", Public: homePublic, LAN: netip.MustParsePrefix("10.0.0.0/8")}, "taken by NAT home-nat"),
			Entry("public taken by a host", sim.NATConfig{Name: "n2", Public: proxyAddr, LAN: netip.MustParsePrefix("10.0.0.0/8")}, "taken by host proxy"),
			Entry("missing LAN", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("203.0.113.60")}, "not an IPv4 prefix"),
			Entry("LAN holding a public host", sim.NATConfig{Name: "n2", Public: netip.MustParseAddr("192.0.2.1"), LAN: netip.MustParsePrefix("203.0.113.0/28")}, "holds existing host proxy"),
		)

		It("applies NATConfig defaults", func() {
			w := newWorld(sim.NATConfig{})
			cfg := w.nat.Config()
			Expect(cfg.BindingTimeout).To(Equal(120 * time.Second))
			Expect(cfg.FirstPort).To(Equal(uint16(40000)))
			Expect(cfg.Mapping).To(Equal(sim.EndpointIndependent))
			Expect(w.alice.NAT()).To(Equal(w.nat))
			Expect(w.proxy.NAT()).To(BeNil())
			Expect(w.net.NAT("home-nat")).To(Equal(w.nat))
			Expect(w.net.Host("nobody")).To(BeNil())
		})

		It("refuses a port already open on the host and picks ephemeral ports from 49152", func() {
			w := newWorld(sim.NATConfig{})
			listen(w.alice, 5060)
			_, err := w.alice.ListenPacket(5060)
			Expect(err).To(MatchError(ContainSubstring("listen 192.168.1.10:5060 on alice: port already in use")))
			Expect(listen(w.alice, 0).LocalAddrPort()).To(Equal(ap("192.168.1.10:49152")))
			Expect(listen(w.alice, 0).LocalAddrPort()).To(Equal(ap("192.168.1.10:49153")))
		})
	})

	Describe("lifecycle", func() {
		for _, kind := range carriers {
			Context("over "+kind.String(), func() {
				It("closes idempotently; reads and writes after Close fail with net.ErrClosed", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					c := must(w.proxy.ListenPacket(5060))
					Expect(c.Close()).To(Succeed())
					Expect(c.Close()).To(Succeed())
					_, _, err := c.ReadFrom(make([]byte, 10))
					Expect(errors.Is(err, net.ErrClosed)).To(BeTrue(), "%v", err)
					Expect(errors.Is(err, sim.ErrClosed)).To(BeTrue())
					_, err = c.WriteToAddrPort([]byte("x"), ap("198.51.100.10:5060"))
					Expect(errors.Is(err, net.ErrClosed)).To(BeTrue(), "%v", err)
					// The port is free again.
					listen(w.proxy, 5060)
				})

				It("unblocks a pending ReadFrom on Network.Close and refuses new endpoints", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					c := must(w.proxy.ListenPacket(5060))
					errc := make(chan error, 1)
					go func() {
						_, _, err := c.ReadFrom(make([]byte, 10))
						errc <- err
					}()
					Expect(w.net.Close()).To(Succeed())
					Expect(w.net.Close()).To(Succeed())
					var err error
					Eventually(errc).Should(Receive(&err))
					Expect(errors.Is(err, net.ErrClosed)).To(BeTrue(), "%v", err)
					_, err = w.proxy.ListenPacket(5070)
					Expect(errors.Is(err, net.ErrClosed)).To(BeTrue())
					Expect(w.net.RealAddrs()).To(BeEmpty())
				})

				It("maps read deadlines onto the socket", func() {
					w := newWorldOn(kind, sim.NATConfig{})
					c := listen(w.proxy, 5060)
					Expect(c.SetReadDeadline(time.Now().Add(-time.Second))).To(Succeed())
					_, _, err := c.ReadFrom(make([]byte, 10))
					Expect(errors.Is(err, os.ErrDeadlineExceeded)).To(BeTrue(), "%v", err)
					var ne net.Error
					Expect(errors.As(err, &ne)).To(BeTrue())
					Expect(ne.Timeout()).To(BeTrue())
				})
			})
		}
	})
})
