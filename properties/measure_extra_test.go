package properties_test

import (
	"os"

	"github.com/idemcheck/idemcheck/properties"
)

func measureExtra() []properties.Option {
	if os.Getenv("IDEMCHECK_MEASURE") == "nosmoke" {
		return []properties.Option{properties.WithoutSmoke()}
	}
	return nil
}
