package main

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

// asCommand, set to 1 in its environment, makes this test binary the
// sipnatlab command itself: main, with its signal handling, under the race
// detector. The specs that signal a process run it so, with nothing to build.
const asCommand = "SIPNATLAB_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
	}
	os.Exit(m.Run())
}

func TestSipnatlab(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cmd/sipnatlab")
}

var _ = sipnattest.GuardLeaks()
