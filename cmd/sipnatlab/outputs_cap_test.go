package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/creack/pty"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// colours matches the ANSI colour codes of the text report.
var colours = regexp.MustCompile("\x1b\\[[0-9;]*m")

// pcapPackets counts the packets of a classic pcap file.
func pcapPackets(file string) int {
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for {
		_, _, err := r.ReadPacketData()
		if err == io.EOF {
			return n
		}
		Expect(err).NotTo(HaveOccurred())
		n++
	}
}

var _ = Describe("sipnatlab run --pcap-dir", func() {
	It("writes one capture per host and NAT, as a tcpdump on it would", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap-dir", dir, "../../scenarios/no-nat-handling.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		Expect(names).To(Equal([]string{"alice.pcap", "bob.pcap", "home-nat.pcap", "proxy-a.pcap", "proxy-b.pcap"}))
		for _, n := range names {
			Expect(pcapPackets(filepath.Join(dir, n))).To(BeNumerically(">", 10), n)
		}
	})

	It("names the captures of several scenarios after them, and creates the directory", func(ctx SpecContext) {
		dir := filepath.Join(GinkgoT().TempDir(), "caps")
		code, _, _ := runCLI(ctx, "run", "--clock", "simulated", "--pcap-dir", dir,
			"../../scenarios/correct-nat-handling.yaml", "../../scenarios/double-nat.yaml")
		Expect(code).To(Equal(0))
		Expect(filepath.Join(dir, "bob-correct-nat-handling.pcap")).To(BeAnExistingFile())
		Expect(filepath.Join(dir, "cgn-double-nat.pcap")).To(BeAnExistingFile())
		Expect(filepath.Join(dir, "bob.pcap")).NotTo(BeAnExistingFile())
	})

	DescribeTable("leaves no directory behind when the outputs are refused",
		func(ctx SpecContext, pcap func(caps string) string, refusal string) {
			parent := GinkgoT().TempDir()
			caps := filepath.Join(parent, "new", "caps")
			code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap-dir", caps, "--pcap", pcap(caps), "../../scenarios/no-nat-handling.yaml")
			Expect(code).To(Equal(2))
			Expect(stderr).To(ContainSubstring(refusal))
			entries, err := os.ReadDir(parent)
			Expect(err).NotTo(HaveOccurred())
			Expect(entries).To(BeEmpty(), "neither caps nor its new parent")
		},
		Entry("a clash with --pcap", func(caps string) string { return filepath.Join(caps, "bob.pcap") }, "would write the same file"),
		Entry("a --pcap file name too long", func(caps string) string { return filepath.Join(caps, strings.Repeat("x", 256)) }, "longer than 255 bytes"),
	)

	It("keeps a directory that was there before, though refused", func(ctx SpecContext) {
		caps := GinkgoT().TempDir()
		code, _, _ := runCLI(ctx, "run", "--clock", "simulated", "--pcap-dir", caps, "--pcap", filepath.Join(caps, "bob.pcap"), "../../scenarios/no-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(caps).To(BeADirectory())
	})
})

var _ = Describe("sipnatlab run --html with several scenarios", func() {
	It("writes an index page at FILE linking each scenario's page", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		index := filepath.Join(dir, "out.html")
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--html", index,
			"../../scenarios/correct-nat-handling.yaml", "../../scenarios/no-nat-handling.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		page, err := os.ReadFile(index)
		Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{"correct-nat-handling", "no-nat-handling"} {
			Expect(string(page)).To(ContainSubstring(`href="out-` + name + `.html"`))
			Expect(filepath.Join(dir, "out-"+name+".html")).To(BeAnExistingFile())
		}
	})
})

var _ = Describe("the text report on a terminal", func() {
	It("takes the terminal's width: at 80 columns no row of double-nat's ladder wraps", func(ctx SpecContext) {
		ptmx, tty, err := pty.Open()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ptmx.Close)
		DeferCleanup(func() { _ = tty.Close() })
		Expect(pty.Setsize(tty, &pty.Winsize{Rows: 40, Cols: 80})).To(Succeed())
		Expect(terminalWidth(tty)).To(Equal(80))
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		Expect(terminalWidth(w)).To(Equal(0), "a pipe is no terminal")
		Expect(w.Close()).To(Succeed())

		// What the command writes to the terminal, read from its other end.
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(&out, ptmx)
		}()
		var stderr bytes.Buffer
		code := run(ctx, &interrupts{}, []string{"run", "--clock", "simulated", "../../scenarios/double-nat.yaml"}, tty, &stderr)
		Expect(code).To(Equal(0), stderr.String())
		Expect(tty.Close()).To(Succeed())
		<-done

		plain := colours.ReplaceAllString(strings.ReplaceAll(out.String(), "\r\n", "\n"), "")
		ladder, _, found := strings.Cut(plain, "\nCall ")
		Expect(found).To(BeTrue(), plain)
		lines := strings.Split(ladder, "\n")
		Expect(len(lines)).To(BeNumerically(">", 20))
		for _, line := range lines[3:] {
			Expect(utf8.RuneCountInString(line)).To(BeNumerically("<=", 80), "%q", line)
		}
	})
})
