package field

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrFormat is wrapped by the errors of a file that is no pcap or pcapng capture, or
// whose link type carries no IP.
var ErrFormat = errors.New("not a pcap or pcapng capture")

// Packet is one UDP datagram carrying SIP, or one ICMP error about a UDP datagram, as
// one capture file holds it.
type Packet struct {
	Time     time.Time
	File     int    // index of the file among those read
	N        int    // 1-based packet number in the file
	Vantage  string // the file and, for pcapng, its interface: where the packet was seen
	Src, Dst netip.AddrPort
	IPID     uint32 // IPv4 identification + 1; 0 for IPv6 or unknown
	Payload  []byte // the UDP payload (SIP); nil for an ICMP error
	ICMP     *ICMPError
}

// ICMPError is an ICMP destination-unreachable message about a UDP datagram: who sent
// it, why, and the datagram it quotes (RFC 792, RFC 4443 §3.1).
type ICMPError struct {
	From     netip.Addr
	Reason   string // "network unreachable", "host unreachable", "port unreachable", ...
	Src, Dst netip.AddrPort
	IPID     uint32 // the quoted datagram's identification + 1; 0 for IPv6
}

// File reads one pcap or pcapng file packet by packet, decoding Ethernet, Linux
// cooked (v1, v2), raw IP and loopback/null link types, IPv4 and IPv6, reassembling
// IP fragments, and keeping only UDP datagrams whose payload is SIP (by content, on
// any port) and ICMP errors about UDP datagrams.
type File struct {
	Name  string
	index int
	f     *os.File
	pcap  *pcapgo.Reader
	ng    *pcapgo.NgReader
	n     int
	v4    *ip4defrag.IPv4Defragmenter
	v6    *ip6defrag.IPv6Defragmenter
}

// Open opens the capture file name, the index-th of those read together.
func Open(name string, index int) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	r := &File{Name: name, index: index, f: f, v4: ip4defrag.NewIPv4Defragmenter(), v6: ip6defrag.NewIPv6Defragmenter()}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read %q: %w (%d bytes)", name, ErrFormat, len(magic))
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		r.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		r.pcap, err = pcapgo.NewReader(br)
	default:
		_ = f.Close()
		return nil, fmt.Errorf("read %q: %w (magic %#08x)", name, ErrFormat, binary.BigEndian.Uint32(magic))
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read %q: %w: %v", name, ErrFormat, err)
	}
	return r, nil
}

// Close closes the file.
func (r *File) Close() error { return r.f.Close() }

// Next returns the next SIP datagram or ICMP error of the file; io.EOF at its end. Any
// other error (a truncated or damaged file) ends the file: what came before stays good.
func (r *File) Next() (Packet, error) {
	for {
		var data []byte
		var ci gopacket.CaptureInfo
		var err error
		var lt layers.LinkType
		vantage := r.Name
		if r.ng != nil {
			data, ci, err = r.ng.ZeroCopyReadPacketData()
			if err == nil {
				lt = ci.AncillaryData[0].(layers.LinkType)
				if intf, ierr := r.ng.Interface(ci.InterfaceIndex); ierr == nil && r.ng.NInterfaces() > 1 {
					name := intf.Name
					if name == "" {
						name = fmt.Sprint(ci.InterfaceIndex)
					}
					vantage += "#" + name
				}
			}
		} else {
			data, ci, err = r.pcap.ZeroCopyReadPacketData()
			lt = r.pcap.LinkType()
		}
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		r.n++
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return Packet{}, fmt.Errorf("read %q: packet %d: the file is truncated (%w)", r.Name, r.n, err)
			}
			return Packet{}, fmt.Errorf("read %q: packet %d: %w", r.Name, r.n, err)
		}
		p, ok := r.decode(data, lt, ci.Timestamp)
		if !ok {
			continue
		}
		p.Time, p.File, p.N, p.Vantage = ci.Timestamp, r.index, r.n, vantage
		return p, nil
	}
}

// first layer a link type's frames start with.
func firstLayer(lt layers.LinkType) gopacket.Decoder {
	switch lt {
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6
	}
	return lt
}

