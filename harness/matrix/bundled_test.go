package matrix_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
)

const bundled = "../../scenarios/matrix/callee-nat.yaml"

// rfc4787 is what RFC 4787 and RFC 3261 say becomes of alice's ACK in a cell of the
// bundled template (alice, public ─► proxy-a ─► proxy-b, bob's registrar ─► home-nat ─► bob),
// written without looking at the simulator:
//
//   - bob's REGISTER opens home-nat's mapping towards proxy-b:5060 and proxy-b sends the
//     INVITE to its source: whatever the mapping (§4.1) and filtering (§5), the INVITE is
//     a datagram from the very address and port bob sent to, so it gets in.
//   - proxy-b none: bob's Contact stays 192.168.1.10, private (RFC 1918). With
//     Record-Route the ACK reaches proxy-b, which cannot route it (lost at proxy-b); without,
//     alice cannot (lost at alice). Either way proxy-b sent on a Contact that leads nowhere.
//   - proxy-b correct or excessive: the 200 OK comes straight from bob's mapping, so both
//     rewrite the Contact to it (excessive differs only on replies another proxy relayed).
//     With Record-Route the ACK leaves proxy-b:5060, the peer the mapping was opened to,
//     and every filter lets it in. Without, alice sends it from her own address, which bob
//     never sent to: only endpoint-independent filtering lets it in; address-dependent and
//     address-and-port-dependent filtering drop it at home-nat (lost after alice sent it).
//   - the mapping behaviour changes nothing (bob's only mapping is the one towards
//     proxy-b), nor does hairpinning (§6): alice is not behind home-nat.
type outcome struct {
	ack    bool
	class  judge.Class
	lostAt string
	blame  string
}

func rfc4787(mapping, filtering, hairpinning, recordRoute, handling string) outcome {
	_, _ = mapping, hairpinning // RFC 4787 §4.1 and §6: no effect here, see above
	switch {
	case handling == "none" && recordRoute == "true":
		return outcome{false, judge.ClassPrivateContact, "proxy-b", "proxy-b"}
	case handling == "none":
		return outcome{false, judge.ClassPrivateContact, "alice", "proxy-b"}
	case recordRoute == "false" && filtering != "endpoint-independent":
		return outcome{false, judge.ClassFilteredByNAT, "alice", "proxy-b"}
	}
	return outcome{ack: true, class: judge.ClassACKArrived}
}

var _ = Describe("the bundled template scenarios/matrix/callee-nat.yaml", Ordered, func() {
	var rep *matrix.Report
	BeforeAll(func(ctx SpecContext) {
		t, err := matrix.Load(bundled)
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Len()).To(Equal(3 * 3 * 2 * 2 * 3))
		rep, err = t.Run(ctx, matrix.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Cells).To(HaveLen(108))
	})

	It("agrees cell by cell with RFC 4787's reasoning, and every cell meets the template's expect rules", func() {
		lost := 0
		for _, c := range rep.Cells {
			want := rfc4787(c.Values[0], c.Values[1], c.Values[2], c.Values[3], c.Values[4])
			got := outcome{c.ACKAtCallee, judge.Class(c.Class), c.ACKLostAt, c.Blame}
			Expect(got).To(Equal(want), "cell %s", c.Name)
			Expect(c.CalleeBYE).To(Equal(!want.ack), "cell %s: bob hangs up after 64*T1 exactly when no ACK came", c.Name)
			Expect(c.Passed).To(BeTrue(), "cell %s: %v %s", c.Name, c.Failed, c.Error)
			if !want.ack {
				lost++
			}
		}
		Expect(rep.Passed).To(BeTrue())
		Expect(rep.Summary.Lost).To(Equal(lost))
	})

	It("says which axis values lose the ACK", func() {
		Expect(rep.Summary.Text).To(Equal("The ACK is lost in 60 of 108 cells, whenever proxy-b is none; " +
			"or whenever filtering is address-dependent or address-and-port-dependent and record-route is false."))
		Expect(rep.Summary.Uncovered).To(BeZero())
		var text, html bytes.Buffer
		rep.WriteText(&text, false)
		Expect(text.String()).To(ContainSubstring("✗ filtered-by-nat @alice ⚑proxy-b"))
		Expect(text.String()).To(ContainSubstring(rep.Summary.Text))
		Expect(rep.WriteHTML(&html)).To(Succeed())
		Expect(html.String()).To(ContainSubstring(`<a href="cells/callee-nat-endpoint-independent-address-dependent-no-hairpinning-no-record-route-correct.html"`))
		Expect(html.String()).To(ContainSubstring(`class="lost"`))
	})

	It("runs in shards whose merged JSON is the unsharded JSON, byte for byte", func(ctx SpecContext) {
		t, err := matrix.Load(bundled)
		Expect(err).NotTo(HaveOccurred())
		var shards []*matrix.Report
		seen := 0
		for i := 1; i <= 3; i++ {
			r, err := t.Run(ctx, matrix.Options{Shard: matrix.Shard{I: i, N: 3}, Workers: 1})
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Shard).To(Equal(matrix.Shard{I: i, N: 3}.String()))
			seen += len(r.Cells)
			shards = append(shards, r)
		}
		Expect(seen).To(Equal(108))
		merged, err := matrix.Merge(shards[2], shards[0], shards[1])
		Expect(err).NotTo(HaveOccurred())
		var a, b bytes.Buffer
		Expect(rep.WriteJSON(&a)).To(Succeed())
		Expect(merged.WriteJSON(&b)).To(Succeed())
		Expect(b.String()).To(Equal(a.String()))

		_, err = matrix.Merge(shards[0], shards[0])
		Expect(err).To(MatchError(matrix.ErrMerge))

		// schema/matrix.schema.json describes the whole report and a shard's.
		sch, err := jsonschema.NewCompiler().Compile("../../schema/matrix.schema.json")
		Expect(err).NotTo(HaveOccurred())
		var shard bytes.Buffer
		Expect(shards[1].WriteJSON(&shard)).To(Succeed())
		for _, doc := range [][]byte{a.Bytes(), shard.Bytes(), []byte(`{"name": "x"}`)} {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
			Expect(err).NotTo(HaveOccurred())
			if len(doc) < 20 {
				Expect(sch.Validate(inst)).NotTo(Succeed())
			} else {
				Expect(sch.Validate(inst)).To(Succeed())
			}
		}
		Expect(a.String()).To(HavePrefix("{\n  \"schema_version\": 1,"))
	})
})

