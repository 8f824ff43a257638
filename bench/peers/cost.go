package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/keyq/keyq/bench"
	"github.com/redis/go-redis/v9"
)

// meter measures what a workload costs per task (bench.Cost): the server's
// commands and CPU time from two snapshots of INFO commandstats and cpu (a diff,
// so it needs no CONFIG RESETSTAT and wipes no statistics of anyone else), the
// commands the measured clients sent (a go-redis hook), this process's CPU time
// (getrusage), and under callgrind the server's instructions. A nil *meter
// measures nothing.
type meter struct {
	rc   *redis.Client // its own connection: INFO, no workload traffic
	sent atomic.Int64  // commands sent by the clients count was called on
	cg   *callgrind
}

// newMeter connects to the server at url. With cg set it also measures the
// server's idle instructions per second, to subtract from every window.
func newMeter(ctx context.Context, url string, cg *callgrind) (*meter, error) {
	rc, err := bench.NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	m := &meter{rc: rc, cg: cg}
	if cg != nil {
		if err := cg.measureIdle(ctx, 3*time.Second); err != nil {
			rc.Close()
			return nil, err
		}
	}
	return m, nil
}

func (m *meter) close() error {
	if m == nil {
		return nil
	}
	return m.rc.Close()
}

// costed reports whether workload w gets a cost: not memory, whose window holds
// the measuring's own MEMORY USAGE calls, nor dedupe, whose window holds its setup.
func costed(w string) bool { return w != bench.Memory && w != bench.Dedupe }

// count adds a hook to c that counts the commands it sends.
func (m *meter) count(c *redis.Client) {
	if m != nil {
		c.AddHook(countHook{&m.sent})
	}
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// snapshot is the state at the start of a measured window.
type snapshot struct {
	info string
	cpu  time.Duration
	sent int64
	at   time.Time
}

// start opens a window: INFO first, then callgrind's counters zeroed, so that
// the INFO is not in them.
func (m *meter) start(ctx context.Context) (snapshot, error) {
	if m == nil {
		return snapshot{}, nil
	}
	info, err := m.info(ctx)
	if err != nil {
		return snapshot{}, err
	}
	if err := m.cg.zero(ctx); err != nil {
		return snapshot{}, err
	}
	return snapshot{info: info, cpu: processCPU(), sent: m.sent.Load(), at: time.Now()}, nil
}

// stop closes the window s opened and returns the cost of tasks tasks in it;
// nil from a nil meter.
func (m *meter) stop(ctx context.Context, s snapshot, tasks int) (*bench.Cost, error) {
	if m == nil {
		return nil, nil
	}
	window, cpu, sent := time.Since(s.at), processCPU()-s.cpu, m.sent.Load()-s.sent
	instr, err := m.cg.dump(ctx, window)
	if err != nil {
		return nil, err
	}
	info, err := m.info(ctx)
	if err != nil {
		return nil, err
	}
	c, err := diffInfo(s.info, info, tasks)
	if err != nil {
		return nil, err
	}
	per := func(v float64) float64 { return v / float64(tasks) }
	c.ClientCPUus, c.Sent, c.Instructions = per(float64(cpu.Microseconds())), per(float64(sent)), per(instr)
	return c, nil
}

// measure runs f, a workload of tasks tasks, in a window when w is costed, and
// sets the result's Cost.
func (m *meter) measure(ctx context.Context, w string, f func() (bench.Result, error)) (bench.Result, error) {
	if m == nil || !costed(w) {
		return f()
	}
	s, err := m.start(ctx)
	if err != nil {
		return bench.Result{}, err
	}
	r, err := f()
	if err != nil {
		return r, err
	}
	r.Cost, err = m.stop(ctx, s, r.Tasks)
	return r, err
}

func (m *meter) info(ctx context.Context) (string, error) {
	info, err := m.rc.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		return "", fmt.Errorf("peers: cost: INFO commandstats cpu: %w", err)
	}
	return info, nil
}

// processCPU is this process's CPU time so far, user plus system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scriptCommands are the commands that run a script.
var scriptCommands = []string{"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}

// diffInfo returns the server's share of the cost of tasks tasks, from the text
// of INFO commandstats and cpu before and after them: the commands run, scripts
// called and CPU time in between. One INFO call in between (the one that took
// before) is the measuring's, and left out.
func diffInfo(before, after string, tasks int) (*bench.Cost, error) {
	b, bcpu, err := parseInfo(before)
	if err != nil {
		return nil, err
	}
	a, acpu, err := parseInfo(after)
	if err != nil {
		return nil, err
	}
	if info, ok := a["info"]; ok {
		info.calls--
		a["info"] = info
	}
	per := func(v float64) float64 { return v / float64(tasks) }
	c := &bench.Cost{PerCommand: map[string]bench.CommandCost{}, ServerCPUus: per((acpu - bcpu) * 1e6)}
	for _, name := range slices.Sorted(maps.Keys(a)) {
		calls, usec := a[name].calls-b[name].calls, a[name].usec-b[name].usec
		if calls <= 0 {
			continue
		}
		c.PerCommand[name] = bench.CommandCost{Calls: per(float64(calls)), Usec: per(float64(usec))}
		c.Commands += per(float64(calls))
		if slices.Contains(scriptCommands, name) {
			c.Scripts += per(float64(calls))
		}
	}
	return c, nil
}

type cmdStat struct{ calls, usec int64 }

// parseInfo reads INFO commandstats and cpu: calls and usec by command, and the
// server's CPU seconds (used_cpu_user plus used_cpu_sys).
func parseInfo(info string) (map[string]cmdStat, float64, error) {
	stats := map[string]cmdStat{}
	var cpu float64
	var cpuFields int
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("peers: cost: INFO cpu line %q: %w", line, err)
			}
			cpu += f
			cpuFields++
			continue
		}
		name, fields, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		var s cmdStat
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				s.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		stats[name] = s
	}
	if cpuFields != 2 {
		return nil, 0, errors.New("peers: cost: INFO cpu has no used_cpu_user and used_cpu_sys")
	}
	return stats, cpu, nil
}

