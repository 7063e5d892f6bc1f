package certificate

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/idemcheck/idemcheck/properties"
)

// Lessons is the page idemcheck lessons --report writes: every lesson run,
// with its story, the law that caught it (minimal scenario, timeline,
// diff) and its fix holding.
type Lessons struct {
	Way, ServerVersion, Version string
	Made                        time.Time
	Runs                        []LessonRun
}

// LessonRun is one lesson and one law it was run against.
type LessonRun struct {
	Name, AntiPattern, Consequence string
	Source                         string // the public bug report, if any
	Tags                           []string
	Story, Why                     string
	Law                            string
	Caught                         bool
	Counterexample                 *properties.Counterexample // nil when not caught
	Fix                            string
	FixVerdict                     properties.Verdict
}

// lessonView is a run as the templates show it.
type lessonView struct {
	LessonRun
	Timeline template.HTML
	SVGFile  string
}

// Write writes the page to path: HTML (.html, .htm) or Markdown (.md, each
// timeline in <path without .md>-<lesson>-<law>.svg beside it).
func (p *Lessons) Write(path string) error {
	var buf bytes.Buffer
	svgs := map[string]string{}
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		err = lessonsHTML.Execute(&buf, map[string]any{"P": p, "Runs": p.views(nil)})
	case ".md":
		base := strings.TrimSuffix(path, filepath.Ext(path))
		err = lessonsMarkdown.Execute(&buf, map[string]any{"P": p, "Runs": p.views(func(name, svg string) string {
			file := base + "-" + name + ".svg"
			svgs[file] = svg
			return filepath.Base(file)
		})})
	default:
		return fmt.Errorf("certificate: %q: a report is .html or .md", path)
	}
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	for file, svg := range svgs {
		if err := os.WriteFile(file, []byte(svg), 0o644); err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

func (p *Lessons) views(svgFile func(name, svg string) string) []lessonView {
	var out []lessonView
	for _, r := range p.Runs {
		v := lessonView{LessonRun: r}
		if ce := r.Counterexample; ce != nil {
			if svg := Timeline(ce.Steps); svg != "" {
				v.Timeline = template.HTML(svg) // built by Timeline, every text escaped
				if svgFile != nil {
					v.SVGFile = svgFile(r.Name+"-"+r.Law, svg)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

var lessonFuncs = template.FuncMap{
	"join":  strings.Join,
	"dash":  funcs["dash"],
	"cell":  funcs["cell"],
	"fence": funcs["fence"],
}

var lessonsHTML = template.Must(template.New("lessons").Funcs(lessonFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idemcheck lessons</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; }
.caught { color: #9b1c1c; font-weight: bold; }
.held { color: #11603a; font-weight: bold; }
.missed { color: #8a5a00; font-weight: bold; }
.tag { background: #eef; border-radius: 3px; padding: 0 4px; margin-right: 4px; font-size: 90%; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>idemcheck lessons</h1>
<p>PostgreSQL {{.P.ServerVersion}} ({{.P.Way}}), idemcheck {{.P.Version}}, {{.P.Made.Format "2006-01-02 15:04 MST"}}.</p>
<table>
<tr><th>lesson</th><th>source</th><th>law</th><th>broken</th><th>fix</th></tr>
{{range .Runs}}<tr><td><a href="#{{.Name}}-{{.Law}}">{{.Name}}</a></td><td>{{if .Source}}<a href="{{.Source}}">{{.Source}}</a>{{else}}the seed document{{end}}</td><td>{{.Law}}</td><td>{{if .Caught}}<span class="caught">caught</span>{{else}}<span class="missed">not caught</span>{{end}}</td><td>{{.Fix}}: <span class="{{if eq .FixVerdict "held"}}held{{else}}missed{{end}}">{{.FixVerdict}}</span></td></tr>
{{end}}</table>
{{range .Runs}}
<h2 id="{{.Name}}-{{.Law}}">{{.Name}}: {{.Law}}</h2>
<p>{{range .Tags}}<span class="tag">{{.}}</span>{{end}}{{if .Source}} <a href="{{.Source}}">{{.Source}}</a>{{end}}</p>
<p><b>{{.AntiPattern}}</b>: {{.Consequence}}.</p>
{{if .Story}}<p>{{.Story}}</p>{{end}}
{{if .Why}}<p><b>Which law, and why:</b> {{.Why}}</p>{{end}}
{{with .Counterexample}}<h3>Caught: {{.Summary}}</h3>
<pre>{{.Scenario}}</pre>
{{end}}{{if .Timeline}}<div class="scroll">{{.Timeline}}</div>
{{end}}{{with .Counterexample}}{{if .Diff}}<pre>{{.Diff}}</pre>
{{end}}{{end}}<p><b>Fix:</b> {{.Fix}}, {{.Law}} {{.FixVerdict}}.</p>
{{end}}
</body>
</html>
`))

var lessonsMarkdown = texttemplate.Must(texttemplate.New("lessons-md").Funcs(texttemplate.FuncMap(lessonFuncs)).Parse(`# idemcheck lessons

PostgreSQL {{.P.ServerVersion}} ({{.P.Way}}), idemcheck {{.P.Version}}, {{.P.Made.Format "2006-01-02 15:04 MST"}}.

| lesson | source | law | broken | fix |
|---|---|---|---|---|
{{range .Runs}}| {{.Name}} | {{if .Source}}{{.Source}}{{else}}the seed document{{end}} | {{.Law}} | {{if .Caught}}caught{{else}}not caught{{end}} | {{.Fix}}: {{.FixVerdict}} |
{{end}}{{range .Runs}}
## {{.Name}}: {{.Law}}

{{if .Tags}}Tags: {{join .Tags ", "}}. {{end}}{{if .Source}}Source: {{.Source}}{{end}}

**{{.AntiPattern}}**: {{.Consequence}}.
{{if .Story}}
{{.Story}}
{{end}}{{if .Why}}
**Which law, and why:** {{.Why}}
{{end}}{{with .Counterexample}}
### Caught: {{.Summary}}

` + "```" + `
{{fence .Scenario}}
` + "```" + `
{{end}}{{if .SVGFile}}
![timeline]({{.SVGFile}})
{{end}}{{with .Counterexample}}{{if .Diff}}
` + "```" + `
{{fence .Diff}}
` + "```" + `
{{end}}{{end}}
**Fix:** {{.Fix}}, {{.Law}} {{.FixVerdict}}.
{{end}}`))
