package matrix_test

import (
	"context"
	"fmt"

	"github.com/sipnatlab/sipnatlab/harness/matrix"
)

// A template's cells, narrowed to proxy-b's correct NAT handling, run in simulated time;
// the summary says which axis values lose the ACK.
func ExampleTemplate_Run() {
	t, err := matrix.Load("../../scenarios/matrix/callee-nat.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := t.Run(context.Background(), matrix.Options{Only: map[string][]string{"proxy-b": {"correct"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(rep.Cells), "cells, all met their expectations:", rep.Passed)
	fmt.Println(rep.Summary.Text)
	// Output:
	// 36 cells, all met their expectations: true
	// The ACK is lost in 12 of 36 cells, whenever filtering is address-dependent or address-and-port-dependent and record-route is false.
}
