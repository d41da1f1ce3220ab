package harness_test

import (
	"net"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestHarness(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "harness")
}

// Every spec, and so every scenario run in the suite, must leave no
// goroutine and no socket behind: a run's Close waits for what it started.
var _ = sipnattest.GuardLeaks()

var socketsAtStart int

var _ = BeforeEach(func() { socketsAtStart = openSockets() })

var _ = AfterEach(func() {
	Expect(openSockets()).To(BeNumerically("<=", socketsAtStart), "sockets left open")
})

// openSockets counts this process's open UDP sockets: its socket file
// descriptors whose inodes the kernel's UDP tables list.
func openSockets() int {
	mine := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 9 && mine[f[9]] {
				n++
			}
		}
	}
	return n
}

var _ = Describe("the socket count", Label("loopback"), func() {
	It("sees the sockets of a run while it is open", func() {
		before := openSockets()
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		Expect(openSockets()).To(Equal(before + 1))
		Expect(c.Close()).To(Succeed())
		Expect(openSockets()).To(Equal(before))
	})
})
