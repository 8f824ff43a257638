package lua

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// TestPrelude: Lua knows every constant of the layout by its name, with Go's value.
func TestPrelude(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		names := make([]string, len(constants))
		for i, c := range constants {
			names[i] = c.name
		}
		r := e.probe("return {" + strings.Join(names, ", ") + "}")
		if len(r) != len(constants) {
			t.Fatalf("%d values for %d constants", len(r), len(constants))
		}
		for i, c := range constants {
			if got, want := fmt.Sprint(r[i]), fmt.Sprint(c.value); got != want {
				t.Errorf("%s is %s in Lua, %s in Go", c.name, got, want)
			}
		}
	})
}

// TestBlobGoLua: a blob and a lease record written by Go's offsets read the same
// in Lua, and what Lua writes reads the same by Go's offsets.
func TestBlobGoLua(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const enq = 1_700_000_123_456
		b := pre("key", 7, true)
		b = b[:BlobAttempt] + "\x01\x02" + b[BlobAttempt+2:] // attempt 258
		var ms [8]byte
		binary.BigEndian.PutUint64(ms[:], enq)
		b += string(ms[8-(BlobIDLen-BlobEnqueued):]) + "\x03" + "123" + "rest"
		if got := parseBlob(t, b); got.enqueued != enq || got.attempt != 258 {
			t.Fatalf("the test's blob reads %+v", got)
		}
		r := e.probe(`local b = ARGV[1]
return {blob_attempt(b), blob_max(b), blob_digest(b), blob_enqueued(b), blob_id(b),
  blob_tracked(b) and 1 or 0, blob_set_attempt(b, 513), enc48(ARGV[2]) .. rec_queue(ARGV[3]) .. b}`,
			b, "1700000999000", "queue")
		want := []any{int64(258), int64(7), digestOf("key"), int64(enq), "123", int64(1)}
		for i, w := range want {
			if r[i] != w {
				t.Errorf("Lua reads field %d as %q, want %q", i, r[i], w)
			}
		}
		set := parseBlob(t, r[6].(string))
		if set.attempt != 513 || set.max != 7 || set.id != "123" || set.rest != "rest" {
			t.Errorf("blob_set_attempt gives %+v", set)
		}
		rec := parseRecord(t, r[7].(string))
		if rec.deadline != 1700000999000 || rec.queue != "queue" || rec.blob != b {
			t.Errorf("Lua's lease record reads %+v", rec)
		}
		r = e.probe(`local dl, q, b = lease_rec(ARGV[1])
return {dl, q, b}`, r[7])
		if r[0] != int64(1700000999000) || r[1] != "queue" || r[2] != b {
			t.Errorf("lease_rec reads %v", r)
		}
	})
}

// TestCommonFiles: Common joins the files of common/ in the order of CommonFiles,
// refuses a file it does not name, and every script with the common code
// compiles.
func TestCommonFiles(t *testing.T) {
	common, err := Common(scripts)
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for _, n := range CommonFiles {
		src, err := fs.ReadFile(scripts, "common/"+n+".lua")
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(common, string(src))
		if i <= at {
			t.Errorf("common/%s.lua at %d, after %d", n, i, at)
		}
		at = i
	}
	extra := fstest.MapFS{"common/new.lua": {Data: []byte("local x = 1\n")}}
	for _, n := range CommonFiles {
		extra["common/"+n+".lua"] = &fstest.MapFile{}
	}
	if _, err := Common(extra); err == nil {
		t.Error("Common took common/new.lua, which CommonFiles does not name")
	}

	each(t, func(t *testing.T, e *env) {
		files, err := fs.Glob(scripts, "*.lua")
		if err != nil || len(files) == 0 {
			t.Fatalf("%d scripts, %v", len(files), err)
		}
		for _, f := range files {
			src, err := Source(scripts, strings.TrimSuffix(f, ".lua"))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.c.ScriptLoad(context.Background(), Script(e.common, src, false)).Err(); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	})
}
