package field

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// jsonTail is what the JSON of a diagnosis holds after the calls and their
// evidence (schema/diagnose.schema.json describes the whole document).
type jsonTail struct {
	NATs    []InferredNAT `json:"inferred_nats"`
	T1ms    int64         `json:"t1_ms_estimated"`
	T2ms    int64         `json:"t2_ms_estimated"`
	Packets int           `json:"packets"`
	MaxOpen int           `json:"max_open_dialogs"`
	Errors  []string      `json:"errors,omitempty"`
}

// JSONStream writes the JSON of a diagnosis (sipnatlab diagnose --json,
// schema/diagnose.schema.json: run's JSON verdict, the evidence of every call, the
// NATs inferred, the timers estimated) while the calls are judged, so that no call
// stays in memory: pass its Call as Options.OnCall. Each call's verdict goes
// straight out, its evidence to an unlinked temporary file (the evidence array
// follows the verdict's), and what is known only at the end (the headline, NATs,
// timers) comes last, from Finish. The first write error sticks and Finish returns
// it. Object keys come in another order than a document built in memory would
// have; the document is the same.
type JSONStream struct {
	w      io.Writer
	spill  *os.File // the evidence array's elements, until finish copies them out
	calls  int
	err    error
	opened bool
}

// NewJSONStream starts the JSON of a diagnosis on w; nothing is written before the
// first call or Finish. Call Finish, or Discard when the diagnosis failed.
func NewJSONStream(w io.Writer) (*JSONStream, error) {
	f, err := os.CreateTemp("", "sipnatlab-evidence-*.json")
	if err != nil {
		return nil, fmt.Errorf("evidence spill file: %w", err)
	}
	_ = os.Remove(f.Name()) // the open file lives on; nothing is left behind
	return &JSONStream{w: w, spill: f}, nil
}

func (j *JSONStream) write(w io.Writer, parts ...[]byte) {
	for _, p := range parts {
		if j.err == nil {
			_, j.err = w.Write(p)
		}
	}
}

// indented marshals v as an element at depth spaces of indentation.
func (j *JSONStream) indented(v any, depth int) []byte {
	b, err := json.MarshalIndent(v, string(bytes.Repeat([]byte(" "), depth)), "  ")
	if err != nil && j.err == nil {
		j.err = err
	}
	return b
}

// open writes the document's head, once, at the first call or at finish: nothing
// is written when the capture cannot be opened at all.
func (j *JSONStream) open() {
	if !j.opened {
		j.opened = true
		j.write(j.w, []byte(fmt.Sprintf("{\n  \"schema_version\": %d,\n  \"scenarios\": [\n    {\n      \"calls\": [", report.SchemaVersion)))
	}
}

// Call writes one judged call and spills its evidence: an Options.OnCall.
func (j *JSONStream) Call(f judge.CallFacts, ev CallEvidence) {
	j.open()
	sep := []byte(",\n        ")
	esep := []byte(",\n    ")
	if j.calls == 0 {
		sep, esep = sep[1:], esep[1:]
	}
	j.calls++
	j.write(j.w, sep, j.indented(report.NewCallVerdict(f), 8))
	if ev.Statements == nil {
		ev.Statements = []Statement{}
	}
	j.write(j.spill, esep, j.indented(ev, 4))
}

// Discard releases the spill file without finishing the document.
func (j *JSONStream) Discard() { _ = j.spill.Close() }

// Finish writes the rest of the document from the diagnosis d and releases the
// spill file.
func (j *JSONStream) Finish(d *Diagnosis) error {
	defer j.Discard()
	j.open()
	v := report.NewScenarioVerdict(d.Result.Scenario, d.Result, nil)
	tail := jsonTail{NATs: d.NATs, T1ms: d.Timers.T1.Milliseconds(), T2ms: d.Timers.T2.Milliseconds(),
		Packets: d.Packets, MaxOpen: d.MaxOpenDialogs}
	if tail.NATs == nil {
		tail.NATs = []InferredNAT{}
	}
	for _, err := range d.Errors {
		tail.Errors = append(tail.Errors, err.Error())
	}
	end := []byte("]")
	if j.calls > 0 {
		end = []byte("\n      ]")
	}
	// The scenario's other fields: a shallower "calls" hides the verdict's own.
	rest := j.indented(struct {
		report.ScenarioVerdict
		Calls []struct{} `json:"calls,omitempty"`
	}{ScenarioVerdict: v}, 4)
	j.write(j.w, end, []byte(","), rest[1:], []byte("\n  ],\n  \"evidence\": ["))
	if j.err == nil {
		if _, err := j.spill.Seek(0, io.SeekStart); err != nil {
			j.err = err
		} else if _, err := io.Copy(j.w, j.spill); err != nil {
			j.err = err
		}
	}
	if j.calls > 0 {
		j.write(j.w, []byte("\n  ]"))
	} else {
		j.write(j.w, []byte("]"))
	}
	t := j.indented(tail, 0)
	j.write(j.w, []byte(","), t[1:], []byte("\n"))
	if j.err != nil {
		return fmt.Errorf("write the JSON: %w", j.err)
	}
	return nil
}
