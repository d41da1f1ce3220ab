package field_test

import (
	"context"
	"fmt"

	"github.com/sipnatlab/sipnatlab/harness/field"
)

// A capture taken only on the registrar (proxy-b, 203.0.113.2) of the excessive case:
// the hop that broke the Contact is inferred from the caller's ACK.
func ExampleDiagnose() {
	d, err := field.Diagnose(context.Background(), []string{"testdata/sim-excessive-nat-handling-registrar.pcap"}, field.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := d.Calls[0]
	fmt.Println(c.From, "->", c.To, "ACK at callee:", c.ACKAtCallee)
	fmt.Println("class:", c.Class, "blame:", c.Blame)
	fmt.Println("timers:", d.Timers)
	// Output:
	// 198.51.100.10 -> 192.168.1.10 ACK at callee: false
	// class: contact-names-proxy blame: 203.0.113.1
	// timers: T1 ≈ 500ms, T2 ≈ 4s (from 1 call(s)' 2xx retransmissions)
}
