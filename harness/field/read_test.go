package field_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/field"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

// udp4 serializes an IPv4/UDP packet (no link layer), with the IP header's id.
func udp4(src, dst netip.AddrPort, id uint16, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	Expect(u.SetNetworkLayerForChecksum(ip)).To(Succeed())
	buf := gopacket.NewSerializeBuffer()
	Expect(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload(payload))).To(Succeed())
	return buf.Bytes()
}

// fragments4 splits an IPv4 packet into two fragments.
func fragments4(pkt []byte) [][]byte {
	hdr, body := pkt[:20], pkt[20:]
	cut := (len(body) / 2) &^ 7
	mk := func(part []byte, off int, more bool) []byte {
		h := append([]byte(nil), hdr...)
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(part)))
		fl := uint16(off / 8)
		if more {
			fl |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fl)
		h[10], h[11] = 0, 0
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(h[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
		return append(h, part...)
	}
	return [][]byte{mk(body[:cut], 0, true), mk(body[cut:], cut, false)}
}

// udp6frags makes an IPv6/UDP datagram in two fragments (RFC 8200 §4.5).
func udp6frags(src, dst netip.AddrPort, payload []byte) [][]byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	cut := (len(u) / 2) &^ 7
	mk := func(part []byte, off int, more bool) []byte {
		h := make([]byte, 48)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(part)))
		h[6], h[7] = 44, 64 // next header: fragment
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		h[40] = 17 // UDP
		fo := uint16(off/8) << 3
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(h[42:], fo)
		binary.BigEndian.PutUint32(h[44:], 7)
		return append(h, part...)
	}
	return [][]byte{mk(u[:cut], 0, true), mk(u[cut:], cut, false)}
}

// link wraps an IP packet in a link-layer header.
func link(lt layers.LinkType, ip []byte) []byte {
	v6 := ip[0]>>4 == 6
	etype := uint16(0x0800)
	if v6 {
		etype = 0x86dd
	}
	switch lt {
	case layers.LinkTypeEthernet:
		h := make([]byte, 14)
		copy(h, net.HardwareAddr{2, 0, 0, 0, 0, 2})
		copy(h[6:], net.HardwareAddr{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(h[12:], etype)
		return append(h, ip...)
	case layers.LinkTypeLinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1)
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], etype)
		return append(h, ip...)
	case layers.LinkTypeLinuxSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], etype)
		binary.BigEndian.PutUint32(h[4:], 3)
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return append(h, ip...)
	case layers.LinkTypeNull:
		h := make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		binary.LittleEndian.PutUint32(h, fam)
		return append(h, ip...)
	}
	return ip
}

// frame is one packet of a capture file.
type frame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readFrames returns the packets of a pcap file.
func readFrames(name string) []frame {
	f, err := os.Open(name)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	Expect(err).NotTo(HaveOccurred())
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		Expect(err).NotTo(HaveOccurred())
		out = append(out, frame{ci, data})
	}
}

// writeFrames writes packets to a new pcap file and returns its name.
func writeFrames(lt layers.LinkType, frames []frame) string {
	name := filepath.Join(GinkgoT().TempDir(), "c.pcap")
	f, err := os.Create(name)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	w := pcapgo.NewWriter(f)
	Expect(w.WriteFileHeader(65535, lt)).To(Succeed())
	for _, fr := range frames {
		fr.ci.CaptureLength, fr.ci.Length = len(fr.data), len(fr.data)
		Expect(w.WritePacket(fr.ci, fr.data)).To(Succeed())
	}
	return name
}

// writePcap writes link-layer frames a millisecond apart to a new pcap file.
func writePcap(lt layers.LinkType, datas [][]byte) string {
	t := time.Unix(1700000000, 0)
	frames := make([]frame, len(datas))
	for i, d := range datas {
		frames[i] = frame{gopacket.CaptureInfo{Timestamp: t.Add(time.Duration(i) * time.Millisecond)}, d}
	}
	return writeFrames(lt, frames)
}

func readAll(name string) []field.Packet {
	f, err := field.Open(name, 0)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var out []field.Packet
	for {
		p, err := f.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		Expect(err).NotTo(HaveOccurred())
		out = append(out, p)
	}
}

