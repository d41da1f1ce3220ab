package report_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/sim"
)

// tool returns the path of an external program the spec needs. Missing, it fails the
// spec in CI (CI=true), where .ci/run installs it, and skips it elsewhere.
func tool(name string) string {
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install %s; .ci/run installs it)", name, name)
	if os.Getenv("CI") == "true" {
		Fail(msg)
	}
	Skip(msg)
	return ""
}

// sipLabel names a SIP message as the tshark rows below do: "INVITE", "200/INVITE".
func sipLabel(data []byte) string {
	msg, err := sip.NewParser().ParseSIP(bytes.Clone(data))
	Expect(err).NotTo(HaveOccurred())
	switch m := msg.(type) {
	case *sip.Request:
		return string(m.Method)
	case *sip.Response:
		return fmt.Sprintf("%d/%s", m.StatusCode, m.CSeq().MethodName)
	}
	return "?"
}

// segmentCopies counts, from the capture of no-nat-handling, the copies a tap on each
// wire segment sees: key "segment src dst label". bob's datagrams leave on the LAN
// behind home-nat and home-nat puts inbound ones there; everything else is on the
// public network.
func segmentCopies(res *harness.Result) map[string]int {
	want := map[string]int{}
	for _, r := range res.Capture.All() {
		if r.Datagram == 0 {
			continue
		}
		seg, src, dst := "internet", r.Src, r.Dst
		switch {
		case r.Kind == sim.Sent && r.Hop == "bob":
			seg = "lan:home-nat"
		case r.Kind == sim.Sent:
		case r.Kind == sim.Translated && r.Dst != r.XDst():
			seg, src, dst = "lan:home-nat", r.XSrc(), r.XDst()
		case r.Kind == sim.Translated:
			src, dst = r.XSrc(), r.XDst()
		default:
			continue
		}
		want[fmt.Sprintf("%s %s %s %s", seg, src.Addr(), dst.Addr(), sipLabel(r.Data))]++
	}
	return want
}

