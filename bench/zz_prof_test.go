package bench

import (
	"context"
	"testing"
)

func BenchmarkZZWorker8(b *testing.B) {
	tg, err := OpenRedis(context.Background(), "redis://127.0.0.1:6399")
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	for i := 0; i < b.N; i++ {
		r, err := Run(context.Background(), Worker, tg, Config{Tasks: 20000, Payload: 64, Producers: 8, Workers: 8, Batch: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.TasksPerS, "tasks/s")
	}
}
