package report

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// maxUDPPayload is the largest UDP payload an IPv4 packet can carry.
const maxUDPPayload = 65535 - 20 - 8

// WritePcap writes the capture of one run as a pcapng file, as taps on its wire
// segments would have seen it: Ethernet/IPv4/UDP packets carrying the virtual
// addresses, timestamped by the run's clock, with one interface per segment (the
// public network "internet", and "lan:NAT" for the LAN behind each NAT), so that
// `frame.interface_name == "lan:home-nat"` shows what a tap behind home-nat saw. A
// datagram is written once per segment it crossed:
//
//   - as its sender wrote it, on the sender's segment;
//   - after each NAT that passed it on, with the addresses after translation: on the
//     NAT's outside for an outbound datagram, on its LAN for an inbound or hairpinned
//     one;
//   - a datagram dropped for lack of a route (no host owns the address, a private
//     address out of reach) or of a socket on the port is answered, as a real router
//     or host answers it, by an ICMP destination unreachable (network, host or port
//     unreachable; RFC 792) from the hop that dropped it to the source it had there,
//     quoting the start of the datagram; drops by a NAT's filter or for a missing
//     binding are silent, as in a real NAT.
//
// So a retransmission is the only datagram a segment sees twice, and Wireshark's
// `sip.resend` flags only those. Every packet carries a pcapng comment naming the hop
// and the event ("bob sent (datagram 12)", "home-nat translated
// 192.168.1.10:5060->203.0.113.50:40000 (datagram 12; new binding ...)", "dropped at
// proxy-b: no route to private address ... (datagram 13); ICMP network unreachable
// from proxy-b"), and the copies of a dropped datagram say where and why it died. The
// datagram number is the capture's, shared by all copies of one datagram; its low 16
// bits are the IPv4 identification field. The TTL is 64 as sent and one less after
// each NAT. Binding events (Datagram 0) are not packets. [WriteHostPcap] writes what
// one host saw.
//
// The link layer is Ethernet with made-up, locally administered MAC addresses that
// embed the IPv4 address (02:00:cb:00:71:02 for 203.0.113.2), not raw IP: libpcap
// 1.10 (Debian 12) rejects a pcapng file with more than one LINKTYPE_RAW interface,
// so sngrep and tcpdump could not read it, and sngrep does not know LINKTYPE_IPV4.
//
// The file also carries what `sipnatlab judge` needs to judge it again exactly like the
// run that wrote it: the section header's comment holds, after its first line, a
// "sipnatlab-run" line with the run as JSON (the scenario with its topology, clock,
// seed, start and end, real addresses, the run's error), and every packet a second
// comment, a "sipnatlab-records" line with the capture records it stands for as JSON
// (kind, hop, endpoints, typed cause, reason), together with the records that are no
// packet of their own (deliveries, binding events, actors' notes, silent drops) since
// the packet before. [ReadPcap] reads it back.
//
// res must not be nil; runErr is the run's error, nil when it ended normally.
// WritePcap stops at the first error; what it wrote before is then an incomplete file.
func WritePcap(w io.Writer, res *harness.Result, runErr error) error {
	name := runName(res)
	fail := func(err error) error { return fmt.Errorf("write pcap of %q: %w", name, err) }
	tr := res.Trace
	if tr == nil {
		tr = trace.New(res.Capture)
	}
	log := tr.Log()
	wr := newWire(tr, res.Scenario)

	// The records that are no packet ride along with the next packet; those after the
	// last packet with the section header.
	meta, err := runMetadata(res, runErr, heads(log, wr.lastRec+1, log.Len()))
	if err != nil {
		return fail(err)
	}
	section := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "sipnatlab",
		Comment:     "sipnatlab scenario " + name + ": virtual addresses, one interface per wire segment\n" + meta,
	}}
	segments := wr.segments
	if len(segments) == 0 {
		segments = []string{publicSegment}
	}
	intf := func(seg string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: seg, Description: wr.description(seg), LinkType: layers.LinkTypeEthernet, OS: "sipnatlab"}
	}
	nw, err := pcapgo.NewNgWriterInterface(w, intf(segments[0]), section)
	if err != nil {
		return fail(err)
	}
	index := map[string]int{segments[0]: 0}
	for _, seg := range segments[1:] {
		id, err := nw.AddInterface(intf(seg))
		if err != nil {
			return fail(err)
		}
		index[seg] = id
	}

	buf := gopacket.NewSerializeBuffer()
	next := 0 // the first record not yet written
	for p := range wr.packets(true) {
		r := log.At(p.rec)
		if err := wirePacketBytes(buf, p, r); err != nil {
			return fail(err)
		}
		recs, err := recordsComment(heads(log, next, p.rec+1))
		if err != nil {
			return fail(err)
		}
		next = p.rec + 1
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: len(data), Length: len(data), InterfaceIndex: index[p.segment]}
		if err := nw.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Comments: []string{p.comment, recs}}); err != nil {
			return fail(err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fail(err)
	}
	return nil
}

