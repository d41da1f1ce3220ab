package scenario

// This file reads the expect block: the verdict the first call must reach.

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sipnatlab/sipnatlab/sim/alg"
)

func (p *parser) expect(e entry) error {
	if e.val == nil {
		return nil
	}
	entries, err := p.mapping(e.val, "expect", "a mapping with the keys "+strings.Join(expectKeys, ", "))
	if err != nil {
		return err
	}
	if len(entries) > 0 && !slices.ContainsFunc(p.s.Steps, func(s Step) bool { return s.Kind == StepCall }) {
		return p.errf(e.key, "expect", "there is no call step to check it against; add a call step or remove expect")
	}
	var ackAt *bool
	var within *yaml.Node
	for _, f := range entries {
		path := join("expect", f.key.Value)
		x := Expectation{Key: f.key.Value, Line: f.key.Line}
		switch x.Key {
		case ExpectACKAtCallee, ExpectCalleeBYE:
			b, err := p.boolean(f.val, path)
			if err != nil {
				return err
			}
			x.Bool = &b
			if x.Key == ExpectACKAtCallee {
				ackAt = x.Bool
			}
		case ExpectACKWithin:
			if x.Duration, err = p.duration(f.val, path); err != nil {
				return err
			}
			within = f.key
		case ExpectBlame:
			v, n, err := p.scalar(f.val, path)
			if err != nil {
				return err
			}
			if v != "none" {
				// A NAT is blamed for what its SIP ALG did (docs/scenario-format.md).
				nat, isNAT := p.nat(v)
				switch {
				case isNAT && nat.SIPALG == alg.None:
					return p.errf(n, path, "%s is a NAT without a sip-alg (line %d); blame names a proxy, or a NAT whose SIP ALG broke the call", v, nat.Line)
				case !isNAT:
					if _, err := p.hostOf(hostRef{n, path}, RoleProxy, "blame"); err != nil {
						return err
					}
				}
				x.Host = v
			}
		default:
			return p.unknownKey(f.key, "expect", expectKeys)
		}
		x.Want = deref(f.val).Value
		p.s.Expect = append(p.s.Expect, x)
	}
	if within != nil && ackAt != nil && !*ackAt {
		return p.errf(within, "expect.ack-within", "contradicts ack-at-callee: false; remove one of them")
	}
	return nil
}
