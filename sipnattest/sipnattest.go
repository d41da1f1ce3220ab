// Package sipnattest is test support for Ginkgo suites that run sipnatlab scenarios,
// the project's own and its users': a leak guard that fails a spec which leaves a
// goroutine behind. It imports no Docker code, so a simulated-time suite links none;
// package sipnattest/dockersuite gates the specs that need Docker and the proxy images.
//
//	func TestOurs(t *testing.T) {
//		RegisterFailHandler(Fail)
//		RunSpecs(t, "ours")
//	}
//
//	var _ = sipnattest.GuardLeaks()
package sipnattest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

// GuardLeaks registers, at the top level of a suite, a check after every
// spec that it left no goroutine behind (a run's Close waits for what it
// started). The Docker client's idle HTTP connections and Ginkgo's own
// output copiers are not ours and are ignored. It returns true so a suite
// can write var _ = sipnattest.GuardLeaks().
func GuardLeaks() bool {
	var baseline goleak.Option
	BeforeEach(func() { baseline = goleak.IgnoreCurrent() })
	AfterEach(func() {
		Expect(goleak.Find(baseline,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			// Under ginkgo -p, Ginkgo's output interceptor restarts its
			// copiers around the nodes of a spec.
			goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1"),
			goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1.1"),
		)).To(Succeed())
	})
	return true
}
