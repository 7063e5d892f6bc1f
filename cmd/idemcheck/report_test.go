package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// chromium finds Debian's headless browser. Without it the test is
// skipped, unless IDEMCHECK_REQUIRE_CHROMIUM is set (as .ci/run does,
// after apt-get install chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("IDEMCHECK_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed: apt-get install chromium")
	}
	t.Skip("chromium is not installed: apt-get install chromium to run this test; .ci/run installs it and sets IDEMCHECK_REQUIRE_CHROMIUM=1, so in CI it runs or fails")
	return ""
}

// screenshot renders page in headless Chromium and returns the picture.
func screenshot(t *testing.T, browser, page string) image.Image {
	t.Helper()
	dir := t.TempDir()
	shot := filepath.Join(dir, "page.png")
	cmd := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		// Tall enough for the lessons page, every lesson on it.
		"--user-data-dir="+filepath.Join(dir, "profile"), "--force-device-scale-factor=1", "--window-size=1600,12000",
		"--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixels counts the pixels of img within a small distance of colour
// (#rrggbb).
func pixels(img image.Image, colour string) int {
	var want [3]int
	fmt.Sscanf(colour, "#%02x%02x%02x", &want[0], &want[1], &want[2])
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
			near := true
			for i := range got {
				if d := got[i] - want[i]; d > 6 || d < -6 {
					near = false
				}
			}
			if near {
				n++
			}
		}
	}
	return n
}

func TestReportRendersTheTimelineInChromium(t *testing.T) {
	needTools(t, "psql")
	browser := chromium(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "certificate.html")
	js := filepath.Join(dir, "cert.json")
	code, out, errOut := idemcheck(t, "certify", "--sql", "testdata/naive_insert.sql", "--setup-sql", "testdata/setup.sql",
		"--laws", "RetryEquivalence", "--checks", "30", "--shrink-time", "5s", "--scenario-dir", dir,
		"--report", report, "--json", js)
	if code != exitViolation {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitViolation, out, errOut)
	}
	var rep jsonReport
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var timeline string
	for _, l := range rep.Laws {
		if l.Counterexample != nil {
			timeline = l.Counterexample.Timeline
		}
	}
	faultMarks := strings.Count(timeline, " FAULT ")
	commitMarks := strings.Count(timeline, " committed")
	if faultMarks == 0 || commitMarks == 0 {
		t.Fatalf("the failing trial has %d faults and %d commits; a retry after an ambiguous commit has both:\n%s", faultMarks, commitMarks, timeline)
	}

	img := screenshot(t, browser, report)
	// The legend draws one of each mark; the timeline's own marks must be
	// there besides. A fault triangle covers ~80 pixels, a commit diamond
	// ~70; half of that each allows for anti-aliasing.
	if red, want := pixels(img, "#d7301f"), 40*(1+faultMarks); red < want {
		t.Errorf("%d pixels of the fault colour, want at least %d (the legend's and %d fault mark(s)): the timeline did not render", red, want, faultMarks)
	}
	if green, want := pixels(img, "#1a9850"), 35*(1+commitMarks); green < want {
		t.Errorf("%d pixels of the commit colour, want at least %d (the legend's and %d commit mark(s)): the timeline did not render", green, want, commitMarks)
	}
	if blue := pixels(img, "#4e79a7") + pixels(img, "#9aa5b1"); blue < 2*14*12 {
		t.Errorf("%d pixels of round boxes: the timeline did not render", blue)
	}
	page, _ := os.ReadFile(report)
	for _, want := range []string{"Not certified", "RetryEquivalence violated", `class="timeline"`, "&#43;faulty"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the certificate lacks %q", want)
		}
	}
}

// A run names its seed, and the same seed repeats it: the same failing
// trial, the same diff. (Shrinking is off: a time-bounded shrink stops
// wherever the clock says.)
func TestTheSeedRepeatsARun(t *testing.T) {
	needTools(t, "psql")
	args := []string{"--sql", "testdata/naive_insert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "RetryEquivalence", "--checks", "50", "--shrink-time", "0s"}
	certifyJSON := func(extra ...string) (uint64, jsonLaw) {
		out := filepath.Join(t.TempDir(), "cert.json")
		code, stdout, stderr := idemcheck(t, append(append([]string{"certify", "--json", out, "--scenario-dir", t.TempDir()}, args...), extra...)...)
		if code != exitViolation {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		var rep jsonReport
		b, _ := os.ReadFile(out)
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, fmt.Sprintf("(seed %d)", rep.Seed)) {
			t.Errorf("the output does not name seed %d", rep.Seed)
		}
		for _, l := range rep.Laws {
			if l.Counterexample != nil {
				return rep.Seed, l
			}
		}
		t.Fatalf("no counterexample in %s", b)
		return 0, jsonLaw{}
	}
	seed, first := certifyJSON()
	if seed == 0 {
		t.Fatal("the certificate's seed is 0: the run cannot be repeated")
	}
	_, again := certifyJSON("--seed", fmt.Sprint(seed))
	if again.Trials != first.Trials || again.Counterexample.Summary != first.Counterexample.Summary || again.Counterexample.Diff != first.Counterexample.Diff {
		t.Errorf("seed %d did not repeat the run: %d trials %q\n%s\nthen %d trials %q\n%s", seed,
			first.Trials, first.Counterexample.Summary, first.Counterexample.Diff, again.Trials, again.Counterexample.Summary, again.Counterexample.Diff)
	}
}

// Every lesson, the seed's and those rendered from public bug reports, is
// caught and its fix holds; --json names each one's source and tags, and
// --report writes one page that teaches them all, which Chromium renders
// with a timeline per lesson that has one.
func TestEveryLessonOnOnePage(t *testing.T) {
	t.Parallel() // its brokers and servers are its own
	browser := chromium(t)
	dir := t.TempDir()
	js, report := filepath.Join(dir, "lessons.json"), filepath.Join(dir, "lessons.html")
	// 30 trials: enough for each fix to reach the default crash-point coverage.
	code, out, errOut := idemcheck(t, "lessons", "--checks", "30", "--shrink-time", "1s", "--json", js, "--report", report)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var results []lessonResult
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatal(err)
	}
	sourced := 0
	for _, r := range results {
		if !r.Caught || !r.FixHeld {
			t.Errorf("%s: caught %v, fix %s held %v", r.AntiPattern, r.Caught, r.Fix, r.FixHeld)
		}
		if strings.HasPrefix(r.Source, "https://") && len(r.Tags) > 0 {
			sourced++
		}
		t.Logf("%s (%s): caught at trial %d, %d batch(es), %d record(s), %d deliveries, %d consumer processes", r.AntiPattern, r.Law, r.Trials, r.Batches, r.Records, r.Deliveries, r.Processes)
	}
	if len(results) < 15 || sourced < 7 {
		t.Errorf("%d lessons, %d with a public source; want at least 15 and 7", len(results), sourced)
	}
	page, _ := os.ReadFile(report)
	timelines := strings.Count(string(page), `class="timeline"`)
	for _, r := range results {
		if !strings.Contains(string(page), `id="`+r.AntiPattern+`-`+r.Law+`"`) {
			t.Errorf("the page does not teach %s", r.AntiPattern)
		}
	}
	if timelines < 10 {
		t.Errorf("%d timelines on the page; every lesson caught by a fault law has one", timelines)
	}
	img := screenshot(t, browser, report)
	if red, want := pixels(img, "#d7301f"), 40*timelines; red < want {
		t.Errorf("%d pixels of the fault colour, want at least %d for %d timelines: they did not render", red, want, timelines)
	}
}
