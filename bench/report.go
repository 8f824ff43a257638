package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints results as an aligned table for people.
func WriteTable(w io.Writer, results []Result) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tworkload\ttasks\tprod\twork\tbatch\tseconds\ttasks/s\tp50 ms\tp99 ms\tbytes/task\t  note")
	for _, r := range results {
		if !r.Jobs && r.Note != "" && isKeyq(r.Backend) {
			r.Note += "; "
		}
		if !r.Jobs && isKeyq(r.Backend) {
			r.Note += "job records off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.3f\t%s\t%s\t%s\t%s\t  %s\n",
			r.Backend, r.Workload, r.Tasks, r.Producers, r.Workers, r.Batch, r.Seconds,
			num(r.TasksPerS, 0), num(r.P50ms, 3), num(r.P99ms, 3), num(r.BytesPerTask, 0), r.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// isKeyq reports whether backend names a keyq backend rather than a peer.
func isKeyq(backend string) bool {
	switch backend {
	case MemoryBackend, MiniredisBackend, RedisBackend, "keyq/redis":
		return true
	}
	return false
}

// num formats v with prec decimals, or "-" for 0 (not measured).
func num(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// MarshalJSON writes r with null for a figure it did not measure: p50_ms, p99_ms
// and bytes_per_task when zero, as the table prints "-" for them.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result // without this method
	return json.Marshal(struct {
		plain
		P50ms        *float64 `json:"p50_ms"`
		P99ms        *float64 `json:"p99_ms"`
		BytesPerTask *float64 `json:"bytes_per_task"`
	}{plain(r), measured(r.P50ms), measured(r.P99ms), measured(r.BytesPerTask)})
}

// measured returns &v, or nil for 0 (not measured).
func measured(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

// WriteJSON prints one JSON object per result, one a line; see Result.MarshalJSON.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
