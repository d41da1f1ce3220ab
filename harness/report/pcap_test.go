package report_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
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

// packetsPerHop counts, from the capture, the packets WritePcap documents: key
// "interface src dst label".
func packetsPerHop(res *harness.Result) map[string]int {
	want := map[string]int{}
	sender := map[int]string{}
	translatedAt := map[int]map[string]bool{}
	for _, r := range res.Capture {
		if r.Datagram == 0 {
			continue
		}
		src, dst := r.Src, r.Dst
		switch r.Kind {
		case sim.Sent:
			sender[r.Datagram] = r.Hop
		case sim.Translated:
			src, dst = r.XSrc, r.XDst
			if translatedAt[r.Datagram] == nil {
				translatedAt[r.Datagram] = map[string]bool{}
			}
			translatedAt[r.Datagram][r.Hop] = true
		case sim.Delivered:
		case sim.Dropped:
			if r.Hop == sender[r.Datagram] || translatedAt[r.Datagram][r.Hop] {
				continue
			}
		default:
			continue
		}
		want[fmt.Sprintf("%s %s %s %s", r.Hop, src.Addr(), dst.Addr(), sipLabel(r.Data))]++
	}
	return want
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

	It("reads back as pcapng with one interface per hop and a comment on every packet", func() {
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
		var names []string
		for i := range r.NInterfaces() {
			intf, err := r.Interface(i)
			Expect(err).NotTo(HaveOccurred())
			names = append(names, intf.Name)
		}
		Expect(names).To(Equal([]string{"alice", "proxy-a", "proxy-b", "home-nat", "bob"}))

		total := 0
		for _, n := range packetsPerHop(res) {
			total += n
		}
		Expect(comments).To(HaveLen(total))
		Expect(comments).To(ContainElement("bob sent (datagram 1)"))
		Expect(comments).To(ContainElement(HavePrefix("home-nat translated 192.168.1.10:5060->203.0.113.50:40000 (datagram 1; new binding")))
		Expect(comments).To(ContainElement("delivered to proxy-b (datagram 1)"))
		Expect(comments).To(ContainElement(MatchRegexp(`^proxy-b sent \(datagram \d+\); dropped at proxy-b: no route to private address 192\.168\.1\.10:5060`)))
	})

	It("decodes as SIP in tshark, each datagram once per hop it crossed, with the virtual addresses", func(ctx SpecContext) {
		tshark := tool("tshark")
		cmd := exec.CommandContext(ctx, tshark, "-r", file, "-Y", "sip", "-T", "fields", "-E", "separator=/t",
			"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
			"-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst",
			"-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq.method",
			"-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "frame.comment")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), stderr.String())

		got := map[string]int{}
		comments := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
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
		Expect(got).To(Equal(packetsPerHop(res)))

		// The story of no-nat-handling, in tshark's words.
		Expect(got).To(HaveKeyWithValue("bob 192.168.1.10 203.0.113.2 REGISTER", 1))
		Expect(got).To(HaveKeyWithValue("home-nat 203.0.113.50 203.0.113.2 REGISTER", 1))
		Expect(got).To(HaveKeyWithValue("alice 198.51.100.10 203.0.113.1 INVITE", 1))
		Expect(got).To(HaveKeyWithValue("bob 203.0.113.2 192.168.1.10 INVITE", 1))
		// bob's 200 OK and its 10 retransmissions, at every hop back to alice.
		for _, k := range []string{
			"bob 192.168.1.10 203.0.113.2 200/INVITE",
			"home-nat 203.0.113.50 203.0.113.2 200/INVITE",
			"proxy-b 203.0.113.50 203.0.113.2 200/INVITE",
			"proxy-b 203.0.113.2 203.0.113.1 200/INVITE",
			"proxy-a 203.0.113.2 203.0.113.1 200/INVITE",
			"proxy-a 203.0.113.1 198.51.100.10 200/INVITE",
			"alice 203.0.113.1 198.51.100.10 200/INVITE",
		} {
			Expect(got).To(HaveKeyWithValue(k, 11), k)
		}
		// alice ACKs each of them; each ACK dies at proxy-b and never reaches home-nat or bob.
		for _, k := range []string{
			"alice 198.51.100.10 203.0.113.1 ACK",
			"proxy-a 198.51.100.10 203.0.113.1 ACK",
			"proxy-a 203.0.113.1 203.0.113.2 ACK",
			"proxy-b 203.0.113.1 203.0.113.2 ACK",
			"proxy-b 203.0.113.2 192.168.1.10 ACK",
		} {
			Expect(got).To(HaveKeyWithValue(k, 11), k)
		}
		for k := range got {
			if strings.HasSuffix(k, " ACK") {
				Expect(k).NotTo(Or(HavePrefix("bob "), HavePrefix("home-nat ")))
			}
		}
		for _, c := range comments["proxy-b 203.0.113.2 192.168.1.10 ACK"] {
			Expect(c).To(ContainSubstring("dropped at proxy-b: no route to private address 192.168.1.10:5060"))
		}
		// bob hangs up after 64*T1, and his BYE reaches alice.
		Expect(got).To(HaveKeyWithValue("bob 192.168.1.10 203.0.113.2 BYE", 1))
		Expect(got).To(HaveKeyWithValue("alice 203.0.113.1 198.51.100.10 BYE", 1))
	}, SpecTimeout(time.Minute))

	It("opens in sngrep, which finds the dialogs and saves every packet", func(ctx SpecContext) {
		sngrep := tool("sngrep")
		callIDs := map[string]bool{}
		packets := 0
		for _, n := range packetsPerHop(res) {
			packets += n
		}
		for _, r := range res.Capture {
			if r.Kind == sim.Sent {
				msg, err := sip.NewParser().ParseSIP(bytes.Clone(r.Data))
				Expect(err).NotTo(HaveOccurred())
				callIDs[msg.CallID().Value()] = true
			}
		}
		saved := filepath.Join(GinkgoT().TempDir(), "sngrep.pcap")
		// -N: no interface, just capture; -I: read this file; -O: save what it captured.
		cmd := exec.CommandContext(ctx, sngrep, "-N", "-I", file, "-O", saved)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		// It updates a running count; the last one is the file's.
		Expect(string(out)).To(MatchRegexp(`Dialog count: %d\s*$`, len(callIDs)))

		f, err := os.Open(saved)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		r, err := pcapgo.NewReader(f)
		Expect(err).NotTo(HaveOccurred())
		n := 0
		for {
			_, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			n++
		}
		Expect(n).To(Equal(packets))
	}, SpecTimeout(time.Minute))
})
