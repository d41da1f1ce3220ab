package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// fakeProxies starts a fakeStarted, whose Close waits until close is closed.
type fakeProxies struct{ close chan struct{} }

func (f fakeProxies) Start(context.Context, *scenario.Scenario, map[string]harness.Container) (harness.Started, error) {
	return fakeStarted(f), nil
}

type fakeStarted struct{ close chan struct{} }

func (fakeStarted) Scenario() *scenario.Scenario           { return nil }
func (fakeStarted) Real() map[string]string                { return nil }
func (fakeStarted) Attach(string, *sim.Conn) (bool, error) { return false, nil }
func (f fakeStarted) Close()                               { <-f.close }
func (fakeStarted) Logs() map[string]string                { return map[string]string{"proxy-b": "log"} }

var _ = Describe("interrupts", func() {
	var (
		irq    *interrupts
		ctx    context.Context
		stderr *gbytes.Buffer
		exits  chan int
	)
	BeforeEach(func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(context.Background())
		DeferCleanup(cancel)
		exits = make(chan int, 1)
		stderr = gbytes.NewBuffer()
		irq = &interrupts{cancel: cancel, exit: func(code int) { exits <- code }}
		irq.setup(stderr, "sipnatlab: interrupted: writing the report")
	})

	It("cancels the command at the first and says what follows; ends the process at the second", func() {
		irq.signal()
		Expect(ctx.Err()).To(HaveOccurred())
		Expect(stderr).To(gbytes.Say("interrupted: writing the report\n"))
		Expect(exits).NotTo(Receive())

		irq.signal()
		Eventually(exits).Should(Receive(Equal(1)))
		Expect(stderr).To(gbytes.Say("interrupted again: stopped at once; the report and the files not yet written are missing\n"))
	})

	It("ends the process at the first while nothing runs yet (no notice)", func() {
		irq.setNotice("")
		irq.signal()
		Eventually(exits).Should(Receive(Equal(1)))
		Expect(stderr).To(gbytes.Say("interrupted before anything ran\n"))
	})

	It("clears the progress lines before the notice", func() {
		var before []byte
		irq.setLive(func() { before = stderr.Contents() })
		irq.signal()
		Expect(before).To(BeEmpty())
		Expect(stderr).To(gbytes.Say("writing the report"))
	})

	Describe("output files", func() {
		It("writes through a temporary file renamed once complete, keeping an existing file's mode", func() {
			dir := GinkgoT().TempDir()
			file := filepath.Join(dir, "out.pcap")
			Expect(os.WriteFile(file, []byte("old"), 0o600)).To(Succeed())
			Expect(irq.writeFile("--pcap", file, func(w io.Writer) error {
				entries, err := os.ReadDir(dir)
				Expect(err).NotTo(HaveOccurred())
				Expect(entries).To(HaveLen(2), "the old file and the temporary one")
				Expect(os.ReadFile(file)).To(Equal([]byte("old")), "untouched while the new one is written")
				_, err = io.WriteString(w, "new")
				return err
			})).To(Succeed())
			Expect(os.ReadFile(file)).To(Equal([]byte("new")))
			st, err := os.Stat(file)
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Mode().Perm()).To(Equal(os.FileMode(0o600)))
			entries, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(entries).To(HaveLen(1))
		})

		It("leaves neither the file nor its temporary file when the second interrupt comes while it is written", func() {
			dir := GinkgoT().TempDir()
			file := filepath.Join(dir, "out.pcap")
			writing, release, written := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				written <- irq.writeFile("--pcap", file, func(w io.Writer) error {
					_, err := io.WriteString(w, "half")
					close(writing)
					<-release
					return err
				})
			}()
			Eventually(writing).Should(BeClosed())
			irq.signal()
			irq.signal()
			Eventually(exits).Should(Receive(Equal(1)))
			Expect(os.ReadDir(dir)).To(BeEmpty())

			close(release) // the writer finishes after the end: its file is not completed
			Eventually(written).Should(Receive(MatchError(errInterrupted)))
			Expect(os.ReadDir(dir)).To(BeEmpty())
		})

		It("removes the directories it made while they are empty, not those it found", func() {
			parent := GinkgoT().TempDir()
			Expect(irq.mkdirAll(filepath.Join(parent, "a", "b"))).To(Succeed())
			Expect(irq.mkdirAll(filepath.Join(parent, "c", "d"))).To(Succeed())
			Expect(os.WriteFile(filepath.Join(parent, "c", "d", "x.pcap"), nil, 0o644)).To(Succeed())
			irq.removeEmptyDirs()
			Expect(filepath.Join(parent, "a")).NotTo(BeAnExistingFile())
			Expect(filepath.Join(parent, "c", "d", "x.pcap")).To(BeAnExistingFile())
			Expect(parent).To(BeADirectory())
		})

		It("removes them at the second interrupt", func() {
			parent := GinkgoT().TempDir()
			Expect(irq.mkdirAll(filepath.Join(parent, "a", "b"))).To(Succeed())
			irq.signal()
			irq.signal()
			Eventually(exits).Should(Receive(Equal(1)))
			Expect(os.ReadDir(parent)).To(BeEmpty())
		})
	})

	It("waits at the second interrupt until the real proxies are removed, and starts no more", func() {
		closing := make(chan struct{})
		proxies := irq.realProxies(fakeProxies{closing})
		started, err := proxies.Start(ctx, nil, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(started.(harness.LogsReporter).Logs()).To(HaveKeyWithValue("proxy-b", "log"))

		irq.signal()
		irq.signal()
		Eventually(stderr).Should(gbytes.Say("removing the real proxies' containers first"))
		Consistently(exits).WithTimeout(100*time.Millisecond).ShouldNot(Receive(), "waiting for Close")
		_, err = proxies.Start(ctx, nil, nil)
		Expect(err).To(MatchError(errInterrupted))

		close(closing)
		started.Close() // the run's own cleanup
		Eventually(exits).Should(Receive(Equal(1)))
	})

	It("ends at a third interrupt without waiting for the real proxies", func() {
		exits = make(chan int, 2)
		closing := make(chan struct{})
		started, err := irq.realProxies(fakeProxies{closing}).Start(ctx, nil, nil)
		Expect(err).NotTo(HaveOccurred())
		irq.signal()
		irq.signal()
		Eventually(stderr).Should(gbytes.Say("removing the real proxies' containers first"))
		irq.signal()
		Eventually(exits).Should(Receive(Equal(1)))
		Expect(stderr).To(gbytes.Say("interrupted a third time: stopped without waiting"))

		close(closing) // in process, the second's wait ends too
		started.Close()
		Eventually(exits).Should(Receive(Equal(1)))
	})
})
