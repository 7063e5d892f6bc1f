package certificate

import (
	"fmt"
	"html"
	"strings"

	"github.com/idemcheck/idemcheck/harness/trial"
)

// The timeline's geometry, in SVG user units (pixels).
const (
	labelWidth  = 290 // the lane's label, left of its first round
	roundWidth  = 30  // one round along a lane
	laneHeight  = 38
	legendTop   = 18 // the legend's baseline
	lanesTop    = 52 // the first lane's top
	outcomeRoom = 330
)

// The marks' colours. They are used nowhere else on the page, so a test
// can find a drawn timeline by its pixels.
const (
	colourRound   = "#9aa5b1" // a round outside a transaction
	colourInTx    = "#4e79a7" // a round inside a transaction
	colourCommit  = "#1a9850" // a round that committed; an acked attempt
	colourFault   = "#d7301f" // an injected fault; a failed attempt
	colourError   = "#f28e2b" // an error the client saw without a fault
	colourAckLost = "#b07aa1" // an ack the broker never got; zombies
	colourMark    = "#6a51a3" // a request to the broker (a consumer's offset commit)
	colourPoll    = "#35978f" // records reaching a consumer (a poll)
)

// Timeline draws steps, the attempts of one trial, as an SVG image:
// attempts as lanes, rounds as boxes along them (blue inside a
// transaction, grey outside), a green diamond on each round that
// committed, a red triangle where a fault fired, an orange frame round an
// error, and the attempt's outcome at the lane's end; a consumer's lane
// also has its polls (teal arrow heads) and offset commits (purple
// bars) where they came among its rounds. Every mark has a
// title with the round's statements, shown on hover. It returns "" for no
// steps.
func Timeline(steps []trial.Step) string {
	if len(steps) == 0 {
		return ""
	}
	rounds := 1
	for _, s := range steps {
		for _, e := range s.Events {
			rounds = max(rounds, e.Round)
		}
	}
	width := labelWidth + rounds*roundWidth + outcomeRoom
	height := lanesTop + len(steps)*laneHeight + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, "<title>timeline of the failing trial: %d attempt(s)</title>\n", len(steps))
	legend(&b)
	// Round numbers along the top.
	for r := 1; r <= rounds; r++ {
		if rounds <= 20 || r == 1 || r%5 == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#666">%d</text>`+"\n", labelWidth+(r-1)*roundWidth+10, lanesTop-4, r)
		}
	}
	for i, s := range steps {
		lane(&b, i, s)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// legend draws one sample of each mark.
func legend(b *strings.Builder) {
	x, y := 0, legendTop-4 // y: the marks' middle line
	item := func(label string, mark func(x int) string) {
		b.WriteString(mark(x))
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+18, legendTop, label)
		x += 18 + 6*len(label) + 16
	}
	box := func(fill, stroke string) func(int) string {
		return func(x int) string {
			return fmt.Sprintf(`<rect x="%d" y="%d" width="14" height="12" fill="%s"%s/>`, x, y-6, fill, stroke)
		}
	}
	item("round", box(colourRound, ""))
	item("in a transaction", box(colourInTx, ""))
	item("committed", func(x int) string { return diamond(x+7, y) })
	item("fault", func(x int) string { return triangle(x+7, y) })
	item("error", box("none", fmt.Sprintf(` stroke="%s" stroke-width="2"`, colourError)))
	item("acked", func(x int) string { return ackMark(x, y) })
	item("ack lost", func(x int) string { return ackLostMark(x, y) })
	item("poll", func(x int) string { return pollMark(x+7, y) })
	item("offset commit", func(x int) string {
		return fmt.Sprintf(`<rect x="%d" y="%d" width="4" height="14" fill="%s"/>`, x+5, y-7, colourMark)
	})
}

// pollMark is a poll's mark, a downward arrow head (records coming in)
// centred on (x, y).
func pollMark(x, y int) string {
	return fmt.Sprintf(`<path d="M%d %d l10 0 l-5 9 z" fill="%s"/>`, x-5, y-4, colourPoll)
}