// decode returns the SIP datagram or ICMP error a frame carries.
func (r *File) decode(data []byte, lt layers.LinkType, ts time.Time) (Packet, bool) {
	pkt := gopacket.NewPacket(data, firstLayer(lt), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var p Packet
	var src, dst netip.Addr
	var l4 gopacket.LayerType
	var l4data []byte
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			// The defragmenter keeps fragments: a copy, not the read buffer.
			own := &layers.IPv4{}
			if own.DecodeFromBytes(append(bytes.Clone(ip.Contents), ip.Payload...), gopacket.NilDecodeFeedback) != nil {
				return p, false
			}
			whole, err := r.v4.DefragIPv4WithTimestamp(own, ts)
			if err != nil || whole == nil {
				return p, false
			}
			ip = whole
		}
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		p.IPID = uint32(ip.Id) + 1
		l4, l4data = ip.Protocol.LayerType(), ip.Payload
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		if frag, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
			own, ownFrag := &layers.IPv6{}, &layers.IPv6Fragment{}
			if own.DecodeFromBytes(append(bytes.Clone(ip.Contents), ip.Payload...), gopacket.NilDecodeFeedback) != nil ||
				ownFrag.DecodeFromBytes(append(bytes.Clone(frag.Contents), frag.Payload...), gopacket.NilDecodeFeedback) != nil {
				return p, false
			}
			whole := r.v6.DefragIPv6(own, ownFrag)
			if whole == nil {
				return p, false
			}
			ip = whole
			l4, l4data = ip.NextHeader.LayerType(), ip.Payload
		} else {
			l4, l4data = ip.NextHeader.LayerType(), ip.Payload
		}
	default:
		return p, false
	}
	src, dst = src.Unmap(), dst.Unmap()
	switch l4 {
	case layers.LayerTypeUDP:
		if len(l4data) < 8 {
			return p, false
		}
		end := int(binary.BigEndian.Uint16(l4data[4:6]))
		if end < 8 || end > len(l4data) {
			end = len(l4data)
		}
		payload := l4data[8:end]
		if !isSIP(payload) {
			return p, false
		}
		p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4data[0:2]))
		p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4data[2:4]))
		p.Payload = bytes.Clone(payload)
		return p, true
	case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		e := icmpError(l4 == layers.LayerTypeICMPv6, l4data)
		if e == nil {
			return p, false
		}
		e.From = src
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		p.ICMP = e
		return p, true
	}
	return p, false
}

var icmp4Reasons = map[byte]string{0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
	3: "port unreachable", 9: "network administratively prohibited", 10: "host administratively prohibited",
	13: "communication administratively prohibited"}

var icmp6Reasons = map[byte]string{0: "no route to destination", 1: "communication administratively prohibited",
	3: "address unreachable", 4: "port unreachable"}

// icmpError reads a destination-unreachable ICMP message quoting a UDP datagram.
func icmpError(v6 bool, b []byte) *ICMPError {
	if len(b) < 8 {
		return nil
	}
	typ, code, q := b[0], b[1], b[8:]
	e := &ICMPError{}
	var proto byte
	var ports []byte
	switch {
	case !v6 && typ == 3:
		e.Reason = icmp4Reasons[code]
		if len(q) < 20 || q[0]>>4 != 4 {
			return nil
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl+4 {
			return nil
		}
		proto = q[9]
		s, _ := netip.AddrFromSlice(q[12:16])
		d, _ := netip.AddrFromSlice(q[16:20])
		e.IPID = uint32(binary.BigEndian.Uint16(q[4:6])) + 1
		ports = q[ihl:]
		e.Src, e.Dst = netip.AddrPortFrom(s, 0), netip.AddrPortFrom(d, 0)
	case v6 && typ == 1:
		e.Reason = icmp6Reasons[code]
		if len(q) < 44 || q[0]>>4 != 6 {
			return nil
		}
		proto = q[6]
		s, _ := netip.AddrFromSlice(q[8:24])
		d, _ := netip.AddrFromSlice(q[24:40])
		ports = q[40:]
		e.Src, e.Dst = netip.AddrPortFrom(s.Unmap(), 0), netip.AddrPortFrom(d.Unmap(), 0)
	default:
		return nil
	}
	if proto != 17 || len(ports) < 4 {
		return nil
	}
	if e.Reason == "" {
		e.Reason = fmt.Sprintf("unreachable (code %d)", code)
	}
	e.Src = netip.AddrPortFrom(e.Src.Addr(), binary.BigEndian.Uint16(ports[0:2]))
	e.Dst = netip.AddrPortFrom(e.Dst.Addr(), binary.BigEndian.Uint16(ports[2:4]))
	return e
}

// isSIP reports whether a UDP payload is a SIP message: a status line, or a request
// line ending in SIP/2.0 (RFC 3261 §7.1), whatever the port.
func isSIP(b []byte) bool {
	if bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return true
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	line := bytes.TrimRight(b[:i], "\r")
	return bytes.HasSuffix(line, []byte(" SIP/2.0")) && bytes.IndexByte(line, ' ') > 0
}
