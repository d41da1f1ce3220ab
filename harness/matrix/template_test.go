package matrix_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// base is a small template: line 14 starts the matrix block.
const base = `name: small
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - register: bob
  - call: {from: alice, to: bob, via: proxy-b}
expect:
  ack-at-callee: true

matrix:
`

func parse(block string) (*matrix.Template, error) {
	return matrix.Parse("t.yaml", []byte(base+block))
}

var _ = Describe("a matrix template", func() {
	It("has one cell per combination, the first axis varying slowest, named after its values", func() {
		t, err := parse(`  axes:
    filtering:
      path: nats.home-nat.filtering
      values: [endpoint-independent, address-dependent]
    rr:
      path: hosts.proxy-b.record-route
      values: [true, false]
    t1:
      path: timers.t1
      values: [100ms, 1s]
`)
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Len()).To(Equal(8))
		Expect(t.Values(0)).To(Equal([]string{"endpoint-independent", "true", "100ms"}))
		Expect(t.Values(5)).To(Equal([]string{"address-dependent", "true", "1s"}))
		c, err := t.Cell(5)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Name).To(Equal("small-address-dependent-rr-1s"))
		n, _ := c.Scenario.NAT("home-nat")
		Expect(n.Filtering.String()).To(Equal("address-dependent"))
		h, _ := c.Scenario.Host("proxy-b")
		Expect(h.RecordRoute).To(BeTrue())
		Expect(c.Scenario.Timers.T1.String()).To(Equal("1s"), "a key missing from the template is added")
		c, _ = t.Cell(2)
		Expect(c.Name).To(Equal("small-endpoint-independent-no-rr-100ms"))
		h, _ = c.Scenario.Host("proxy-b")
		Expect(h.RecordRoute).To(BeFalse())
		Expect(t.Columns).To(Equal([]int{2}), "the last axis is the columns by default")
	})

	It("merges the expect keys of matching rules over the template's, later rules winning", func() {
		t, err := parse(`  axes:
    filtering:
      path: nats.home-nat.filtering
      values: [endpoint-independent, address-dependent, address-and-port-dependent]
  expect:
    - when: {filtering: [address-dependent, address-and-port-dependent]}
      expect: {ack-at-callee: false, blame: proxy-b}
    - when: {filtering: address-and-port-dependent}
      expect: {blame: none}
`)
		Expect(err).NotTo(HaveOccurred())
		expect := func(i int) map[string]string {
			c, err := t.Cell(i)
			Expect(err).NotTo(HaveOccurred())
			out := map[string]string{}
			for _, e := range c.Scenario.Expect {
				out[e.Key] = e.Want
			}
			return out
		}
		Expect(expect(0)).To(Equal(map[string]string{"ack-at-callee": "true"}))
		Expect(expect(1)).To(Equal(map[string]string{"ack-at-callee": "false", "blame": "proxy-b"}))
		Expect(expect(2)).To(Equal(map[string]string{"ack-at-callee": "false", "blame": "none"}))
	})

	It("sets a field under an alias in the cell's own copy, never in the anchor the template shares", func() {
		t, err := matrix.Parse("t.yaml", []byte(strings.Replace(base, "  - call: {from: alice, to: bob, via: proxy-b}\n",
			"  - call: &c {from: alice, to: bob, via: proxy-b}\n  - call: *c\n", 1)+`  axes:
    talk: {path: 'steps[2].call.talk', values: [5s, 7s]}
`))
		Expect(err).NotTo(HaveOccurred())
		for i, want := range []string{"5s", "7s"} {
			c, err := t.Cell(i)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.Scenario.Steps[1].Talk.String()).To(Equal("2s"), "the anchored step keeps the default talk")
			Expect(c.Scenario.Steps[2].Talk.String()).To(Equal(want))
		}
		_, err = matrix.Parse("t.yaml", []byte(`a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
`))
		Expect(err).To(MatchError(ContainSubstring("its aliases expand to more than 100000 YAML nodes")))
	})

	DescribeTable("refuses a bad matrix block with the file, line and field",
		func(block, want string) {
			_, err := parse(block)
			Expect(err).To(HaveOccurred())
			Expect(errors.Is(err, scenario.ErrInvalid)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("no axes", "  columns: [x]\n", `"t.yaml": line 15: matrix.axes: missing`),
		Entry("an unknown key", "  axis: {}\n", `line 15: matrix.axis: unknown key; allowed keys: axes, columns, expect`),
		Entry("a path the template lacks", "  axes:\n    x: {path: hosts.proxy-c.nat-handling, values: [none]}\n",
			`line 16: matrix.axes.x.path: "hosts.proxy-c.nat-handling": the template has no hosts.proxy-c`),
		Entry("a path that is no path", "  axes:\n    x: {path: hosts..x, values: [none]}\n", `line 16: matrix.axes.x.path: "hosts..x" is not a field path`),
		Entry("a bad index", "  axes:\n    x: {path: 'steps[5].call.talk', values: [1s]}\n", `line 16: matrix.axes.x.path: "steps[5].call.talk": steps has 2 items`),
		Entry("the name", "  axes:\n    x: {path: name, values: [a]}\n", `line 16: matrix.axes.x.path: "name" cannot be swept`),
		Entry("a field set twice", "  axes:\n    x: {path: timers.t1, values: [1s]}\n    y: {path: timers.t1, values: [2s]}\n",
			`line 17: matrix.axes.y.path: "timers.t1" is already set by axis x`),
		Entry("no values", "  axes:\n    x: {path: timers.t1, values: []}\n", `line 16: matrix.axes.x.values: must be a list of at least one value`),
		Entry("a value twice", "  axes:\n    x:\n      path: timers.t1\n      values: [1s, 2s, 1s]\n", `line 18: matrix.axes.x.values[2]: "1s" is listed twice`),
		Entry("a bad axis name", "  axes:\n    Big: {path: timers.t1, values: [1s]}\n", `line 16: matrix.axes.Big: "Big" is not a valid axis name`),
		Entry("a value the scenario format refuses, at the value's line", "  axes:\n    handling:\n      path: hosts.proxy-b.nat-handling\n      values:\n        - correct\n        - sometimes\n",
			`matrix cell handling=sometimes: load scenario "t.yaml": line 20: hosts.proxy-b.nat-handling: "sometimes"`),
		Entry("columns naming no axis", "  axes:\n    x: {path: timers.t1, values: [1s]}\n  columns: [y]\n", `line 17: matrix.columns: "y" is not an axis; axes: x`),
		Entry("a rule on no axis", "  axes:\n    x: {path: timers.t1, values: [1s]}\n  expect:\n    - when: {y: 1s}\n      expect: {blame: none}\n",
			`line 18: matrix.expect[0].when.y: not an axis`),
		Entry("a rule on no value", "  axes:\n    x: {path: timers.t1, values: [1s]}\n  expect:\n    - when: {x: 2s}\n      expect: {blame: none}\n",
			`line 18: matrix.expect[0].when.x: "2s" is not a value of axis x (1s)`),
		Entry("a rule's bad expect key, at the rule's line", "  axes:\n    x: {path: timers.t1, values: [1s]}\n  expect:\n    - when: {x: 1s}\n      expect: {blam: none}\n",
			`line 19: expect.blam: unknown key`),
	)

	It("is refused without a matrix block, and with the scenario loader's error for bad YAML", func() {
		_, err := matrix.Parse("t.yaml", []byte(strings.TrimSuffix(base, "matrix:\n")))
		Expect(err).To(MatchError(ContainSubstring(`"t.yaml": line 1: matrix: missing`)))
		_, err = matrix.Parse("t.yaml", []byte(base+"  axes: [\n"))
		Expect(err).To(MatchError(ContainSubstring(`load scenario "t.yaml": line`)))
		Expect(errors.Is(err, scenario.ErrInvalid)).To(BeTrue())
	})

	It("writes each cell as a scenario file that loads and runs as the cell does", func(ctx SpecContext) {
		t, err := matrix.Load("../../scenarios/matrix/callee-nat.yaml")
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		var cells []*matrix.Cell
		for _, i := range []int{0, 16, 107} {
			c, err := t.Cell(i)
			Expect(err).NotTo(HaveOccurred())
			cells = append(cells, c)
		}
		files, err := t.Emit(filepath.Join(dir, "cells"), cells)
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(3))
		for i, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(data)).NotTo(ContainSubstring("matrix:"))
			s, err := scenario.Load(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Name).To(Equal(cells[i].Name))
			Expect(filepath.Base(f)).To(Equal(cells[i].Name + ".yaml"))
			Expect(s.Expect).To(HaveLen(len(cells[i].Scenario.Expect)))
			a, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())
			b, err := harness.Run(ctx, cells[i].Scenario, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())
			Expect(a.Calls).To(Equal(b.Calls))
			Expect(a.Passed).To(BeTrue())
		}
	})
})

