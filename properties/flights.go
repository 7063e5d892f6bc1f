package properties

import "sync"

// flights are values made once per key: the first to ask for a key makes
// its value, and those who ask meanwhile wait for it (as
// golang.org/x/sync/singleflight, but a value made stays, for the later
// askers too, until it is forgotten). The clean runs (cleanrun.go) and the
// runs two laws share (judge.go) are kept in flights.
type flights[V any] struct {
	mu    sync.Mutex
	byKey map[string]*flight[V]
}

// flight is one key's value.
type flight[V any] struct {
	done chan struct{} // closed once val and err are set
	val  V
	err  error
	uses int // the joins left before the key is forgotten (0: kept)
}

// join returns key's flight and whether it was there already; a new one
// is the caller's to make: it sets val and err, then calls land. With
// uses > 0 the key is forgotten after that many joins.
func (fs *flights[V]) join(key string, uses int) (*flight[V], bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byKey == nil {
		fs.byKey = map[string]*flight[V]{}
	}
	f, ok := fs.byKey[key]
	if !ok {
		f = &flight[V]{done: make(chan struct{}), uses: uses}
		fs.byKey[key] = f
	}
	if f.uses > 0 {
		if f.uses--; f.uses == 0 {
			delete(fs.byKey, key)
		}
	}
	return f, ok
}

// land makes the flight's value available to those waiting.
func (f *flight[V]) land() { close(f.done) }

// wait waits for the flight's value.
func (f *flight[V]) wait() (V, error) {
	<-f.done
	return f.val, f.err
}

// forget drops key, so that the next to ask makes its value again.
func (fs *flights[V]) forget(key string) {
	fs.mu.Lock()
	delete(fs.byKey, key)
	fs.mu.Unlock()
}

// add makes v key's value, unless key has one.
func (fs *flights[V]) add(key string, v V) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.byKey[key]; ok {
		return
	}
	f := &flight[V]{done: make(chan struct{}), val: v}
	f.land()
	fs.byKey[key] = f
}
