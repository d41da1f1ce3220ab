package main

import (
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// pcapInterfaces opens a pcapng file and returns its interface names.
func pcapInterfaces(file string) []string {
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred())
	_, _, err = r.ReadPacketData()
	Expect(err).NotTo(HaveOccurred(), "at least one packet")
	var names []string
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		Expect(err).NotTo(HaveOccurred())
		names = append(names, intf.Name)
	}
	return names
}

var _ = Describe("sipnatlab run --pcap", func() {
	It("writes the capture of a single scenario to FILE", func(ctx SpecContext) {
		file := filepath.Join(GinkgoT().TempDir(), "out.pcap")
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", file, "../../scenarios/no-nat-handling.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		Expect(pcapInterfaces(file)).To(Equal([]string{"internet", "lan:home-nat"}))
	})

	It("writes one file per scenario, the name inserted before the extension, failed runs too", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, _, _ := runCLI(ctx, "run", "--clock=simulated", "--pcap", filepath.Join(dir, "out.pcap"),
			"../../scenarios/correct-nat-handling.yaml", "testdata/wrong-expectation.yaml")
		Expect(code).To(Equal(1))
		for _, name := range []string{"out-correct-nat-handling.pcap", "out-wrong-expectation.pcap"} {
			Expect(pcapInterfaces(filepath.Join(dir, name))).To(ContainElement("lan:home-nat"), name)
		}
		Expect(filepath.Join(dir, "out.pcap")).NotTo(BeAnExistingFile())
	})

	It("exits 2 when the file cannot be written", func(ctx SpecContext) {
		file := filepath.Join(GinkgoT().TempDir(), "no-such-dir", "out.pcap")
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", file, "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("no-such-dir"))
	})
})
