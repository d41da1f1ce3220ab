package container_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/sipnatlab/sipnatlab/harness/container"
)

var _ = Describe("Sweep", Label("container"), func() {
	It("removes a network a dead process left (with its bridge and the addresses on it) and keeps a live owner's", func(ctx SpecContext) {
		needDocker(ctx)
		dead := exec.Command("true")
		Expect(dead.Run()).To(Succeed()) // its pid names no process any more
		left, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{
			"org.sipnatlab": "proxy", "org.sipnatlab.owner": fmt.Sprintf("pid-%d", dead.Process.Pid)}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) { _ = left.Remove(ctx) })
		mine, err := network.New(ctx, network.WithInternal(), network.WithLabels(map[string]string{
			"org.sipnatlab": "proxy", "org.sipnatlab.owner": fmt.Sprintf("pid-%d", os.Getpid())}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) { _ = mine.Remove(ctx) })

		removed, err := container.Sweep(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(ContainElement("network " + left.Name))
		Expect(removed).NotTo(ContainElement("network " + mine.Name))

		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		_, err = cli.NetworkInspect(ctx, left.ID, client.NetworkInspectOptions{})
		Expect(errdefs.IsNotFound(err)).To(BeTrue(), "network %s still exists (err %v)", left.Name, err)
		_, err = cli.NetworkInspect(ctx, mine.ID, client.NetworkInspectOptions{})
		Expect(err).NotTo(HaveOccurred(), "a live owner's network stays")
	})
})
