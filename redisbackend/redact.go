package redisbackend

import (
	"net/url"
	"slices"
	"strings"
)

// redacted stands in for a secret in every text this package writes.
const redacted = "xxxxx"

// RedactURL returns the Redis URL s with its secrets replaced by "xxxxx": the
// password of the user info (redis://user:xxxxx@host:port), a user info without a
// password as a whole (it may be a misplaced password), and the value of every
// query parameter whose name contains "pass", such as sentinel_password. It works
// on any string, including URLs that do not parse: the user info is taken to end
// at the last '@' of s, so a password holding an unescaped '@', '/', '?' or '#' is
// hidden too, at the cost of hiding more than the password when a URL without one
// holds an '@' after its host. Print a URL only through RedactURL.
func RedactURL(s string) string {
	scheme, rest := splitScheme(s)
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if !hasPass || strings.ContainsAny(user, "/?#") {
			user = ""
		}
		return scheme + user + ":" + redacted + "@" + redactQuery(rest[at+1:])
	}
	return scheme + redactQuery(rest)
}

// splitScheme splits "scheme://rest" into "scheme://" and rest; a string without
// "://" is all rest.
func splitScheme(s string) (scheme, rest string) {
	if i := strings.Index(s, "://"); i >= 0 {
		return s[:i+3], s[i+3:]
	}
	return "", s
}

// redactQuery hides the values of the secret parameters in the query of tail, the
// part of a URL after its user info.
func redactQuery(tail string) string {
	path, query, ok := strings.Cut(tail, "?")
	if !ok {
		return tail
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok && secretParam(k) {
			params[i] = k + "=" + redacted
		}
	}
	return path + "?" + strings.Join(params, "&")
}

// secretParam reports whether the query parameter named k holds a secret.
func secretParam(k string) bool {
	if u, err := url.QueryUnescape(k); err == nil {
		k = u
	}
	return strings.Contains(strings.ToLower(k), "pass")
}

// urlSecrets returns the secrets of the URL s that an error text might quote:
// the password (or lone user info) and secret query values, as written and
// unescaped, longest first.
func urlSecrets(s string) []string {
	var out []string
	add := func(v string) {
		if v == "" {
			return
		}
		out = append(out, v)
		if u, err := url.PathUnescape(v); err == nil && u != v && u != "" {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(v); err == nil && u != v && u != "" {
			out = append(out, u)
		}
	}
	_, rest := splitScheme(s)
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user := rest[:at]
		// The user info ends at the last '@', as in RedactURL.
		if name, pass, ok := strings.Cut(user, ":"); ok {
			add(pass)
			if strings.ContainsAny(name, "/?#") {
				add(user)
			}
		} else {
			add(user)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for p := range strings.SplitSeq(query, "&") {
			if k, v, ok := strings.Cut(p, "="); ok && secretParam(k) {
				v, _, _ = strings.Cut(v, "#")
				add(v)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactText returns text with the URL s, and every secret of it, redacted.
func redactText(text, s string) string {
	if s == "" {
		return text
	}
	text = strings.ReplaceAll(text, s, RedactURL(s))
	for _, sec := range urlSecrets(s) {
		text = strings.ReplaceAll(text, sec, redacted)
	}
	return text
}

// redactedError is an error whose text has the secrets of a URL taken out. It
// unwraps to the error it stands for, so errors.Is and errors.As still work.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with the URL s and its secrets redacted from its text.
func redactErr(err error, s string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: redactText(err.Error(), s), err: err}
}
