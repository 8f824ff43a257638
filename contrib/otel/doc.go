// Package keyqotel traces keyq tasks and measures keyq workers with OpenTelemetry.
// It is a module of its own, so that keyq's core module does not depend on
// OpenTelemetry.
//
// A producer's client gets EnqueueHook: every task it enqueues gets a "create"
// span, of kind producer and a child of the span in the enqueue's context, and
// that span's context travels in the task's headers (W3C traceparent and
// tracestate with the default propagator). A worker gets Middleware and OnDone,
// or is made with NewWorker, which gives it both: each delivery gets a "process"
// span, of kind consumer and a child of the task's "create" span, whichever
// process and whichever backend enqueued it. The process span starts when the
// handler does and ends once the worker has settled the delivery (acked, retried,
// dead-lettered, ...), with the outcome as an attribute.
//
// Spans follow the OpenTelemetry messaging conventions where they fit:
// messaging.system "keyq", messaging.operation.type and .name, messaging.destination.name
// (the queue), messaging.message.id (the task ID), error.type; and carry
// keyq.namespace, keyq.task.type, keyq.task.attempt and keyq.outcome.
//
// Metrics, through the OpenTelemetry metric API:
//
//	messaging.client.sent.messages  counter   tasks a client tried to enqueue
//	messaging.process.duration      histogram how long handlers ran, in seconds
//	keyq.worker.tasks               counter   deliveries settled, by keyq.outcome
package keyqotel
