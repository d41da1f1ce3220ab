package harness_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
)

var _ = Describe("ProxyWarnings", func() {
	It("keeps the warnings and errors of each real proxy's log, Kamailio's and OpenSIPS's, and says how many more there are", func() {
		many := strings.Repeat(" 3(10) ERROR: tm [t_fwd.c:1]: oops\n", 25)
		res := &harness.Result{ProxyLogs: map[string]string{
			"proxy-b": "Listening on\n 0(1) INFO: <core> started\n 0(1) WARNING: tm [tm.c:784]: mod_init(): reparse\n" +
				" 5(12) ERROR: rtpproxy [rtpproxy.c:1409]: send_rtpp_command(): proxy <udp:127.0.0.1:7722> does not respond, disable it\n",
			"proxy-a": "Dec  2 00:01:02 [7] CRITICAL:core:main: bad config\nDec  2 00:01:02 [7] INFO:core:main: bye\n",
			"proxy-c": " 0(1) INFO: all fine\n",
			"proxy-d": many,
		}}
		w := res.ProxyWarnings()
		Expect(w).To(HaveKeyWithValue("proxy-b", []string{
			"WARNING: tm [tm.c:784]: mod_init(): reparse",
			"ERROR: rtpproxy [rtpproxy.c:1409]: send_rtpp_command(): proxy <udp:127.0.0.1:7722> does not respond, disable it",
		}))
		Expect(w).To(HaveKeyWithValue("proxy-a", []string{"CRITICAL:core:main: bad config"}))
		Expect(w).NotTo(HaveKey("proxy-c"))
		Expect(w["proxy-d"]).To(HaveLen(21))
		Expect(w["proxy-d"][20]).To(Equal(fmt.Sprintf("(%d more in its log)", 5)))
	})
})
