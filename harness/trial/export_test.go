package trial

// SharedTarget gives the external tests (package harness_test, which may
// import the reference writers) the target TestMain opened.
func SharedTarget() *Target { return target }