var _ = Describe("an interrupted matrix run", func() {
	It("returns the report of the cells that ran, and the context's error", func(ctx SpecContext) {
		t, err := matrix.Load(bundled)
		Expect(err).NotTo(HaveOccurred())
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		rep, err := t.Run(runCtx, matrix.Options{Workers: 1, Done: func(*matrix.Cell, *harness.Result, error) { cancel() }})
		Expect(err).To(MatchError(context.Canceled))
		Expect(rep).NotTo(BeNil())
		Expect(len(rep.Cells)).To(BeNumerically(">=", 1))
		Expect(len(rep.Cells)).To(BeNumerically("<=", 2), "the cell that ended and at most the one handed out meanwhile")
		Expect(rep.Cells[0].Passed).To(BeTrue())
		Expect(rep.Cells[0].Index).To(Equal(0))
	})
})

var _ = Describe("the summary", func() {
	It("finds the single values and the pairs that lose the ACK, on a report built by hand", func() {
		r := &matrix.Report{Axes: []matrix.AxisReport{{Name: "a", Values: []string{"1", "2"}}, {Name: "b", Values: []string{"x", "y", "z"}}}}
		for i, a := range []string{"1", "2"} {
			for j, b := range []string{"x", "y", "z"} {
				ack := !(a == "2" && b != "x") && b != "z"
				r.Cells = append(r.Cells, matrix.CellResult{Index: i*3 + j, Values: []string{a, b}, ACKAtCallee: ack, Passed: true})
			}
		}
		merged, err := matrix.Merge(r)
		Expect(err).NotTo(HaveOccurred())
		Expect(merged.Summary.Text).To(Equal("The ACK is lost in 3 of 6 cells, whenever b is z; or whenever a is 2 and b is y."))
		Expect(merged.Summary.Conditions).To(HaveLen(2))
		Expect(merged.Summary.Conditions[1].Cells).To(Equal(1))

		for i := range r.Cells {
			r.Cells[i].ACKAtCallee = true
		}
		merged, _ = matrix.Merge(r)
		Expect(merged.Summary.Text).To(Equal("The ACK reaches the callee in all 6 cells."))
		for i := range r.Cells {
			r.Cells[i].ACKAtCallee = false
		}
		merged, _ = matrix.Merge(r)
		Expect(merged.Summary.Text).To(Equal("The ACK is lost in every one of the 6 cells."))
	})

	It("says how many lost cells no condition of up to three axes explains", func() {
		// Four two-valued axes; the ACK is lost where all four are 1: no shorter condition holds.
		r := &matrix.Report{}
		for _, n := range []string{"a", "b", "c", "d"} {
			r.Axes = append(r.Axes, matrix.AxisReport{Name: n, Values: []string{"0", "1"}})
		}
		for i := range 16 {
			v := []string{fmt.Sprint(i >> 3 & 1), fmt.Sprint(i >> 2 & 1), fmt.Sprint(i >> 1 & 1), fmt.Sprint(i & 1)}
			r.Cells = append(r.Cells, matrix.CellResult{Index: i, Values: v, ACKAtCallee: i != 15, Passed: true})
		}
		merged, err := matrix.Merge(r)
		Expect(err).NotTo(HaveOccurred())
		Expect(merged.Summary.Uncovered).To(Equal(1))
		Expect(merged.Summary.Text).To(Equal("The ACK is lost in 1 of 16 cells, under no condition on up to 3 axes (see the table)."))
	})
})

var _ = Describe("the bundled template scenarios/matrix/keep-alive.yaml", func() {
	It("keeps bob reachable exactly when his keep-alives come more often than every NAT on the way forgets", func(ctx SpecContext) {
		t, err := matrix.Load("../../scenarios/matrix/keep-alive.yaml")
		Expect(err).NotTo(HaveOccurred())
		rep, err := t.Run(ctx, matrix.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Cells).To(HaveLen(24))
		for _, c := range rep.Cells {
			timeout, err := time.ParseDuration(c.Values[0])
			Expect(err).NotTo(HaveOccurred())
			interval, err := time.ParseDuration(c.Values[1])
			Expect(err).NotTo(HaveOccurred())
			if c.Values[2] == "100.64.0.2" { // behind cgn too, whose bindings live 30 s
				timeout = min(timeout, 30*time.Second)
			}
			// RFC 4787 §4.3 REQ-6: outbound datagrams refresh a binding, so one sent every
			// interval keeps it alive when interval < timeout (RFC 6314 §5).
			Expect(c.ACKAtCallee).To(Equal(interval < timeout), "cell %s", c.Name)
			if !c.ACKAtCallee {
				Expect(c.Class).To(Equal(string(judge.ClassBindingExpired)), "cell %s", c.Name)
			}
			Expect(c.Passed).To(BeTrue(), "cell %s: %v", c.Name, c.Failed)
		}
	})
})
