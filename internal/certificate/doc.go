// Package certificate renders a certification report for people: an HTML
// page or a Markdown file with every law's verdict and coverage, and for
// each violation an SVG timeline of the failing trial and its diff.
//
// The timeline draws each delivery attempt as a lane and its rounds (one
// client message group and the server's reply) in order along it, with
// marks for the transaction state, commits, injected faults, errors and
// the attempt's outcome (acked, ack lost, failed, zombie). It needs no
// script and no external resource, so a certificate is one self-contained
// file (Markdown: the file plus one SVG per violation beside it).
package certificate
