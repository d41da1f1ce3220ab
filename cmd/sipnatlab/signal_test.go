package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("sipnatlab run interrupted", Label("loopback"), func() {
	DescribeTable("stops at once and still writes the report and the capture",
		func(sig syscall.Signal) {
			pcap := filepath.Join(GinkgoT().TempDir(), "out.pcap")
			cmd := exec.Command(os.Args[0], "run", "-v", "--pcap", pcap, "../../scenarios/no-nat-handling.yaml")
			cmd.Env = append(os.Environ(), asCommand+"=1")
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { _ = cmd.Process.Kill() })
			lines := bufio.NewScanner(stderr)
			Expect(lines.Scan()).To(BeTrue())
			Expect(lines.Text()).To(ContainSubstring("interrupt to stop"))
			// Interrupt once bob has retransmitted his 200 OK: the live event
			// stream (-v) says when.
			for lines.Scan() && !strings.Contains(lines.Text(), "ok-retransmitted") {
			}
			Expect(cmd.Process.Signal(sig)).To(Succeed())

			// Read the rest of stderr to EOF (the process exits), then reap it.
			done := make(chan string, 1)
			go func() {
				rest := ""
				for lines.Scan() {
					rest += lines.Text() + "\n"
				}
				done <- rest
			}()
			var rest string
			Eventually(done, 10*time.Second).Should(Receive(&rest))
			werr := cmd.Wait()
			var exit *exec.ExitError
			Expect(werr).To(BeAssignableToTypeOf(exit))
			Expect(werr.(*exec.ExitError).ExitCode()).To(Equal(1))
			Expect(rest).To(ContainSubstring("sipnatlab: interrupted"))
			out := stdout.String()
			Expect(out).To(ContainSubstring("Scenario no-nat-handling"))
			Expect(out).To(ContainSubstring("FAIL no-nat-handling"))
			Expect(out).To(ContainSubstring("-REGISTER-"), "the ladder of what was captured")
			Expect(out).To(MatchRegexp(`200 OK retransmissions: [1-9]`), "bob's retransmission was captured")
			st, err := os.Stat(pcap)
			Expect(err).NotTo(HaveOccurred(), "the capture is written")
			Expect(st.Size()).To(BeNumerically(">", 0))
		},
		Entry("SIGINT", syscall.SIGINT),
		Entry("SIGTERM", syscall.SIGTERM),
	)
})
