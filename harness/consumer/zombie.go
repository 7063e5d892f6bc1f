package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// Zombie is a zombie consumer, as one paused by a long garbage
// collection or a VM stall becomes one: the first consumer process is
// frozen (SIGSTOP: no work and no heartbeats) when it reaches PostgreSQL
// point At, its round there held by the proxy; a second process, started
// then, takes over its work (Kafka: all the partitions, once the frozen
// one's session expires; JetStream: its messages, once their AckWait
// passes) and catches up; then the first thaws, its round goes on (and
// its late acks reach the server), and both run until they have caught
// up. Points where the consumer holds no lock (a
// transaction's first statement, a write outside a transaction) keep the
// second from waiting on the first.
type Zombie struct {
	At faults.Point
}

func (z Zombie) String() string {
	return fmt.Sprintf("consumer 1 frozen at %v while consumer 2 takes over its work and catches up, then thawed", z.At)
}

// zombie plays z: the processes it ran, the frozen one first.
func (r *Runner) zombie(ctx context.Context, sb *trial.Sandbox, ch channel, z Zombie) ([]Process, error) {
	a, err := r.start(sb, ch, Fault{PG: faults.Plan{{Kind: faults.Pause, At: z.At}}})
	if err != nil {
		return nil, err
	}
	ending, err := r.watch(ctx, ch, []*running{a}, a.att.Paused())
	switch {
	case errors.Is(err, errAlso): // frozen below
	case err == nil && ending == 0:
		// Caught up before its point: no zombie. Its point may still come
		// as it stops (a write after its offset commit): let it pass.
		a.att.Release()
		ending, err = r.stop(a)
		return []Process{a.end(ending)}, err
	default:
		return []Process{a.end(ending)}, err
	}
	a.proc.Freeze()
	ch.stall(a.sess)
	b, err := r.start(sb, ch, Fault{})
	if err != nil {
		a.proc.Thaw()
		return []Process{a.end(0)}, err
	}
	thaw := func() {
		a.proc.Thaw()
		a.att.Release()
	}
	if ending, err := r.watch(ctx, ch, []*running{b}, nil); err != nil || ending != 0 {
		thaw()
		return []Process{a.end(0), b.end(ending)}, err
	}
	thaw()
	if ending, err := r.watch(ctx, ch, []*running{a, b}, nil); err != nil || ending != 0 {
		return []Process{a.end(ending), b.end(ending)}, err
	}
	endA, errA := r.stop(a)
	endB, errB := r.stop(b)
	if errA != nil {
		errA = fmt.Errorf("consumer 1, the zombie: %w", errA)
	}
	if errB != nil {
		errB = fmt.Errorf("consumer 2: %w", errB)
	}
	return []Process{a.end(endA), b.end(endB)}, errors.Join(errA, errB)
}