// count sums the values of m.
func count(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// answeredByICMP counts the capture's datagrams dropped for lack of a route or a socket.
func answeredByICMP(res *harness.Result) int {
	n := 0
	for _, r := range res.Capture.All() {
		if r.Kind == sim.Dropped && r.Datagram != 0 &&
			(r.Cause == sim.CausePrivateUnreachable || r.Cause == sim.CauseNoHost || r.Cause == sim.CausePortUnreachable) {
			n++
		}
	}
	return n
}

// retransmitted returns the datagrams that are retransmissions: a SIP message whose
// sender had sent one with the same Call-ID, CSeq, method or status and destination
// before (RFC 3261 §17). Their ids are keyed by their low 16 bits, the IPv4 id.
func retransmitted(res *harness.Result) map[uint16]bool {
	out := map[uint16]bool{}
	sent := map[string]bool{}
	for _, r := range res.Capture.All() {
		if r.Kind != sim.Sent {
			continue
		}
		msg, err := sip.NewParser().ParseSIP(bytes.Clone(r.Data))
		if err != nil {
			continue // a keep-alive
		}
		key := fmt.Sprintf("%s %s %s %s %s", r.Hop, r.Dst, msg.CallID().Value(), msg.CSeq().Value(), sipLabel(r.Data))
		if sent[key] {
			out[uint16(r.Datagram)] = true
		}
		sent[key] = true
	}
	return out
}

// tshark runs tshark on file with args and returns its standard output.
func tshark(ctx SpecContext, file string, args ...string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(ctx, tool("tshark"), append([]string{"-r", file}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), stderr.String())
	return strings.TrimSpace(string(out))
}

func writePcapFile(res *harness.Result) string {
	file := filepath.Join(GinkgoT().TempDir(), res.Scenario.Name+".pcapng")
	f, err := os.Create(file)
	Expect(err).NotTo(HaveOccurred())
	Expect(report.WritePcap(f, res, nil)).To(Succeed())
	Expect(f.Close()).To(Succeed())
	return file
}

var _ = Describe("the pcap export", func() {
	var (
		res  *harness.Result
		file string
	)
	BeforeEach(func() {
		_, res = run("no-nat-handling")
		file = writePcapFile(res)
	})

	It("reads back as pcapng with one interface per wire segment and a comment on every packet", func() {
		f, err := os.Open(file)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		Expect(err).NotTo(HaveOccurred())
		var comments []string
		for {
			_, _, opts, err := r.ReadPacketDataWithOptions()
			if err == io.EOF {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(opts.Comments).To(HaveLen(2))
			Expect(opts.Comments[1]).To(HavePrefix("sipnatlab-records "))
			comments = append(comments, opts.Comments[0])
		}
		var names, descs []string
		for i := range r.NInterfaces() {
			intf, err := r.Interface(i)
			Expect(err).NotTo(HaveOccurred())
			names = append(names, intf.Name)
			descs = append(descs, intf.Description)
		}
		Expect(names).To(Equal([]string{"internet", "lan:home-nat"}))
		Expect(descs).To(Equal([]string{
			"the public network: home-nat 203.0.113.50, alice 198.51.100.10, proxy-a 203.0.113.1, proxy-b 203.0.113.2",
			"the LAN 192.168.1.0/24 behind home-nat: bob 192.168.1.10",
		}))

		Expect(comments).To(HaveLen(count(segmentCopies(res)) + answeredByICMP(res)))
		Expect(comments).To(ContainElement("bob sent (datagram 1)"))
		Expect(comments).To(ContainElement(HavePrefix("home-nat translated 192.168.1.10:5060->203.0.113.50:40000 (datagram 1; new binding")))
		Expect(comments).NotTo(ContainElement(ContainSubstring("delivered")), "a delivery is no packet of its own")
		Expect(comments).To(ContainElement(MatchRegexp(`^proxy-b sent \(datagram \d+\); dropped at proxy-b: no route to private address 192\.168\.1\.10:5060`)))
		Expect(comments).To(ContainElement(MatchRegexp(`^dropped at proxy-b: no route to private address 192\.168\.1\.10:5060 .*\(datagram \d+\); ICMP network unreachable from proxy-b$`)))
	})

	It("decodes as SIP in tshark, each datagram once per wire segment it crossed, with the virtual addresses", func(ctx SpecContext) {
		out := tshark(ctx, file, "-Y", "sip && !icmp", "-T", "fields", "-E", "separator=/t",
			"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
			"-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst",
			"-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq.method",
			"-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "frame.comment")
		got := map[string]int{}
		comments := map[string][]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, "\t")
			Expect(f).To(HaveLen(9), line)
			iface, src, dst, method, status, cseq := f[0], f[1], f[2], f[3], f[4], f[5]
			Expect(f[6]).To(Equal("1"), "IPv4 checksum good: "+line)
			Expect(f[7]).To(Equal("1"), "UDP checksum good: "+line)
			label := method
			if status != "" {
				label = status + "/" + cseq
			}
			key := fmt.Sprintf("%s %s %s %s", iface, src, dst, label)
			got[key]++
			comments[key] = append(comments[key], f[8])
		}
		Expect(got).To(Equal(segmentCopies(res)))

		// The story of no-nat-handling, in tshark's words.
		Expect(got).To(HaveKeyWithValue("lan:home-nat 192.168.1.10 203.0.113.2 REGISTER", 1))
		Expect(got).To(HaveKeyWithValue("internet 203.0.113.50 203.0.113.2 REGISTER", 1))
		Expect(got).To(HaveKeyWithValue("internet 198.51.100.10 203.0.113.1 INVITE", 1))
		Expect(got).To(HaveKeyWithValue("internet 203.0.113.2 203.0.113.50 INVITE", 1))
		Expect(got).To(HaveKeyWithValue("lan:home-nat 203.0.113.2 192.168.1.10 INVITE", 1))
		// bob's 200 OK and its 10 retransmissions, on every segment back to alice.
		for _, k := range []string{
			"lan:home-nat 192.168.1.10 203.0.113.2 200/INVITE",
			"internet 203.0.113.50 203.0.113.2 200/INVITE",
			"internet 203.0.113.2 203.0.113.1 200/INVITE",
			"internet 203.0.113.1 198.51.100.10 200/INVITE",
		} {
			Expect(got).To(HaveKeyWithValue(k, 11), k)
		}
		// alice ACKs each of them; each ACK dies at proxy-b and never reaches the LAN.
		for _, k := range []string{
			"internet 198.51.100.10 203.0.113.1 ACK",
			"internet 203.0.113.1 203.0.113.2 ACK",
			"internet 203.0.113.2 192.168.1.10 ACK",
		} {
			Expect(got).To(HaveKeyWithValue(k, 11), k)
		}
		for k := range got {
			if strings.HasSuffix(k, " ACK") {
				Expect(k).NotTo(HavePrefix("lan:"))
			}
		}
		for _, c := range comments["internet 203.0.113.2 192.168.1.10 ACK"] {
			Expect(c).To(ContainSubstring("dropped at proxy-b: no route to private address 192.168.1.10:5060"))
		}
		// bob hangs up after 64*T1, and his BYE reaches alice.
		Expect(got).To(HaveKeyWithValue("lan:home-nat 192.168.1.10 203.0.113.2 BYE", 1))
		Expect(got).To(HaveKeyWithValue("internet 203.0.113.1 198.51.100.10 BYE", 1))
	}, SpecTimeout(time.Minute))

	It("answers each ACK proxy-b has no route for with an ICMP network unreachable that quotes it", func(ctx SpecContext) {
		out := tshark(ctx, file, "-Y", "icmp", "-T", "fields", "-E", "separator=/t",
			"-e", "frame.interface_name", "-e", "icmp.type", "-e", "icmp.code", "-e", "ip.src", "-e", "ip.dst", "-e", "sip.Method")
		acks := 0
		lines := strings.Split(out, "\n")
		for _, line := range lines {
			f := strings.Split(line, "\t")
			Expect(f).To(HaveLen(6), line)
			// From proxy-b, which dropped it, to the source it had there (proxy-b's
			// own routing), quoting the datagram to 192.168.1.10.
			Expect(f[:5]).To(Equal([]string{"internet", "3", "0", "203.0.113.2,203.0.113.2", "203.0.113.2,192.168.1.10"}), line)
			if f[5] == "ACK" {
				acks++
			}
		}
		Expect(lines).To(HaveLen(answeredByICMP(res)))
		Expect(acks).To(Equal(11))
	}, SpecTimeout(time.Minute))

	It("shows sngrep a duplicate only where a message was retransmitted", func(ctx SpecContext) {
		saved := filepath.Join(GinkgoT().TempDir(), "sngrep.pcap")
		cmd := exec.CommandContext(ctx, tool("sngrep"), "-N", "-I", file, "-O", saved)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		// sngrep 1.6 (msg_is_retrans) marks a message as a duplicate when the last
		// message of its call with the same source and destination (address and
		// port) carried the same payload. Applied to the packets sngrep read back:
		f, err := os.Open(saved)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		r, err := pcapgo.NewReader(f)
		Expect(err).NotTo(HaveOccurred())
		retrans := retransmitted(res)
		last := map[string]string{} // Call-ID, source and destination -> payload
		dups, packets := 0, 0
		for {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if ip == nil || !ok || p.Layer(layers.LayerTypeICMPv4) != nil {
				continue
			}
			packets++
			msg, err := sip.NewParser().ParseSIP(bytes.Clone(udp.Payload))
			Expect(err).NotTo(HaveOccurred())
			key := fmt.Sprintf("%s %s:%d %s:%d", msg.CallID().Value(), ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort)
			if last[key] == string(udp.Payload) {
				Expect(retrans).To(HaveKey(ip.Id), "sngrep would mark datagram %d a duplicate, but it was sent once", ip.Id)
				dups++
			}
			last[key] = string(udp.Payload)
		}
		Expect(packets).To(Equal(count(segmentCopies(res))))
		Expect(dups).To(BeNumerically(">", 0), "bob's retransmissions are duplicates")
	}, SpecTimeout(time.Minute))

	It("opens in sngrep per host, as a tcpdump on that host would have captured it", func(ctx SpecContext) {
		sngrep := tool("sngrep")
		dir := GinkgoT().TempDir()
		// The caller, the proxy that loses the ACK, the callee.
		for _, c := range res.Columns {
			if c.Name != "alice" && c.Name != "proxy-b" && c.Name != "bob" {
				continue
			}
			host := filepath.Join(dir, c.Name+".pcap")
			f, err := os.Create(host)
			Expect(err).NotTo(HaveOccurred())
			Expect(report.WriteHostPcap(f, res, c.Name)).To(Succeed())
			Expect(f.Close()).To(Succeed())

			// What the host's tap holds: every packet has the host's own address
			// on one end (the NAT: its public one, or the LAN's packets it passed).
			packets, callIDs := readHostPcap(host)
			saved := filepath.Join(dir, c.Name+"-sngrep.pcap")
			// -N: no interface, just capture; -I: read this file; -O: save what it captured.
			cmd := exec.CommandContext(ctx, sngrep, "-N", "-I", host, "-O", saved)
			out, err := cmd.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
			// It updates a running count; the last one is the file's.
			Expect(string(out)).To(MatchRegexp(`Dialog count: %d\s*$`, len(callIDs)), c.Name)
			savedPackets, _ := readHostPcap(saved)
			Expect(savedPackets).To(HaveLen(len(packets)-strings.Count(strings.Join(packets, "\n"), "icmp")), c.Name)
			switch c.Name {
			case "proxy-b":
				Expect(packets).To(ContainElement("udp 203.0.113.2 192.168.1.10 ACK"), "the ACK it sent into nowhere")
				Expect(packets).To(ContainElement("icmp 203.0.113.2 203.0.113.2"), "and the ICMP its routing answered")
			case "bob":
				Expect(packets).NotTo(ContainElement(HaveSuffix(" ACK")), "no ACK ever reaches bob")
				Expect(packets).To(ContainElement("udp 192.168.1.10 203.0.113.2 200/INVITE"))
			case "alice":
				for _, p := range packets {
					Expect(p).To(Or(HavePrefix("udp 198.51.100.10 "), MatchRegexp(`^udp \S+ 198\.51\.100\.10 `)), "only alice's own packets")
				}
			}
		}
	}, SpecTimeout(time.Minute))
})

// readHostPcap reads a classic pcap file of Ethernet frames and returns its packets as
// "udp SRC DST LABEL" or "icmp SRC DST", and the Call-IDs of its SIP messages.
func readHostPcap(file string) ([]string, map[string]bool) {
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	callIDs := map[string]bool{}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out, callIDs
		}
		Expect(err).NotTo(HaveOccurred())
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && p.Layer(layers.LayerTypeICMPv4) == nil {
			msg, err := sip.NewParser().ParseSIP(bytes.Clone(udp.Payload))
			Expect(err).NotTo(HaveOccurred())
			callIDs[msg.CallID().Value()] = true
			out = append(out, fmt.Sprintf("udp %s %s %s", ip.SrcIP, ip.DstIP, sipLabel(udp.Payload)))
			continue
		}
		out = append(out, fmt.Sprintf("icmp %s %s", ip.SrcIP, ip.DstIP))
	}
}