var _ = Describe("reading captures", func() {
	src4, dst4 := netip.MustParseAddrPort("192.0.2.1:5062"), netip.MustParseAddrPort("198.51.100.7:7000")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::1]:5062"), netip.MustParseAddrPort("[2001:db8::2]:7000")
	big := []byte(invite + string(make([]byte, 0)))
	for len(big) < 3000 {
		big = append(big, 'x') // a body long enough to need fragments
	}

	DescribeTable("finds SIP over UDP on any port, whatever the link type, IP version and fragmentation",
		func(lt layers.LinkType, v6, fragmented bool) {
			var ips [][]byte
			src, dst := src4, dst4
			switch {
			case v6:
				src, dst = src6, dst6
				ips = udp6frags(src, dst, big)
				if !fragmented {
					Fail("IPv6 entries are fragmented")
				}
			case fragmented:
				ips = fragments4(udp4(src, dst, 42, big))
			default:
				ips = [][]byte{udp4(src, dst, 42, big)}
			}
			var frames [][]byte
			frames = append(frames, link(lt, udp4(src4, dst4, 9, []byte("not SIP at all\r\n")))) // skipped by content
			for _, ip := range ips {
				frames = append(frames, link(lt, ip))
			}
			ps := readAll(writePcap(lt, frames))
			Expect(ps).To(HaveLen(1))
			Expect(ps[0].Src).To(Equal(src))
			Expect(ps[0].Dst).To(Equal(dst))
			Expect(ps[0].Payload).To(Equal(big))
		},
		Entry("Ethernet", layers.LinkTypeEthernet, false, false),
		Entry("Ethernet, IPv4 fragments", layers.LinkTypeEthernet, false, true),
		Entry("Ethernet, IPv6 fragments", layers.LinkTypeEthernet, true, true),
		Entry("Linux cooked v1", layers.LinkTypeLinuxSLL, false, false),
		Entry("Linux cooked v2", layers.LinkTypeLinuxSLL2, false, true),
		Entry("Linux cooked v2, IPv6", layers.LinkTypeLinuxSLL2, true, true),
		Entry("raw IP", layers.LinkTypeRaw, false, false),
		Entry("raw IP, IPv6", layers.LinkTypeRaw, true, true),
		Entry("loopback/null", layers.LinkTypeNull, false, true),
	)

	It("reads an ICMP unreachable with the datagram it quotes", func() {
		ack := udp4(netip.MustParseAddrPort("203.0.113.2:5060"), netip.MustParseAddrPort("192.168.1.10:5060"), 77,
			[]byte("ACK sip:bob@192.168.1.10:5060 SIP/2.0\r\n\r\n"))
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 0)}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4,
			SrcIP: net.IP{203, 0, 113, 254}, DstIP: net.IP{203, 0, 113, 2}}
		buf := gopacket.NewSerializeBuffer()
		Expect(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, icmp, gopacket.Payload(ack[:28]))).To(Succeed())
		ps := readAll(writePcap(layers.LinkTypeRaw, [][]byte{ack, buf.Bytes()}))
		Expect(ps).To(HaveLen(2))
		Expect(ps[1].ICMP).To(Equal(&field.ICMPError{From: netip.MustParseAddr("203.0.113.254"), Reason: "network unreachable",
			Src: netip.MustParseAddrPort("203.0.113.2:5060"), Dst: netip.MustParseAddrPort("192.168.1.10:5060"), IPID: 78}))
	})
})

