// Package browsertest drives keyq's web dashboard in headless Chromium through
// chromedp. It is a module of its own so that chromedp stays out of keyq's
// go.mod; it holds only tests. Without Chromium the tests skip, and fail when
// the CI environment variable is set.
package browsertest
