package matrixtest_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/matrix/matrixtest"
)

// The go test form of `sipnatlab matrix --only proxy-b=correct`: one spec per cell, each
// checked against the expectations the template's rules give it.
var _ = DescribeTable("every cell of the bundled template with proxy-b correct meets its expectations",
	func(ctx SpecContext, c matrixtest.Cell) {
		res := matrixtest.Run(ctx, c)
		Expect(res).To(match.PassExpectations())
		// The ACK is lost exactly where no proxy Record-Routes and the filter is not
		// endpoint-independent (RFC 4787 §5).
		filtering, recordRoute := c.Values[1], c.Values[3]
		if recordRoute == "false" && filtering != "endpoint-independent" {
			Expect(res).To(match.LoseACKAt("alice"))
		} else {
			Expect(res).To(match.DeliverACKToCallee())
		}
	},
	matrixtest.Entries("../../../scenarios/matrix/callee-nat.yaml", matrix.Options{Only: map[string][]string{"proxy-b": {"correct"}}}),
)

var _ = Describe("Entries", func() {
	It("labels each entry with its axis values, and turns a bad template into one entry that carries the error", func() {
		entries := matrixtest.Entries("../../../scenarios/matrix/callee-nat.yaml", matrix.Options{Shard: matrix.Shard{I: 1, N: 54}})
		Expect(entries).To(HaveLen(2))
		bad := matrixtest.Entries("no-such-template.yaml", matrix.Options{})
		Expect(bad).To(HaveLen(1))
	})
})