var _ = Describe("Wireshark's view of the capture", func() {
	DescribeTable("flags only true retransmissions as resent, and answers routing drops with ICMP",
		func(ctx SpecContext, path string) {
			_, res := run(strings.TrimSuffix(filepath.Base(path), ".yaml"))
			file := writePcapFile(res)
			// One pass: the resent SIP frames and the ICMP errors, then the SIP statistics.
			out := tshark(ctx, file, "-Y", "(sip.resend == 1 && !icmp) || icmp.type == 3", "-T", "fields", "-e", "ip.id", "-e", "icmp.type", "-z", "sip,stat")
			frames, stat, found := strings.Cut(out, "=====")
			Expect(found).To(BeTrue(), out)
			retrans := retransmitted(res)
			flagged, icmp := 0, 0
			for _, line := range strings.Fields(strings.ReplaceAll(frames, "\t", "/")) {
				id, typ, _ := strings.Cut(line, "/")
				if typ == "3" {
					icmp++
					continue
				}
				n, err := strconv.ParseUint(strings.TrimPrefix(id, "0x"), 16, 16)
				Expect(err).NotTo(HaveOccurred())
				Expect(retrans).To(HaveKey(uint16(n)), "tshark flags a copy of datagram %d, which is no retransmission", n)
				flagged++
			}
			if strings.HasSuffix(path, "/no-nat-handling.yaml") {
				// bob's 200 OK retransmissions, on every segment (Wireshark does not
				// flag every retransmission: only one equal to the last message with
				// the same Call-ID and addresses).
				Expect(flagged).To(BeNumerically(">=", 40), "the retransmissions are seen as such")
			}
			Expect(stat).To(ContainSubstring(fmt.Sprintf("Number of resent SIP messages: %d\n", flagged)))
			Expect(icmp).To(Equal(answeredByICMP(res)))
		},
		// One of each: drops with no route, two NATs, a hairpin, NAT drops for an
		// expired binding.
		Entry(nil, "../../scenarios/no-nat-handling.yaml"),
		Entry(nil, "../../scenarios/double-nat.yaml"),
		Entry(nil, "../../scenarios/same-nat-hairpin-on.yaml"),
		Entry(nil, "../../scenarios/binding-expiry.yaml"),
	)
})