// lane draws one attempt.
func lane(b *strings.Builder, i int, s trial.Step) {
	top := lanesTop + i*laneHeight
	mid := top + laneHeight/2
	if i%2 == 0 {
		fmt.Fprintf(b, `<rect x="0" y="%d" width="100%%" height="%d" fill="#f4f6f8"/>`+"\n", top, laneHeight)
	}
	fmt.Fprintf(b, `<g class="lane" data-delivery="%d" data-attempt="%d">`+"\n", s.Delivery+1, s.Attempt)
	heading := fmt.Sprintf("delivery %d · attempt %d · batch %s", s.Delivery+1, s.Attempt, s.Batch)
	if s.Label != "" {
		heading = s.Label
	}
	fmt.Fprintf(b, `<text x="6" y="%d" font-weight="bold">%s</text>`+"\n", mid-3, esc(heading))
	fmt.Fprintf(b, `<text x="6" y="%d" fill="#555">%s</text>`+"\n", mid+11, esc(clip(s.Plan, 44)))
	last := 0
	for _, e := range s.Events {
		x := labelWidth + (e.Round-1)*roundWidth
		last = max(last, e.Round)
		title := "<title>" + esc(e.String()) + "</title>"
		fill := colourRound
		if e.Before == 'T' || e.After == 'T' || e.Before == 'E' || e.After == 'E' {
			fill = colourInTx
		}
		stroke := ""
		if e.SQLState != "" && e.Fault == nil {
			stroke = fmt.Sprintf(` stroke="%s" stroke-width="2"`, colourError)
		}
		fmt.Fprintf(b, `<rect class="round" x="%d" y="%d" width="20" height="14" fill="%s"%s>%s</rect>`+"\n", x, mid-7, fill, stroke, title)
		if e.Conn > 1 {
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="8" fill="#fff" text-anchor="middle">c%d</text>`+"\n", x+10, mid+3, e.Conn)
		}
		if e.Committed {
			fmt.Fprintf(b, `<g class="commit">%s%s</g>`+"\n", diamond(x+10, mid+12), title)
		}
		if e.Fault != nil {
			fmt.Fprintf(b, `<g class="fault">%s%s</g>`+"\n", triangle(x+10, mid-12), title)
		}
	}
	for _, m := range s.Marks {
		x := labelWidth + m.AfterRound*roundWidth - 7
		last = max(last, m.AfterRound+1)
		title := "<title>" + esc(m.Label) + "</title>"
		if m.Kind == trial.PollMark {
			fmt.Fprintf(b, `<g class="poll">%s%s</g>`+"\n", pollMark(x+2, mid), title)
		} else {
			fmt.Fprintf(b, `<g class="mark"><rect x="%d" y="%d" width="4" height="18" fill="%s"/>%s</g>`+"\n", x, mid-9, colourMark, title)
		}
		if m.Fault {
			fmt.Fprintf(b, `<g class="fault">%s%s</g>`+"\n", triangle(x+2, mid-12), title)
		}
	}
	outcome(b, labelWidth+last*roundWidth+6, mid, s)
	b.WriteString("</g>\n")
}

// outcome draws how the attempt ended, at x on the lane's middle line.
func outcome(b *strings.Builder, x, mid int, s trial.Step) {
	label := string(s.Outcome)
	if label == "" {
		label = "unfinished"
	}
	var mark, class string
	switch {
	case s.Outcome == trial.Acked || s.Outcome == trial.Stopped:
		class, mark = "ack", ackMark(x, mid)
	case s.Outcome == trial.AckLost:
		class, mark = "ack-lost", ackLostMark(x, mid)
	case s.Outcome.Zombie():
		class, mark = "zombie", fmt.Sprintf(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, x+1, mid-6, colourAckLost)
	default:
		class, mark = "failed", fmt.Sprintf(`<path d="M%d %d l10 10 M%d %d l-10 10" stroke="%s" stroke-width="3"/>`, x+2, mid-5, x+12, mid-5, colourFault)
	}
	if s.Err != "" {
		label += ": " + s.Err
	}
	fmt.Fprintf(b, `<g class="outcome %s">%s<title>%s</title></g>`+"\n", class, mark, esc(label))
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+20, mid+4, esc(clip(label, 50)))
}

// diamond is a commit mark centred on (x, y).
func diamond(x, y int) string {
	return fmt.Sprintf(`<path d="M%d %d l6 6 l-6 6 l-6 -6 z" fill="%s"/>`, x, y-6, colourCommit)
}

// triangle is a fault mark centred on (x, y).
func triangle(x, y int) string {
	return fmt.Sprintf(`<path d="M%d %d l7 12 l-14 0 z" fill="%s"/>`, x, y-7, colourFault)
}

// ackMark is a filled circle with a tick, left edge at x, centred on y.
func ackMark(x, y int) string {
	return fmt.Sprintf(`<circle cx="%d" cy="%d" r="7" fill="%s"/><path d="M%d %d l3 3 l5 -6" stroke="#fff" stroke-width="2" fill="none"/>`, x+7, y, colourCommit, x+3, y)
}

// ackLostMark is a hollow circle, left edge at x, centred on y.
func ackLostMark(x, y int) string {
	return fmt.Sprintf(`<circle cx="%d" cy="%d" r="6" fill="none" stroke="%s" stroke-width="2"/>`, x+7, y, colourAckLost)
}

func esc(s string) string { return html.EscapeString(s) }

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
