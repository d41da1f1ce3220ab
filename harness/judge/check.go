package judge

import (
	"fmt"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// ExpectationResult is one checked key of the expect block.
type ExpectationResult struct {
	Key  string `json:"key"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
	Line int    `json:"line"`
}

// Check compares the expect block with the first call's facts.
func Check(s *scenario.Scenario, calls []CallFacts) ([]ExpectationResult, bool) {
	passed := true
	var out []ExpectationResult
	for _, e := range s.Expect {
		r := ExpectationResult{Key: e.Key, Want: e.Want, Line: e.Line}
		if len(calls) == 0 {
			r.Got = "no call"
		} else {
			f := calls[0]
			switch e.Key {
			case scenario.ExpectACKAtCallee:
				r.Got = fmt.Sprint(f.ACKAtCallee)
				r.OK = e.Bool != nil && *e.Bool == f.ACKAtCallee
			case scenario.ExpectCalleeBYE:
				r.Got = fmt.Sprint(f.CalleeBYE)
				r.OK = e.Bool != nil && *e.Bool == f.CalleeBYE
			case scenario.ExpectACKWithin:
				if f.ACKDelay == nil {
					r.Got = "no ACK"
				} else {
					r.Got = f.ACKDelay.Round(time.Millisecond).String()
					r.OK = *f.ACKDelay <= e.Duration
				}
			case scenario.ExpectBlame:
				r.Got = f.Blame
				if r.Got == "" {
					r.Got = "none"
				}
				r.OK = f.Blame == e.Host
			}
		}
		if !r.OK {
			passed = false
		}
		out = append(out, r)
	}
	return out, passed
}
