package match_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

func TestMatch(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "harness/match")
}

// No spec may leave a goroutine behind (a run's Close waits for its own).
var leakBaseline goleak.Option

var _ = BeforeEach(func() { leakBaseline = goleak.IgnoreCurrent() })

var _ = AfterEach(func() {
	Expect(goleak.Find(leakBaseline,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)).To(Succeed())
})
