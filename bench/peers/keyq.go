package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keyq/keyq/bench"
)

// The names of the systems in the results.
const (
	KeyqName  = "keyq/redis"
	AsynqName = "asynq"
	RawName   = "go-redis"
)

func writeRatioJSON(w io.Writer, r Ratio) error { return json.NewEncoder(w).Encode(r) }

// runKeyq runs package bench's workloads, those c.Runs, on keyq's Redis backend.
func runKeyq(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	t, err := bench.OpenRedis(ctx, url)
	if err != nil {
		return nil, err
	}
	t.Name = KeyqName
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
		log(fmt.Sprintf("keyq %s, batch %d", r.w, r.cfg.Batch))
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
