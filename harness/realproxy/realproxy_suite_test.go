package realproxy_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestRealproxy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "realproxy")
}

var _ = sipnattest.GuardLeaks()
