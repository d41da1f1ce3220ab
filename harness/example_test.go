package harness_test

import (
	"context"
	"fmt"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Run a bundled scenario in simulated time and read the judged facts.
func ExampleRun() {
	s, err := scenario.Load("../scenarios/excessive-nat-handling.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := res.Call(0)
	fmt.Println("ACK at callee:", c.ACKAtCallee)
	fmt.Println("200 OK retransmissions:", c.OKRetransmissions)
	fmt.Println("callee BYE after:", *c.CalleeBYEAfter)
	fmt.Println("Contact at caller:", c.ContactAtCaller)
	fmt.Println("ACK lost at:", c.ACKLostAt, "blame:", c.Blame)
	fmt.Println("passed:", res.Passed)
	// Output:
	// ACK at callee: false
	// 200 OK retransmissions: 10
	// callee BYE after: 32s
	// Contact at caller: sip:bob@203.0.113.2:5060
	// ACK lost at: proxy-b blame: proxy-a
	// passed: true
}

// Build a scenario in Go with the vocabulary of the YAML files.
func ExampleBuild() {
	s, err := scenario.Build(scenario.Spec{
		Name: "direct",
		NATs: []scenario.NATSpec{{Name: "home-nat", Public: "203.0.113.50", LAN: "192.168.1.0/24"}},
		Hosts: []scenario.HostSpec{
			{Name: "alice", Role: scenario.RoleUA, Address: "198.51.100.10"},
			{Name: "registrar", Role: scenario.RoleProxy, Address: "203.0.113.2", Registrar: true, NATHandling: "none"},
			{Name: "bob", Role: scenario.RoleUA, Address: "192.168.1.10", RegisterWith: "registrar"},
		},
		Steps:  []scenario.StepSpec{{Call: &scenario.CallSpec{From: "alice", To: "bob", Via: "registrar"}}},
		Expect: &scenario.ExpectSpec{ACKAtCallee: scenario.Bool(false), Blame: "registrar"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Passed, res.Call(0).ContactAtCaller)
	// Output: true sip:bob@192.168.1.10:5060
}
