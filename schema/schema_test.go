package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func compile(file string) *jsonschema.Schema {
	GinkgoHelper()
	sch, err := jsonschema.NewCompiler().Compile(file)
	Expect(err).NotTo(HaveOccurred())
	return sch
}

// instance turns YAML or JSON text into the value a schema validates.
func instance(text []byte) any {
	GinkgoHelper()
	var v any
	Expect(yaml.Unmarshal(text, &v)).To(Succeed())
	j, err := json.Marshal(stringKeys(v))
	Expect(err).NotTo(HaveOccurred())
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	Expect(err).NotTo(HaveOccurred())
	return inst
}

// stringKeys turns the mappings YAML decodes with non-string keys (a NAT's
// forwards: {5060: proxy}) into JSON objects, whose keys are strings.
func stringKeys(v any) any {
	switch m := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[fmt.Sprint(k)] = stringKeys(e)
		}
		return out
	case map[string]any:
		for k, e := range m {
			m[k] = stringKeys(e)
		}
	case []any:
		for i, e := range m {
			m[i] = stringKeys(e)
		}
	}
	return v
}

// scenarioFiles are the bundled scenarios and the examples' own.
func scenarioFiles() []TableEntry {
	return append(match.Entries("../scenarios"), match.Entries("../examples/testdata")...)
}

var _ = Describe("scenario.schema.json", func() {
	sch := compile("scenario.schema.json")

	DescribeTable("takes every scenario the loader takes",
		func(file string) {
			text, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			_, err = scenario.Parse(file, text)
			Expect(err).NotTo(HaveOccurred())
			Expect(sch.Validate(instance(text))).To(Succeed())
		},
		scenarioFiles(),
	)

	const base = `name: x
hosts:
  alice: {role: ua, address: 198.51.100.10}
  p: {role: proxy, address: 203.0.113.1}
steps:
  - call: {from: alice, to: alice, via: p}
`
	DescribeTable("refuses what the loader refuses for the same field",
		func(edit, field string) {
			text := []byte(strings.Replace(base, "alice: {role: ua, address: 198.51.100.10}", edit, 1))
			_, loadErr := scenario.Parse("x.yaml", text)
			Expect(loadErr).To(MatchError(ContainSubstring(field)), "the loader refuses it")
			Expect(sch.Validate(instance(text))).NotTo(Succeed(), "the schema refuses it")
		},
		Entry("an unknown key", "alice: {role: ua, address: 198.51.100.10, adress: x}", "hosts.alice.adress"),
		Entry("a proxy key on a UA", "alice: {role: ua, address: 198.51.100.10, nat-handling: none}", "hosts.alice.nat-handling"),
		Entry("an unknown role", "alice: {role: phone, address: 198.51.100.10}", "hosts.alice.role"),
		Entry("an address that is no address", "alice: {role: ua, address: 198.51.100.300}", "hosts.alice.address"),
		Entry("a duration without unit", "alice: {role: ua, address: 198.51.100.10, ack-timeout: 5}", "hosts.alice.ack-timeout"),
		Entry("a name not kebab-case", "Alice: {role: ua, address: 198.51.100.10}", "hosts.Alice"),
	)
})

