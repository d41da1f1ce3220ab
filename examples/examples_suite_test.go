// Package examples is a suite written the way a team using sipnatlab would
// write its own: it imports only the public packages (harness and
// harness/match) and checks a custom topology, once from a YAML file and once
// built in Go.
package examples_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/internal/suite"
)

func TestExamples(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "examples")
}

var _ = suite.GuardLeaks()
