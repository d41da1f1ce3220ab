package container

import (
	"context"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go/network"
)

// Run labels the network it creates with an id of its own, so that a network
// the engine made for a request that failed (its context ended while the
// answer was on its way) can still be found and removed.
var _ = Describe("a network whose creation request failed", Label("container"), func() {
	It("is found by Run's label and removed, even once the context has ended", func(ctx SpecContext) {
		if err := DockerAvailable(ctx); err != nil {
			if os.Getenv("CI") == "true" {
				Fail("CI=true but Docker is not available: " + err.Error())
			}
			Skip("Docker is not available: " + err.Error())
		}
		label := map[string]string{"org.sipnatlab": "proxy", runLabel: randomHex(8)}
		nw, err := network.New(ctx, network.WithInternal(), network.WithLabels(label))
		Expect(err).NotTo(HaveOccurred())
		// Should the spec fail before the network is gone.
		DeferCleanup(func(ctx context.Context) { _ = nw.Remove(ctx) })

		ended, cancel := context.WithCancel(ctx)
		cancel()
		Expect(removeNetworks(ended, runLabel+"="+label[runLabel])).To(Succeed())

		cli, err := newClient(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		_, err = cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
		Expect(cerrdefs.IsNotFound(err)).To(BeTrue(), "network %s still exists (err %v)", nw.Name, err)
		Expect(removeNetworks(ctx, runLabel+"=no-such-run")).To(Succeed(), "no network of that label is nothing to do")
	})
})
