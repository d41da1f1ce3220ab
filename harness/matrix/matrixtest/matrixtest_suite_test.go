package matrixtest_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestMatrixtest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "matrixtest")
}

var _ = sipnattest.GuardLeaks()