// WriteHostPcap writes what a tcpdump on host (a host or NAT of the run) would have
// captured, as a classic pcap file for sngrep or tcpdump: the packets of [WritePcap]
// it sent, passed on or took off the wire, and the ICMP errors it sent or was sent,
// without comments. res must not be nil.
func WriteHostPcap(w io.Writer, res *harness.Result, host string) error {
	fail := func(err error) error { return fmt.Errorf("write pcap of %s in %q: %w", host, runName(res), err) }
	tr := res.Trace
	if tr == nil {
		tr = trace.New(res.Capture)
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return fail(err)
	}
	buf := gopacket.NewSerializeBuffer()
	for p := range newWire(tr, res.Scenario).packets(false) {
		if p.from != host && p.to != host {
			continue
		}
		r := tr.Log().At(p.rec)
		if err := wirePacketBytes(buf, p, r); err != nil {
			return fail(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: len(data), Length: len(data)}
		if err := pw.WritePacket(ci, data); err != nil {
			return fail(err)
		}
	}
	return nil
}

// heads decodes records from to to (exclusive) of log, without their Data.
func heads(log *sim.Log, from, to int) []sim.Record {
	out := make([]sim.Record, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, log.Head(i))
	}
	return out
}

func runName(res *harness.Result) string {
	if res.Scenario != nil {
		return res.Scenario.Name
	}
	return "run"
}

// wirePacketBytes serializes p, made from record r, into buf.
func wirePacketBytes(buf gopacket.SerializeBuffer, p wirePacket, r sim.Record) error {
	var err error
	if p.icmp >= 0 {
		err = icmpPacket(buf, p.src.Addr(), p.dst.Addr(), uint8(p.icmp), r)
	} else {
		err = packet(buf, p.src, p.dst, uint16(r.Datagram), p.ttl, r.Data)
	}
	if err != nil {
		return fmt.Errorf("record %d (%s at %s): %w", r.Seq, r.Kind, r.Hop, err)
	}
	return nil
}

// translation says which endpoints a NAT rewrote: "192.168.1.10:5060->203.0.113.50:40000"
// for the source of an outbound datagram, the destination for an inbound one, both for
// a hairpinned one.
func translation(r sim.Record) string {
	var parts []string
	if r.Src != r.XSrc() {
		parts = append(parts, fmt.Sprintf("%s->%s", r.Src, r.XSrc()))
	}
	if r.Dst != r.XDst() {
		parts = append(parts, fmt.Sprintf("%s->%s", r.Dst, r.XDst()))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// packet serializes an Ethernet/IPv4/UDP packet with correct lengths and checksums into buf.
func packet(buf gopacket.SerializeBuffer, src, dst netip.AddrPort, id uint16, ttl uint8, payload []byte) error {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return fmt.Errorf("%s -> %s: not IPv4", src, dst)
	}
	if len(payload) > maxUDPPayload {
		return fmt.Errorf("%s -> %s: %d bytes exceed an IPv4 UDP payload", src, dst, len(payload))
	}
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: ttl, Id: id, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolUDP, SrcIP: s4[:], DstIP: d4[:],
	}
	eth := &layers.Ethernet{SrcMAC: mac(s4), DstMAC: mac(d4), EthernetType: layers.EthernetTypeIPv4}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	return gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload))
}

// icmpQuote is how much of a dropped datagram an ICMP error quotes: as much as fits
// in 576 bytes (RFC 1812 §4.3.2.3).
const icmpQuote = 576 - 20 - 8

// icmpPacket serializes into buf an ICMP destination unreachable with code from from
// to to that quotes the datagram of the Dropped record r as it was where it died.
func icmpPacket(buf gopacket.SerializeBuffer, from, to netip.Addr, code uint8, r sim.Record) error {
	if err := packet(buf, r.Src, r.Dst, uint16(r.Datagram), 64, r.Data); err != nil {
		return err
	}
	quote := buf.Bytes()[14:] // the IPv4 datagram, without its Ethernet header
	quote = bytes.Clone(quote[:min(len(quote), icmpQuote)])
	if !from.Is4() || !to.Is4() {
		return fmt.Errorf("ICMP %s -> %s: not IPv4", from, to)
	}
	f4, t4 := from.As4(), to.As4()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: f4[:], DstIP: t4[:]}
	eth := &layers.Ethernet{SrcMAC: mac(f4), DstMAC: mac(t4), EthernetType: layers.EthernetTypeIPv4}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code)}
	return gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, gopacket.Payload(quote))
}

// mac makes a locally administered unicast MAC address from an IPv4 address.
func mac(a [4]byte) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
}
