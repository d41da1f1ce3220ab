// Package examples is a suite written the way a team using sipnatlab would
// write its own: it imports only public packages (harness, harness/match,
// harness/scenario, sim/proxy, sipnattest) and checks a custom topology, once from a
// YAML file and once built in Go. Copied into a module of its own, it builds and
// passes (module_test.go checks that).
package examples_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestExamples(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "examples")
}

var _ = sipnattest.GuardLeaks()
