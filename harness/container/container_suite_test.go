package container_test

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestContainer(t *testing.T) {
	// Ryuk would pull its own image from a registry: never. The Makefile and
	// .ci/run set this too; here it covers a plain `go test`.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "harness/container")
}
