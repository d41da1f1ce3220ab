package alg_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestALG(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "sim/alg")
}

var _ = sipnattest.GuardLeaks()
