// Command wrongrecords does not compile, on purpose: it passes a generator
// of one record type beside a writer of another. TestWrongRecordsDoNotCompile
// builds it and expects the compiler to refuse.
package main

import (
	"context"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"pgregory.net/rapid"
)

type Reading struct{ Sensor string }

func main() {
	readings := rapid.Custom(func(t *rapid.T) Reading { return Reading{Sensor: rapid.String().Draw(t, "sensor")} })
	properties.CheckRecords(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
		properties.Draw(readings))
}