var _ = Describe("an emitted cell", func() {
	It("names its real proxy's config relative to where it is written", func() {
		dir := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "tpl", "cfg"), 0o755)).To(Succeed())
		cfg := filepath.Join(dir, "tpl", "cfg", "proxy.cfg")
		Expect(os.WriteFile(cfg, []byte("#!KAMAILIO\n"), 0o644)).To(Succeed())
		text := strings.Replace(base, "nat-handling: correct}", "nat-handling: correct, engine: kamailio, config: cfg/proxy.cfg}", 1) +
			"  axes:\n    x: {path: timers.t1, values: [100ms]}\n"
		file := filepath.Join(dir, "tpl", "t.yaml")
		Expect(os.WriteFile(file, []byte(text), 0o644)).To(Succeed())
		t, err := matrix.Load(file)
		Expect(err).NotTo(HaveOccurred())
		c, err := t.Cell(0)
		Expect(err).NotTo(HaveOccurred())
		files, err := t.Emit(filepath.Join(dir, "out", "cells"), []*matrix.Cell{c})
		Expect(err).NotTo(HaveOccurred())
		data, err := os.ReadFile(files[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(ContainSubstring("config: ../../tpl/cfg/proxy.cfg"))
		s, err := scenario.Load(files[0])
		Expect(err).NotTo(HaveOccurred())
		h, _ := s.Host("proxy-b")
		Expect(filepath.Abs(h.Config)).To(Equal(cfg))
	})
})

var _ = Describe("a field path", func() {
	DescribeTable("reads and writes back",
		func(s string) {
			p, err := matrix.ParsePath(s)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.String()).To(Equal(s))
		},
		Entry(nil, "nats.home-nat.filtering"),
		Entry(nil, "steps[1].call.talk"),
		Entry(nil, "hosts.bob.keep-alive.interval"),
	)
	DescribeTable("refuses what is no path",
		func(s string) {
			_, err := matrix.ParsePath(s)
			Expect(err).To(HaveOccurred())
		},
		Entry(nil, ""), Entry(nil, "a..b"), Entry(nil, "steps[x]"), Entry(nil, "steps[-1]"), Entry(nil, "[0]"), Entry(nil, "steps[1]x"), Entry(nil, "steps[01]"), Entry(nil, "000.[0]"), Entry(nil, "steps.[1]"),
	)
})
