// Package chromium finds and starts the headless Chromium that the browser tests of the widget
// and of the console drive.
package chromium

import (
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary: $HOTLINE_CHROMIUM, then the usual names on PATH; "" when
// there is none.
func Path() string {
	for _, name := range []string{os.Getenv("HOTLINE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Missing is why a browser test cannot run, for t.Skip. Where HOTLINE_REQUIRE_CHROMIUM is set
// (.ci/run sets it, after installing Chromium) required is true: a missing browser must fail
// the tests there, not let them pass unrun.
func Missing() (why string, required bool) {
	return "no chromium binary found (apt-get install chromium, or set HOTLINE_CHROMIUM); .ci/run installs it",
		os.Getenv("HOTLINE_REQUIRE_CHROMIUM") != ""
}

// Options are the allocator options of a headless Chromium at path with its profile in dir and
// a window of w × h: quiet (no background networking, updates or sync), the same colours and
// language everywhere, and timers that run in background tabs too.
func Options(path, dir string, w, h int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-features", "Translate"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(w, h),
	}
}
