// Package examples is a suite written the way a team using sipnatlab would
// write its own: it imports only the public packages (harness and
// harness/match) and checks a custom topology, once from a YAML file and once
// built in Go.
package examples_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

func TestExamples(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "examples")
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
