package field_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/internal/suite"
)

func TestField(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "field")
}

var _ = suite.GuardLeaks()
