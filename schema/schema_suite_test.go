// Package schema_test checks the JSON Schemas in schema/ against what sipnatlab reads
// and writes: every bundled scenario conforms to scenario.schema.json, every JSON
// verdict to verdict.schema.json.
package schema_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestSchema(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "schema")
}

var _ = sipnattest.GuardLeaks()
