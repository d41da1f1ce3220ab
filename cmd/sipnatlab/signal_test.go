package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// heavyScenario is a load on loopback, bounded: 1000 calls through two proxies and a
// NAT, 250 at a time, each talking 1 s (about 4 rounds when not interrupted).
const heavyScenario = `name: heavy
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: correct}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - register: bob
  - call: {from: alice, to: bob, via: proxy-a, talk: 1s, count: 1000, concurrency: 250}
`

// process is this test binary started as sipnatlab, counting the lines of its stderr
// that contain each of the strings it watches.
type process struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	exited chan struct{} // closed once stderr is at its end and the process is reaped

	mu     sync.Mutex
	stderr strings.Builder
	counts map[string]int
}

// startProcess starts sipnatlab with args, watching its stderr for watch.
func startProcess(watch []string, args ...string) *process {
	p := &process{cmd: exec.Command(os.Args[0], args...), exited: make(chan struct{}), counts: map[string]int{}}
	p.cmd.Env = append(os.Environ(), asCommand+"=1")
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(p.cmd.Start()).To(Succeed())
	go func() {
		defer close(p.exited)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(lines.Text() + "\n")
			for _, w := range watch {
				if strings.Contains(lines.Text(), w) {
					p.counts[w]++
				}
			}
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
	}()
	DeferCleanup(func() {
		_ = p.cmd.Process.Kill()
		Eventually(p.exited).WithTimeout(10 * time.Second).Should(BeClosed())
	})
	return p
}

// count is how many lines of stderr so far contain w, one of the watched strings.
func (p *process) count(w string) func() int {
	return func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.counts[w]
	}
}

func (p *process) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

var _ = Describe("sipnatlab run interrupted under load", Label("loopback"), func() {
	const (
		acked  = "ack-received"
		notice = "sipnatlab: interrupted: stopping the runs, then writing the report and the files of what ran (interrupt again to stop at once)"
		again  = "sipnatlab: interrupted again: stopped at once; the report and the files not yet written are missing"
	)
	var dir, file string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		file = filepath.Join(dir, "heavy.yaml")
		Expect(os.WriteFile(file, []byte(heavyScenario), 0o644)).To(Succeed())
	})

	// loaded starts the heavy run with -v and returns it once 500 calls have their ACK,
	// with out, the directory of its outputs.
	loaded := func(out string) *process {
		p := startProcess([]string{acked, notice, again}, "run", "-v", "--clock", "real",
			"--pcap", filepath.Join(out, "heavy.pcap"), "--pcap-dir", filepath.Join(out, "hosts"), file)
		Eventually(p.count(acked)).WithTimeout(60*time.Second).WithPolling(5*time.Millisecond).Should(BeNumerically(">=", 500), "calls under way")
		return p
	}

	// The bounds are generous for a loaded machine; what they tell apart is a notice at
	// once from one after the judging (seconds), and an exit at once from a report.
	It("says at once that it writes the report, then writes it and the capture", func(ctx SpecContext) {
		out := filepath.Join(dir, "out")
		Expect(os.Mkdir(out, 0o755)).To(Succeed())
		p := loaded(out)
		Expect(p.cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		start := time.Now()
		Eventually(p.count(notice)).WithTimeout(5*time.Second).WithPolling(5*time.Millisecond).Should(Equal(1), "the notice, at once")
		GinkgoWriter.Printf("notice %s after SIGINT\n", time.Since(start))
		Eventually(p.exited).WithTimeout(90 * time.Second).Should(BeClosed())
		GinkgoWriter.Printf("exited %s after SIGINT\n", time.Since(start))
		Expect(p.cmd.ProcessState.ExitCode()).To(Equal(1), p.stderrText())
		Expect(p.stderrText()).To(HaveSuffix("sipnatlab: interrupted\n"))
		Expect(p.stdout.String()).To(ContainSubstring("Scenario heavy"))
		Expect(pcapInterfaces(filepath.Join(out, "heavy.pcap"))).To(ContainElement("lan:home-nat"))
		Expect(pcapPackets(filepath.Join(out, "hosts", "bob.pcap"))).To(BeNumerically(">", 0))
	}, SpecTimeout(3*time.Minute))

	It("stops at once at a second interrupt, leaving no output file or directory", func(ctx SpecContext) {
		out := filepath.Join(dir, "out")
		Expect(os.Mkdir(out, 0o755)).To(Succeed())
		p := loaded(out)
		Expect(p.cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		Eventually(p.count(notice)).WithTimeout(5 * time.Second).WithPolling(5 * time.Millisecond).Should(Equal(1))
		Expect(p.cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		start := time.Now()
		Eventually(p.exited).WithTimeout(5*time.Second).WithPolling(5*time.Millisecond).Should(BeClosed(), "still running 5 s after the second SIGINT")
		GinkgoWriter.Printf("exited %s after the second SIGINT\n", time.Since(start))
		Expect(p.cmd.ProcessState.ExitCode()).To(Equal(1), p.stderrText())
		Expect(p.count(again)()).To(Equal(1), p.stderrText())
		Expect(p.stdout.String()).NotTo(ContainSubstring("Scenario heavy"), "no report")
		Expect(os.ReadDir(out)).To(BeEmpty(), "no capture, no temporary file, no --pcap-dir made")
	}, SpecTimeout(3*time.Minute))
})
