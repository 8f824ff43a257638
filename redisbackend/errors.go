package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// mapErr turns an error of a Redis call made with ctx into the driver contract's
// errors: a cancelled ctx comes back as it is; a deadline, of ctx or of the network,
// is backend.ErrTimeout (backend.Deadline); a connection that cannot be made or broke is
// backend.ErrUnavailable. The go-redis error stays reachable with errors.As. mapErr
// never returns redis.Nil; callers handle it before.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisbackend: unexpected nil reply: %w", backend.ErrNotFound)
	}
	if errors.Is(err, context.Canceled) {
		if ctxErr := ctx.Err(); errors.Is(ctxErr, context.Canceled) {
			return ctxErr
		}
		return err
	}
	if isOOM(err) {
		return fmt.Errorf("%w: %w", backend.ErrFull, err)
	}
	if d := backend.Deadline(err); d != err {
		return d
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || isNetErr(err) || isServerDown(err) {
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	return fmt.Errorf("redisbackend: %w", err)
}

func isNetErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// isOOM reports the server's refusal to run a command, or a script's first
// write, while its used memory is over maxmemory. Redis refuses a script or
// function before it has changed anything: a function that may write is refused
// before it runs, and a script without flags at its first write that may grow
// memory, unless an earlier write went through (then every later one does).
//
// Redis 7 passes a script's refused command on with its own error code. Redis
// 6.2 and KeyDB wrap it in the script's error: "ERR Error running script (call
// to f_...): @user_script:215: -OOM command not allowed ...", which scriptCode
// unwraps.
func isOOM(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && (redis.HasErrorPrefix(err, "OOM") || scriptCode(re) == "OOM")
}

// scriptCode returns the error code of the command that failed a script, when
// the server reported it inside a script error (Redis 6.2, KeyDB), or "".
func scriptCode(re redis.Error) string {
	msg := re.Error()
	if !strings.HasPrefix(msg, "ERR Error running script") {
		return ""
	}
	i := strings.LastIndex(msg, ": -")
	if i < 0 {
		return ""
	}
	code, _, _ := strings.Cut(msg[i+3:], " ")
	return code
}

// isServerDown reports replies a server gives while it cannot serve: loading its
// data after a restart, a failover in progress, or a cluster that is down.
func isServerDown(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	code := scriptCode(re)
	for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
		if redis.HasErrorPrefix(err, p) || code == p {
			return true
		}
	}
	return false
}
