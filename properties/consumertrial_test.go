package properties

import (
	"fmt"
	"slices"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"pgregory.net/rapid"
)

// validInterleaving tells whether il names each of partitions partitions
// once a batch.
func validInterleaving(il []int, batches, partitions int) bool {
	count := make([]int, partitions)
	for _, p := range il {
		if p < 0 || p >= partitions {
			return false
		}
		count[p]++
	}
	for _, n := range count {
		if n != batches {
			return false
		}
	}
	return true
}

func TestInterleavingsAreValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches := rapid.IntRange(0, 5).Draw(t, "batches")
		il := interleavings(batches, 0).Draw(t, "interleaving")
		if !validInterleaving(il, batches, 2) {
			t.Fatalf("interleaving %v of %d batches", il, batches)
		}
	})
}

func TestInterleavingsOfListsEachOnce(t *testing.T) {
	for batches, want := range []int{0, 2, 6, 20} { // C(2n, n)
		all := interleavingsOf(batches, 2, 100)
		if len(all) != want {
			t.Errorf("%d batches: %d interleavings, want %d", batches, len(all), want)
		}
		seen := map[string]bool{}
		for _, il := range all {
			if !validInterleaving(il, batches, 2) || seen[fmt.Sprint(il)] {
				t.Errorf("%d batches: %v is invalid or listed twice", batches, il)
			}
			seen[fmt.Sprint(il)] = true
		}
	}
	if n := len(interleavingsOf(4, 2, maxInterleavings)); n != maxInterleavings {
		t.Errorf("4 batches under the bound: %d interleavings, want %d", n, maxInterleavings)
	}
}

// Every simpler scenario of an interleaved one still has a valid
// interleaving: dropping a batch drops its steps.
func TestSimplerKeepsInterleavingsValid(t *testing.T) {
	bs := make([]harness.Batch[harness.Order], 3)
	for i := range bs {
		bs[i].Records = []harness.Order{{ID: int64(i)}, {ID: int64(10 + i)}}
	}
	sc := consumer.Scenario{Batches: bs, Interleaving: []int{1, 0, 0, 1, 1, 0}}
	var swapped bool
	for _, c := range simpler(sc) {
		if !validInterleaving(c.Interleaving, len(c.Batches), 2) {
			t.Errorf("%v: invalid interleaving %v for %d batches", c, c.Interleaving, len(c.Batches))
		}
		swapped = swapped || (len(c.Batches) == 3 && !slices.Equal(c.Interleaving, sc.Interleaving))
	}
	if !swapped {
		t.Error("no simpler scenario moves the interleaving toward partition order")
	}
	if got := dropStep([]int{1, 0, 0, 1, 1, 0}, 1); !slices.Equal(got, []int{1, 0, 1, 0}) {
		t.Errorf("dropping batch 2's steps from [1 0 0 1 1 0]: %v, want [1 0 1 0]", got)
	}
}
