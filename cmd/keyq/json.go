package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"time"
	"unicode/utf8"

	"github.com/keyq/keyq"
)

// What --json prints. Bytes that may not be UTF-8 (keys, payloads, namespaces) are
// a string when they are UTF-8 and base64 under a name ending in _base64
// otherwise, so no byte is lost. A time not set is null.

func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// text returns b as a JSON string when it is UTF-8, and otherwise nil and b in
// base64.
func text(b []byte) (*string, string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// jsonTime returns t in UTC, or nil (null) when t is zero: not set.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// keyJSON is a task key: key, or key_base64 when it is not UTF-8.
type keyJSON struct {
	Key       *string `json:"key,omitempty"`
	KeyBase64 string  `json:"key_base64,omitempty"`
}

func toKeyJSON(key string) keyJSON {
	var k keyJSON
	k.Key, k.KeyBase64 = text([]byte(key))
	return k
}

// taskJSON is a task: payload, or payload_base64 when it is not UTF-8.
type taskJSON struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	Type  string `json:"type,omitempty"`
	keyJSON
	Payload       *string           `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Attempt       int               `json:"attempt"`
	EnqueuedAt    *time.Time        `json:"enqueued_at"`
}

func toJSON(t keyq.Task) taskJSON {
	j := taskJSON{ID: t.ID, Queue: t.Queue, Type: t.Type, keyJSON: toKeyJSON(t.Key), Headers: t.Headers,
		Attempt: t.Attempt, EnqueuedAt: jsonTime(t.EnqueuedAt)}
	j.Payload, j.PayloadBase64 = text(t.Payload)
	return j
}

// deadJSON is a dead-lettered task.
type deadJSON struct {
	taskJSON
	Reason string     `json:"reason"`
	DiedAt *time.Time `json:"died_at"`
}

// leaseJSON is a leased task.
type leaseJSON struct {
	taskJSON
	Deadline *time.Time `json:"deadline"`
}

// jobJSON is a job record.
type jobJSON struct {
	ID         string         `json:"id"`
	Queue      string         `json:"queue"`
	Type       string         `json:"type"`
	Status     keyq.JobStatus `json:"status"`
	Attempts   int            `json:"attempts"`
	EnqueuedAt *time.Time     `json:"enqueued_at"`
	StartedAt  *time.Time     `json:"started_at"`
	EndedAt    *time.Time     `json:"ended_at"`
	LastError  string         `json:"last_error"`
}

func toJobJSON(j keyq.Job) jobJSON {
	return jobJSON{ID: j.ID, Queue: j.Queue, Type: j.Type, Status: j.Status, Attempts: j.Attempts,
		EnqueuedAt: jsonTime(j.EnqueuedAt), StartedAt: jsonTime(j.StartedAt), EndedAt: jsonTime(j.EndedAt),
		LastError: j.LastError}
}

// namespaceJSON is one line of keyq namespaces.
type namespaceJSON struct {
	Namespace       *string `json:"namespace,omitempty"`
	NamespaceBase64 string  `json:"namespace_base64,omitempty"`
}