var _ = Describe("verdict.schema.json", func() {
	sch := compile("verdict.schema.json")

	It("describes the JSON verdict of every bundled scenario, a failed run's too", func(ctx SpecContext) {
		files, err := filepath.Glob("../scenarios/*.yaml")
		Expect(err).NotTo(HaveOccurred())
		v := report.Verdict{}
		for _, f := range files {
			s, err := scenario.Load(f)
			Expect(err).NotTo(HaveOccurred())
			res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())
			v.Scenarios = append(v.Scenarios, report.NewScenarioVerdict(s, res, nil))
		}
		s := match.Load("../scenarios/correct-nat-handling.yaml")
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		res, err := harness.Run(cancelled, s, harness.Options{Clock: harness.Simulated})
		v.Scenarios = append(v.Scenarios, report.NewScenarioVerdict(s, res, err), report.NewScenarioVerdict(s, nil, context.Canceled))

		var b bytes.Buffer
		Expect(report.WriteJSON(&b, v)).To(Succeed())
		Expect(b.String()).To(HavePrefix("{\n  \"schema_version\": 1,"))
		Expect(sch.Validate(instance(b.Bytes()))).To(Succeed())
	})

	It("refuses a verdict without the version or with a field of the wrong type", func() {
		Expect(sch.Validate(instance([]byte(`{"scenarios": []}`)))).NotTo(Succeed())
		Expect(sch.Validate(instance([]byte(`{"schema_version": 1, "scenarios": [{"name": "x", "file": "x", "passed": "yes",
			"headline": "PASS x", "outcome": "", "fix": "", "expectations": [], "calls": []}]}`)))).NotTo(Succeed())
	})
})

var _ = Describe("diagnose.schema.json", func() {
	// diagnose.schema.json extends the verdict's schema, which it names by its $id.
	var sch *jsonschema.Schema
	BeforeEach(func() {
		f, err := os.Open("verdict.schema.json")
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		verdict, err := jsonschema.UnmarshalJSON(f)
		Expect(err).NotTo(HaveOccurred())
		c := jsonschema.NewCompiler()
		Expect(c.AddResource("https://github.com/sipnatlab/sipnatlab/schema/verdict.schema.json", verdict)).To(Succeed())
		sch, err = c.Compile("diagnose.schema.json")
		Expect(err).NotTo(HaveOccurred())
	})

	diagnosed := func(files ...string) []byte {
		GinkgoHelper()
		var b bytes.Buffer
		js, err := field.NewJSONStream(&b)
		Expect(err).NotTo(HaveOccurred())
		d, err := field.Diagnose(context.Background(), files, field.Options{OnCall: js.Call})
		Expect(err).NotTo(HaveOccurred())
		Expect(js.Finish(d)).To(Succeed())
		return b.Bytes()
	}

	It("describes diagnose --json of every capture in the field testdata, several vantage points and a truncated file too", func() {
		files, err := filepath.Glob("../harness/field/testdata/*.pcap*")
		Expect(err).NotTo(HaveOccurred())
		Expect(len(files)).To(BeNumerically(">=", 15))
		for _, f := range files {
			Expect(sch.Validate(instance(diagnosed(f)))).To(Succeed(), f)
		}
		Expect(sch.Validate(instance(diagnosed(files[0], files[1])))).To(Succeed())

		data, err := os.ReadFile("../harness/field/testdata/sim-no-nat-handling-plain.pcap")
		Expect(err).NotTo(HaveOccurred())
		cut := filepath.Join(GinkgoT().TempDir(), "cut.pcap")
		Expect(os.WriteFile(cut, data[:len(data)/2], 0o644)).To(Succeed())
		out := diagnosed(cut)
		Expect(string(out)).To(ContainSubstring(`"errors": [`))
		Expect(sch.Validate(instance(out))).To(Succeed())
	})

	It("refuses a document without the evidence or with an unknown confidence word", func() {
		good := diagnosed("../harness/field/testdata/sim-no-nat-handling-plain.pcap")
		var doc map[string]any
		Expect(json.Unmarshal(good, &doc)).To(Succeed())
		delete(doc, "evidence")
		bad, err := json.Marshal(doc)
		Expect(err).NotTo(HaveOccurred())
		Expect(sch.Validate(instance(bad))).NotTo(Succeed())

		unsure := bytes.Replace(good, []byte(`"confidence": "likely"`), []byte(`"confidence": "perhaps"`), 1)
		Expect(unsure).NotTo(Equal(good))
		Expect(sch.Validate(instance(unsure))).NotTo(Succeed())
	})
})
