package main

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/internal/suite"
)

func TestSipnatlab(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cmd/sipnatlab")
}

var _ = suite.GuardLeaks()
