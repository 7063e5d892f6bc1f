package trial

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// dockerHealthy reports whether testcontainers-go reaches a Docker engine.
func dockerHealthy(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics on some broken setups
			err = fmt.Errorf("%v", r)
		}
	}()
	provider, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return err
	}
	defer provider.Close()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return provider.Health(hctx)
}

// dockerAvailable reports why no Docker engine is reachable, or nil when one
// is. Tests that need the docker way skip with its message.
func dockerAvailable(ctx context.Context) error { return dockerHealthy(ctx) }

// startDocker runs cfg.dockerImage with testcontainers-go's postgres module
// and waits until the server is ready (the module's log and port waits).
func startDocker(ctx context.Context, cfg *targetConfig) (*server, error) {
	if err := dockerHealthy(ctx); err != nil {
		return nil, fmt.Errorf("trial: docker: no engine reachable (set DOCKER_HOST or start Docker): %w", err)
	}
	c, err := tcpostgres.Run(ctx, cfg.dockerImage,
		tcpostgres.WithDatabase("idemcheck"),
		tcpostgres.WithUsername("idemcheck"),
		tcpostgres.WithPassword("idemcheck"),
		tcpostgres.BasicWaitStrategies(),
		testcontainers.WithLogger(logfLogger(cfg.logf)),
		testcontainers.WithCmdArgs("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"),
	)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return nil, fmt.Errorf("trial: docker: start %s (pull or build it first, or set %s): %w", cfg.dockerImage, EnvDockerImage, err)
	}
	url, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return nil, fmt.Errorf("trial: docker: connection string: %w", err)
	}
	return &server{
		way:   WayDocker,
		url:   url,
		where: fmt.Sprintf("container %.12s from %s", c.GetContainerID(), cfg.dockerImage),
		stop: func(ctx context.Context) error {
			return testcontainers.TerminateContainer(c)
		},
	}, nil
}

// logfLogger routes testcontainers-go's log lines to Logf.
type logfLogger func(format string, args ...any)

func (l logfLogger) Printf(format string, args ...any) { l("docker: "+format, args...) }
