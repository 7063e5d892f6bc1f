// Package antipatterns holds writers that are broken on purpose, one per
// classic anti-pattern of idempotent pipelines, and the seed document's own
// three code examples rendered faithfully in Go. Each is a lesson: Catalog
// says what it does wrong, what that costs, which laws must catch it and
// which reference writer fixes it.
//
// Never copy these writers; copy their fixes from package reference.
package antipatterns
