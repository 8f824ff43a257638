package main

import (
	"math"
	"testing"
)

func TestDiffInfo(t *testing.T) {
	before := "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.000000\r\nused_cpu_sys_children:9.0\r\n\r\n# Commandstats\r\n" +
		"cmdstat_info:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_fcall:calls=10,usec=1000,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hset:calls=30,usec=60,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n"
	after := "# CPU\r\nused_cpu_sys:1.600000\r\nused_cpu_user:2.300000\r\nused_cpu_sys_children:19.0\r\n\r\n# Commandstats\r\n" +
		"cmdstat_info:calls=5,usec=50,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_fcall:calls=20,usec=2000,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=5,usec=500,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hset:calls=70,usec=140,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=2,usec=2,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
	c, err := diffInfo(before, after, 10)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// 10 fcall + 5 evalsha + 40 hset + 2 client|setinfo; the one INFO is the measuring's.
	if !near(c.Commands, 5.7) || !near(c.Scripts, 1.5) || !near(c.ServerCPUus, 40000) {
		t.Errorf("commands %v, scripts %v, server CPU %v us per task; want 5.7, 1.5, 40000", c.Commands, c.Scripts, c.ServerCPUus)
	}
	if _, ok := c.PerCommand["info"]; ok {
		t.Errorf("the measuring's own INFO counted: %+v", c.PerCommand)
	}
	if h := c.PerCommand["hset"]; !near(h.Calls, 4) || !near(h.Usec, 8) {
		t.Errorf("hset %+v, want 4 calls and 8 usec per task", h)
	}
	if len(c.PerCommand) != 4 {
		t.Errorf("per command %+v, want fcall, evalsha, hset, client|setinfo", c.PerCommand)
	}
	if _, err := diffInfo("# Commandstats\r\n", after, 1); err == nil {
		t.Error("INFO without its cpu section: no error")
	}
}

func TestParseCallgrind(t *testing.T) {
	if cg, err := parseCallgrind(""); cg != nil || err != nil {
		t.Errorf("empty: %v, %v", cg, err)
	}
	if cg, err := parseCallgrind("123:/tmp/cg.out"); err != nil || cg.pid != 123 || cg.outFile != "/tmp/cg.out" {
		t.Errorf("123:/tmp/cg.out: %+v, %v", cg, err)
	}
	for _, bad := range []string{"123", "x:/tmp/a", "0:/tmp/a", "12:"} {
		if _, err := parseCallgrind(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
