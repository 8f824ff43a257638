package keyq_test

import (
	"context"
	"fmt"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// Every process of a service may run the same scheduler: the store keeps each
// tick to one task. Here a fake clock stands in for the hours passing.
func ExampleScheduler() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 8, 59, 0, 0, time.UTC))
	b := memory.New(memory.WithClock(clk))
	defer b.Close()
	c, _ := keyq.New(b, "billing", keyq.Queues("reports"))

	ticked := make(chan keyq.Tick, 1)
	s, _ := keyq.NewScheduler(c, keyq.SchedulerConfig{OnTick: func(t keyq.Tick) { ticked <- t }})
	err := s.Add(keyq.Schedule{
		Name:     "daily-report",
		Cron:     "0 10 * * mon-fri", // 10:00 on weekdays, Berlin time
		Location: time.FixedZone("CET", 3600),
		Payload:  []byte(`{"report":"daily"}`),
		Options:  []keyq.EnqueueOption{keyq.Type("report")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go s.Run(ctx)

	_ = clk.WaitTimers(ctx, 1) // the scheduler waits for 09:00 UTC
	clk.Advance(time.Minute)
	t := <-ticked
	fmt.Println(t.Schedule, t.At, t.Err)

	l, _ := c.Next(ctx)
	name, at, _ := keyq.ScheduledTick(&l.Task)
	fmt.Println(l.Type, l.Key, name, at)
	// Output:
	// daily-report 2030-01-01 09:00:00 +0000 UTC <nil>
	// report keyq:sched:daily-report:1893488400000 daily-report 2030-01-01 09:00:00 +0000 UTC
}
