package realproxy_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/internal/suite"
)

func TestRealproxy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "realproxy")
}

var _ = suite.GuardLeaks()