var _ = Describe("ICMP errors", func() {
	It("ties a network unreachable to the ACK it answers and states the drop as certain", func() {
		// The registrar's capture of the no-NAT-handling case, with a router
		// answering each ACK to bob's private address with ICMP network unreachable.
		var frames []frame
		for _, fr := range readFrames("testdata/sim-no-nat-handling-registrar.pcap") {
			frames = append(frames, fr)
			ip := fr.data[14:]
			if netip.AddrFrom4([4]byte(ip[16:20])) != netip.MustParseAddr("192.168.1.10") {
				continue
			}
			icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 0)}
			hdr := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4,
				SrcIP: net.IP{203, 0, 113, 254}, DstIP: net.IP{203, 0, 113, 2}}
			buf := gopacket.NewSerializeBuffer()
			Expect(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, hdr, icmp, gopacket.Payload(ip[:28]))).To(Succeed())
			frames = append(frames, frame{gopacket.CaptureInfo{Timestamp: fr.ci.Timestamp.Add(time.Millisecond)}, link(layers.LinkTypeEthernet, buf.Bytes())})
		}
		name := writeFrames(layers.LinkTypeEthernet, frames)

		d, err := field.Diagnose(context.Background(), []string{name}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Calls).To(HaveLen(1))
		Expect(d.Calls[0].ACKFate).To(Equal("dropped: ICMP network unreachable from 203.0.113.254"))
		Expect(d.Calls[0].Blame).To(Equal("203.0.113.2"))
		Expect(d.Evidence[0].Statements).To(ContainElements(
			field.Statement{Confidence: field.Certain, Text: "it was dropped at 203.0.113.254: ICMP network unreachable from 203.0.113.254 (" + name + " packet 90)"},
			field.Statement{Confidence: field.Certain, Text: "203.0.113.2 sent the ACK to 192.168.1.10:5060 and got ICMP network unreachable from 203.0.113.254, 11 times"},
		))
	})
})

// fixContentLength sets the Content-Length of a SIP message to its body's length.
func fixContentLength(text string) string {
	head, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok || body == "" {
		return text
	}
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.ToLower(l), "content-length:") {
			lines[i] = fmt.Sprintf("Content-Length: %d", len(body))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

// ipLayer is an IPv4 or IPv6 header to serialize.
type ipLayer interface {
	gopacket.NetworkLayer
	gopacket.SerializableLayer
}

// rewriteFrames rewrites every Ethernet/IPv4/UDP frame of a capture: edit returns the
// IP header to write (the same, changed, or an IPv6 one) and the SIP text, whose
// Content-Length is then fixed.
func rewriteFrames(in string, edit func(ip *layers.IPv4, text string) (ipLayer, string)) string {
	var out []frame
	for _, fr := range readFrames(in) {
		p := gopacket.NewPacket(fr.data, layers.LinkTypeEthernet, gopacket.Default)
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		ip, text := edit(p.Layer(layers.LayerTypeIPv4).(*layers.IPv4), string(udp.Payload))
		if _, v6 := ip.(*layers.IPv6); v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
		}
		Expect(udp.SetNetworkLayerForChecksum(ip)).To(Succeed())
		buf := gopacket.NewSerializeBuffer()
		Expect(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(fixContentLength(text)))).To(Succeed())
		out = append(out, frame{fr.ci, buf.Bytes()})
	}
	return writeFrames(layers.LinkTypeEthernet, out)
}

// readdress rewrites a capture's IPv4 addresses, in headers and SIP text alike.
func readdress(in string, m map[string]string) string {
	swap := func(ip net.IP) net.IP {
		if to, ok := m[ip.String()]; ok {
			return netip.MustParseAddr(to).AsSlice()
		}
		return ip
	}
	return rewriteFrames(in, func(ip *layers.IPv4, text string) (ipLayer, string) {
		for from, to := range m {
			text = strings.ReplaceAll(text, from, to)
		}
		ip.SrcIP, ip.DstIP = swap(ip.SrcIP), swap(ip.DstIP)
		return ip, text
	})
}

var _ = Describe("a capture inside one private network", func() {
	It("places private hosts no NAT was seen in front of in a LAN, with the NATed callee's NAT inside it", func() {
		for _, c := range []struct {
			file  string
			ack   bool
			blame string
		}{
			{"testdata/sim-correct-nat-handling-plain.pcap", true, ""},
			{"testdata/sim-no-nat-handling-plain.pcap", false, "10.0.0.2"},
		} {
			file := readdress(c.file, map[string]string{"198.51.100.10": "10.0.0.10", "203.0.113.1": "10.0.0.1",
				"203.0.113.2": "10.0.0.2", "203.0.113.50": "10.0.0.50"})
			d, err := field.Diagnose(context.Background(), []string{file}, field.Options{})
			Expect(err).NotTo(HaveOccurred())
			Expect(d.Calls).To(HaveLen(1), c.file)
			Expect(d.Calls[0].ACKAtCallee).To(Equal(c.ack), c.file)
			Expect(d.Calls[0].Blame).To(Equal(c.blame), c.file)
			Expect(d.Calls[0].From).To(Equal("10.0.0.10"))
			Expect(d.Calls[0].To).To(Equal("192.168.1.10"))
		}
	})
})
