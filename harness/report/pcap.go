package report

import (
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

// WritePcap writes the capture of one run as a pcapng file: Ethernet/IPv4/UDP packets
// carrying the virtual addresses, timestamped by the run's clock, with one interface per
// host and NAT box, named after it, so that a filter such as
// `frame.interface_name == "proxy-b"` shows what that hop saw. A datagram is written
// once at every hop it crossed:
//
//   - its Sent record at the sender's interface, with the addresses as written;
//   - each Translated record at the NAT's interface, with the addresses after
//     translation;
//   - its Delivered record at the receiver's interface, as the receiver reads it;
//   - a Dropped record only when it died at a hop that has no packet of it yet (a NAT
//     filtering it, a host with no socket on the port); a datagram that died at its
//     sender or at the NAT that just translated it is not written again.
//
// Every packet carries a pcapng comment naming the hop and the event ("bob sent
// (datagram 12)", "home-nat translated 192.168.1.10:5060->203.0.113.50:40000 (datagram
// 12; new binding ...)", "delivered to proxy-b (datagram 12)"), and a dropped
// datagram's packets add where and why it died ("dropped at proxy-b: no route to
// private address ..."), so a lost datagram stays visible as the packet its sender
// wrote. The datagram number is the capture's, shared by all packets of one datagram;
// its low 16 bits are the IPv4 identification field. The TTL is 64 as sent and one less
// after each NAT. Binding events (Datagram 0) are not packets.
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
// packet of their own (binding events, actors' notes, drops at the sender) since the
// packet before. [ReadPcap] reads it back.
//
// res must not be nil; runErr is the run's error, nil when it ended normally.
// WritePcap stops at the first error; what it wrote before is then an incomplete file.
func WritePcap(w io.Writer, res *harness.Result, runErr error) error {
	name := "run"
	if res.Scenario != nil {
		name = res.Scenario.Name
	}
	fail := func(err error) error { return fmt.Errorf("write pcap of %q: %w", name, err) }

	// The datagrams of the capture, for annotations that need later records.
	tr := res.Trace
	if tr == nil {
		tr = trace.New(res.Capture)
	}
	// annotated reports whether the Dropped record r is already told on a packet of
	// its hop: the one its sender wrote, or the one the NAT that dropped it translated.
	annotated := func(r sim.Record) bool {
		d := tr.Datagram(r.Datagram)
		if d == nil {
			return false
		}
		if r.Hop == d.Sender() {
			return true
		}
		for _, x := range d.Xlat {
			if x.Hop == r.Hop {
				return true
			}
		}
		return false
	}
	hops := []string{}
	seen := map[string]bool{}
	addHop := func(h string) {
		if !seen[h] {
			seen[h] = true
			hops = append(hops, h)
		}
	}
	desc := map[string]string{}
	for _, c := range res.Columns {
		addHop(c.Name)
		role := "host"
		switch {
		case c.IsNAT:
			role = "NAT, public address"
		case c.Private:
			role = "host behind NAT"
		}
		desc[c.Name] = fmt.Sprintf("%s %s (%s)", c.Name, c.Addr, role)
	}
	for _, r := range res.Capture {
		if r.Datagram != 0 {
			addHop(r.Hop)
		}
	}

	// Which records become packets, and which ride along with the next packet.
	packetOf := make([]bool, len(res.Capture))
	for i, r := range res.Capture {
		switch r.Kind {
		case sim.Sent, sim.Translated, sim.Delivered:
			packetOf[i] = r.Datagram != 0
		case sim.Dropped:
			packetOf[i] = r.Datagram != 0 && !annotated(r)
		}
	}
	last := -1 // the last record that is a packet
	for i := range packetOf {
		if packetOf[i] {
			last = i
		}
	}
	var tail []sim.Record // records after the last packet, carried by the section header
	for i := last + 1; i < len(res.Capture); i++ {
		tail = append(tail, res.Capture[i])
	}
	meta, err := runMetadata(res, runErr, tail)
	if err != nil {
		return fail(err)
	}
	section := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "sipnatlab",
		Comment:     "sipnatlab scenario " + name + ": virtual addresses, one interface per host and NAT\n" + meta,
	}}
	intf := func(h string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: h, Description: desc[h], LinkType: layers.LinkTypeEthernet, OS: "sipnatlab"}
	}
	if len(hops) == 0 {
		hops = append(hops, name)
	}
	nw, err := pcapgo.NewNgWriterInterface(w, intf(hops[0]), section)
	if err != nil {
		return fail(err)
	}
	index := map[string]int{hops[0]: 0}
	for _, h := range hops[1:] {
		id, err := nw.AddInterface(intf(h))
		if err != nil {
			return fail(err)
		}
		index[h] = id
	}

	ttl := map[int]uint8{} // datagram -> TTL at its latest hop
	buf := gopacket.NewSerializeBuffer()
	var pending []sim.Record // records that ride along with the next packet
	for i, r := range res.Capture {
		if !packetOf[i] {
			if i < last {
				pending = append(pending, r)
			}
			continue
		}
		id := fmt.Sprintf("datagram %d", r.Datagram)
		var drop *sim.Record
		if d := tr.Datagram(r.Datagram); d != nil && d.Dropped() {
			drop = d.End
		}
		dropNote := ""
		if drop != nil {
			dropNote = fmt.Sprintf("; dropped at %s: %s", drop.Hop, drop.Reason)
		}
		var src, dst netip.AddrPort
		var comment string
		switch r.Kind {
		case sim.Sent:
			ttl[r.Datagram] = 64
			src, dst = r.Src, r.Dst
			comment = fmt.Sprintf("%s sent (%s)%s", r.Hop, id, dropNote)
		case sim.Translated:
			ttl[r.Datagram]--
			src, dst = r.XSrc, r.XDst
			comment = fmt.Sprintf("%s translated %s (%s", r.Hop, translation(r), id)
			if r.Reason != "" {
				comment += "; " + r.Reason
			}
			comment += ")"
			if drop != nil && drop.Hop == r.Hop {
				comment += dropNote
			}
		case sim.Delivered:
			src, dst = r.Src, r.Dst
			comment = fmt.Sprintf("delivered to %s (%s)", r.Hop, id)
		case sim.Dropped:
			src, dst = r.Src, r.Dst
			comment = fmt.Sprintf("dropped at %s: %s (%s)", r.Hop, r.Reason, id)
		}
		if _, ok := ttl[r.Datagram]; !ok {
			ttl[r.Datagram] = 64 // a datagram whose Sent record is missing
		}
		if err := packet(buf, src, dst, uint16(r.Datagram), ttl[r.Datagram], r.Data); err != nil {
			return fail(fmt.Errorf("record %d (%s at %s): %w", r.Seq, r.Kind, r.Hop, err))
		}
		recs, err := recordsComment(append(pending, r))
		if err != nil {
			return fail(err)
		}
		pending = pending[:0]
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: len(data), Length: len(data), InterfaceIndex: index[r.Hop]}
		if err := nw.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Comments: []string{comment, recs}}); err != nil {
			return fail(err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fail(err)
	}
	return nil
}

// translation says which endpoints a NAT rewrote: "192.168.1.10:5060->203.0.113.50:40000"
// for the source of an outbound datagram, the destination for an inbound one, both for
// a hairpinned one.
func translation(r sim.Record) string {
	var parts []string
	if r.Src != r.XSrc {
		parts = append(parts, fmt.Sprintf("%s->%s", r.Src, r.XSrc))
	}
	if r.Dst != r.XDst {
		parts = append(parts, fmt.Sprintf("%s->%s", r.Dst, r.XDst))
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

// mac makes a locally administered unicast MAC address from an IPv4 address.
func mac(a [4]byte) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
}
