package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/keyq/keyq/bench"
	"github.com/keyq/keyq/redisbackend"
)

// The names of the systems in the results.
const (
	KeyqName     = "keyq/redis"
	KeyqWaitName = "keyq/wait" // keyq with Options.WaitReplicas (system keyq-wait)
	AsynqName    = "asynq"
	RawName      = "go-redis"
)

func writeRatioJSON(w io.Writer, r Ratio) error { return json.NewEncoder(w).Encode(r) }

// runKeyq runs package bench's workloads, those c.Runs, on keyq's Redis backend.
func runKeyq(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	return runKeyqWith(ctx, url, c, log, KeyqName, redisbackend.Options{})
}

// runKeyqWait runs them on keyq's Redis backend with Options.WaitReplicas set to
// c.WaitReplicas, so that every enqueue and settle waits for that many replicas
// (WAIT: the replicas received each change). The server at url must be a
// master with that many replicas connected: without them every call would wait
// c.WaitTimeout and fail, so it refuses to start.
func runKeyqWait(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	rc, err := bench.NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	info, err := rc.Info(ctx, "replication").Result()
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("INFO replication: %w", err)
	}
	if n := connectedReplicas(info); n < c.WaitReplicas {
		return nil, fmt.Errorf("keyq-wait needs a master with %d replicas connected (--wait-replicas); the server has %d: start one with redis-server --replicaof HOST PORT", c.WaitReplicas, n)
	}
	opts := redisbackend.Options{WaitReplicas: c.WaitReplicas, WaitTimeout: c.WaitTimeout}
	rs, err := runKeyqWith(ctx, url, c, log, KeyqWaitName, opts)
	for i := range rs {
		note := fmt.Sprintf("wait_replicas=%d wait_timeout=%v", c.WaitReplicas, c.WaitTimeout)
		rs[i].Note = strings.TrimPrefix(rs[i].Note+"; "+note, "; ")
	}
	return rs, err
}

// connectedReplicas reads connected_slaves from INFO replication; 0 if absent.
func connectedReplicas(info string) int {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// runKeyqWith runs the workloads on keyq's Redis backend with opts, named name
// in the results.
func runKeyqWith(ctx context.Context, url string, c Config, log func(string), name string, opts redisbackend.Options) ([]bench.Result, error) {
	t, err := bench.OpenRedisOptions(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	t.Name = name
	c.meter.count(t.Redis)
	base := bench.Config{Tasks: c.Tasks, Payload: c.Payload, Producers: c.Producers, Workers: c.Workers, Batch: 1, Samples: c.Samples, NoJobs: !c.KeyqJobs}
	if c.Payload == 0 {
		base.Payload = -1
	}
	batched := base
	batched.Batch = c.Batch
	runs := []struct {
		w   string
		cfg bench.Config
	}{
		{bench.Memory, base}, {bench.Enqueue, base}, {bench.Enqueue, batched},
		{bench.Cycle, base}, {bench.Cycle, batched},
		{bench.Worker, base}, {bench.Worker, batched},
		{bench.Wakeup, base}, {bench.Dedupe, batched},
	}
	var out []bench.Result
	for _, r := range runs {
		if !c.Runs(r.w) {
			continue
		}
		log(fmt.Sprintf("%s %s, batch %d", name, r.w, r.cfg.Batch))
		res, err := c.meter.measure(ctx, r.w, func() (bench.Result, error) { return bench.Run(ctx, r.w, t, r.cfg) })
		if err != nil {
			t.Close()
			return nil, err
		}
		res.Payload = c.Payload
		out = append(out, res)
	}
	return out, t.Close()
}