// callgrind drives the callgrind instance a redis-server runs under
// (cost/callgrind.sh): it zeroes its counters at the start of a window, dumps
// them at the end, and reads the instructions from the dump.
type callgrind struct {
	pid     int
	outFile string  // valgrind's --callgrind-out-file; dumps are <outFile>.<n>
	idle    float64 // instructions per second of the idle server
}

// parseCallgrind reads --callgrind PID:OUTFILE.
func parseCallgrind(spec string) (*callgrind, error) {
	if spec == "" {
		return nil, nil
	}
	p, out, ok := strings.Cut(spec, ":")
	pid, err := strconv.Atoi(p)
	if !ok || err != nil || pid <= 0 || out == "" {
		return nil, fmt.Errorf("--callgrind %q: want PID:OUTFILE, the server's process id and its --callgrind-out-file", spec)
	}
	return &callgrind{pid: pid, outFile: out}, nil
}

func (cg *callgrind) control(ctx context.Context, arg string) error {
	out, err := exec.CommandContext(ctx, "callgrind_control", arg, strconv.Itoa(cg.pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("peers: callgrind_control %s %d: %w: %s", arg, cg.pid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (cg *callgrind) zero(ctx context.Context) error {
	if cg == nil {
		return nil
	}
	return cg.control(ctx, "--zero")
}

// dump dumps the counters and returns the instructions since the last zero,
// less the idle rate over window.
func (cg *callgrind) dump(ctx context.Context, window time.Duration) (float64, error) {
	if cg == nil {
		return 0, nil
	}
	if err := cg.control(ctx, "--dump"); err != nil {
		return 0, err
	}
	ir, err := cg.lastDump()
	if err != nil {
		return 0, err
	}
	return max(0, ir-cg.idle*window.Seconds()), nil
}

// measureIdle sets cg.idle from d of the server doing nothing.
func (cg *callgrind) measureIdle(ctx context.Context, d time.Duration) error {
	if err := cg.zero(ctx); err != nil {
		return err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d): // the idle period measured
	}
	ir, err := cg.dump(ctx, 0)
	if err != nil {
		return err
	}
	cg.idle = ir / time.Since(start).Seconds()
	return nil
}

// lastDump reads the summary (instructions) of the newest dump.
func (cg *callgrind) lastDump() (float64, error) {
	files, err := filepath.Glob(cg.outFile + ".*")
	if err != nil {
		return 0, err
	}
	last, lastN := "", -1
	for _, f := range files {
		if n, err := strconv.Atoi(strings.TrimPrefix(f, cg.outFile+".")); err == nil && n > lastN {
			last, lastN = f, n
		}
	}
	if last == "" {
		return 0, fmt.Errorf("peers: no callgrind dump %s.<n>", cg.outFile)
	}
	f, err := os.Open(last)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseFloat(fs[0], 64)
		}
	}
	return 0, fmt.Errorf("peers: callgrind dump %s has no summary line", last)
}

// writeCost prints the cost of the results that have one, as a table beside
// the throughput table.
func writeCost(w io.Writer, results []bench.Result) error {
	var lines []bench.Result
	instr := false
	for _, r := range results {
		if r.Cost != nil {
			lines = append(lines, r)
			instr = instr || r.Cost.Instructions > 0
		}
	}
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Cost per task: commands redis-server ran (those scripts ran included) and the clients sent,")
	fmt.Fprintln(w, "script calls (FCALL/EVALSHA/EVAL), redis-server CPU and client CPU (Go process; Node for bullmq).")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "backend\tworkload\tbatch\tcommands\tsent\tscripts\tserver us\tclient us\t"
	if instr {
		head += "server instr\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range lines {
		c := r.Cost
		sent := "-"
		if c.Sent > 0 {
			sent = strconv.FormatFloat(c.Sent, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t%.2f\t%.1f\t%.1f\t", r.Backend, r.Workload, r.Batch, c.Commands, sent, c.Scripts, c.ServerCPUus, c.ClientCPUus)
		if instr {
			fmt.Fprintf(tw, "%.0f\t", c.Instructions)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
