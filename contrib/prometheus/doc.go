// Package keyqprom exports keyq's queues and workers to Prometheus, through
// github.com/prometheus/client_golang. It is a module of its own, so that keyq's
// core module does not depend on client_golang.
//
// A Collector reads, on every scrape, each namespace's queues and counters from the
// store (Client.Stats), bounded by a scrape timeout:
//
//	keyq_queue_tasks{namespace,queue,state}         gauge: waiting, leased, delayed, dead
//	keyq_tasks_enqueued_total{namespace}            counter, and likewise delivered,
//	                                                acked, released, reclaimed, deduped, dead
//	keyq_up{namespace}                              gauge: 1 when the last read succeeded
//	keyq_scrape_duration_seconds{namespace}         gauge: how long that read took
//	keyq_scrape_errors_total{namespace}             counter: reads that failed
//
// WorkerMetrics measures workers from inside, through a handler middleware and an
// outcome hook:
//
//	keyq_handler_duration_seconds{namespace,queue,type}       histogram
//	keyq_queue_latency_seconds{namespace,queue,type}          histogram: enqueue to start
//	keyq_worker_tasks_total{namespace,queue,type,outcome}     counter
//
// The type label takes the task types the workers see; a producer that makes up
// types without bound makes series without bound.
package keyqprom
