package certificate

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/idemcheck/idemcheck/properties"
)

// Certificate is what a report shows: who was certified where, and the
// laws' outcomes.
type Certificate struct {
	Writer        string
	Way           string // how PostgreSQL was found: url, local or docker
	ServerVersion string
	WriterRole    string // the role writers logged in as
	Seed          uint64 // rapid's seed (0: random)
	Budget        string // the trials each law ran, as properties.Report.Budget says
	Version       string // idemcheck's version
	Made          time.Time
	Laws          []properties.LawReport
}

// Certified reports whether no claimed law was violated or inconclusive.
func (c *Certificate) Certified() bool {
	for _, l := range c.Laws {
		if l.Verdict == properties.Violated || l.Verdict == properties.Inconclusive {
			return false
		}
	}
	return true
}

// Write writes the certificate to path, as HTML when it ends in .html or
// .htm, as Markdown when it ends in .md (each violation's timeline then
// goes beside it, in <path without .md>-<Law>.svg).
func (c *Certificate) Write(path string) error {
	var buf bytes.Buffer
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		if err := c.WriteHTML(&buf); err != nil {
			return err
		}
	case ".md":
		base := strings.TrimSuffix(path, filepath.Ext(path))
		svgs := map[string]string{}
		err := c.WriteMarkdown(&buf, func(law, svg string) string {
			file := base + "-" + law + ".svg"
			svgs[file] = svg
			return filepath.Base(file)
		})
		if err != nil {
			return err
		}
		for file, svg := range svgs {
			if err := os.WriteFile(file, []byte(svg), 0o644); err != nil {
				return fmt.Errorf("certificate: %w", err)
			}
		}
	default:
		return fmt.Errorf("certificate: %q: a report is .html or .md", path)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

// lawView is one law as the templates show it.
type lawView struct {
	properties.LawReport
	Fired    string // the faults fired, by kind
	Points   string // the crash points covered or explored, and those never crashed
	Crashes  string
	Timeline template.HTML
	SVGFile  string
}

func (c *Certificate) views(svgFile func(law, svg string) string) []lawView {
	var out []lawView
	for _, l := range c.Laws {
		v := lawView{LawReport: l, Fired: l.FaultSummary(), Points: l.CoverageSummary()}
		if cv := l.Coverage; cv != nil && l.Explored == nil && len(cv.Uncovered) > 0 {
			v.Points += "; never crashed: " + strings.Join(cv.Uncovered, ", ")
		}
		if l.InTx+l.AtCommit+l.AfterCommit > 0 {
			v.Crashes = fmt.Sprintf("%d inside a transaction, %d before a COMMIT, %d after a commit", l.InTx, l.AtCommit, l.AfterCommit)
		}
		if ce := l.Counterexample; ce != nil {
			if svg := Timeline(ce.Steps); svg != "" {
				v.Timeline = template.HTML(svg) // built by Timeline, every text escaped
				if svgFile != nil {
					v.SVGFile = svgFile(string(l.Law), svg)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// WriteHTML writes the certificate as one self-contained HTML page.
func (c *Certificate) WriteHTML(w io.Writer) error {
	err := htmlPage.Execute(w, map[string]any{"C": c, "Laws": c.views(nil)})
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

// WriteMarkdown writes the certificate as Markdown. Markdown viewers do
// not draw inline SVG, so each timeline is handed to svgFile, which stores
// it and returns the name to link it by.
func (c *Certificate) WriteMarkdown(w io.Writer, svgFile func(law, svg string) string) error {
	err := markdownPage.Execute(w, map[string]any{"C": c, "Laws": c.views(svgFile)})
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

var funcs = template.FuncMap{
	"dash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
	"round": func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) },
	"cell":  func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") },
	"fence": func(s string) string { return strings.ReplaceAll(s, "```", "` ` `") },
}

var htmlPage = template.Must(template.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idemcheck certificate: {{.C.Writer}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; }
.verdict-held { color: #11603a; font-weight: bold; }
.verdict-violated { color: #9b1c1c; font-weight: bold; }
.verdict-inconclusive { color: #8a5a00; font-weight: bold; }
.verdict-not-claimed { color: #777; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>idemcheck certificate</h1>
<p class="overall">{{if .C.Certified}}<span class="verdict-held">Certified</span>: every claimed law held.{{else}}<span class="verdict-violated">Not certified</span>: a claimed law was violated or is inconclusive.{{end}}</p>
<table>
<tr><th>writer</th><td><code>{{.C.Writer}}</code></td></tr>
<tr><th>PostgreSQL</th><td>{{.C.ServerVersion}} ({{.C.Way}})</td></tr>
<tr><th>writers as</th><td>{{dash .C.WriterRole}}</td></tr>
<tr><th>seed</th><td>{{if .C.Seed}}{{.C.Seed}}{{else}}random{{end}}</td></tr>
{{if .C.Budget}}<tr><th>budget</th><td>{{.C.Budget}}</td></tr>
{{end}}<tr><th>idemcheck</th><td>{{.C.Version}}, {{.C.Made.Format "2006-01-02 15:04 MST"}}</td></tr>
</table>
<h2>Laws</h2>
<table class="laws">
<tr><th>law</th><th>verdict</th><th>trials</th><th>faults fired (trials)</th><th>crash points</th><th>crashes</th><th>time</th></tr>
{{range .Laws}}<tr><td>{{.Law}}</td><td class="verdict-{{.Verdict}}">{{.Verdict}}</td><td>{{.Trials}}</td><td>{{if eq .Verdict "not-claimed"}}-{{else if .Reason}}{{.Reason}}{{else}}{{dash .Fired}}{{end}}</td><td>{{if eq .Verdict "not-claimed"}}-{{else}}{{dash .Points}}{{end}}</td><td>{{dash .Crashes}}</td><td>{{round .Duration}}</td></tr>
{{end}}</table>
{{range .Laws}}{{with .Counterexample}}
<h2 id="{{.Law}}">{{.Law}} violated</h2>
<p>{{.Summary}}</p>
<h3>Minimal scenario ({{.Size}})</h3>
<pre>{{.Scenario}}</pre>
{{end}}{{if .Timeline}}<h3>Timeline of the failing trial</h3>
<div class="scroll">{{.Timeline}}</div>
{{end}}{{with .Counterexample}}{{if .Diff}}<h3>Diff</h3>
<pre>{{.Diff}}</pre>
{{end}}{{if .Sandbox}}<p>The faulty state was kept in {{.Sandbox}}.</p>
{{end}}{{if .ScenarioFile}}<p>Replay: <code>{{.Replay}}</code></p>
{{end}}{{end}}{{end}}
</body>
</html>
`))

// markdownPage is a text template: Markdown is not HTML-escaped.
var markdownPage = texttemplate.Must(texttemplate.New("md").Funcs(texttemplate.FuncMap(funcs)).Parse(`# idemcheck certificate

{{if .C.Certified}}**Certified**: every claimed law held.{{else}}**Not certified**: a claimed law was violated or is inconclusive.{{end}}

- writer: ` + "`{{.C.Writer}}`" + `
- PostgreSQL: {{.C.ServerVersion}} ({{.C.Way}})
- writers as: {{dash .C.WriterRole}}
- seed: {{if .C.Seed}}{{.C.Seed}}{{else}}random{{end}}
{{if .C.Budget}}- budget: {{.C.Budget}}
{{end}}- idemcheck: {{.C.Version}}, {{.C.Made.Format "2006-01-02 15:04 MST"}}

## Laws

| law | verdict | trials | faults fired (trials) | crash points | crashes | time |
|---|---|---|---|---|---|---|
{{range .Laws}}| {{.Law}} | {{.Verdict}} | {{.Trials}} | {{if eq .Verdict "not-claimed"}}-{{else if .Reason}}{{cell .Reason}}{{else}}{{dash .Fired}}{{end}} | {{if eq .Verdict "not-claimed"}}-{{else}}{{cell (dash .Points)}}{{end}} | {{dash .Crashes}} | {{round .Duration}} |
{{end}}{{range .Laws}}{{with .Counterexample}}
## {{.Law}} violated

{{.Summary}}

### Minimal scenario ({{.Size}})

` + "```" + `
{{fence .Scenario}}
` + "```" + `
{{end}}{{if .SVGFile}}
### Timeline of the failing trial

![timeline of the failing trial]({{.SVGFile}})
{{end}}{{with .Counterexample}}{{if .Diff}}
### Diff

` + "```" + `
{{fence .Diff}}
` + "```" + `
{{end}}{{if .Sandbox}}
The faulty state was kept in {{.Sandbox}}.
{{end}}{{if .ScenarioFile}}
Replay: ` + "`{{.Replay}}`" + `
{{end}}{{end}}{{end}}`))
