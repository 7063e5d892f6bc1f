// Package bufpipe is an in-memory, full-duplex net.Conn pair that
// buffers like a socket pair: a Write returns once its bytes are held
// (up to Size bytes per direction are held before a writer waits), a Read
// returns what is there. Unlike net.Pipe, a writer never waits for its
// reader to come along, so two peers that both write before they read (a
// driver sending a pipeline while the server answers) do not deadlock;
// unlike a kernel socket pair, nothing costs a system call.
//
// Deadlines, Close and errors follow net.Conn's contract (checked by
// golang.org/x/net/nettest): a deadline that passes fails the operation
// with an error that is os.ErrDeadlineExceeded and a timeout; after an
// end's Close, its own operations fail with net.ErrClosed, its peer reads
// what is left and then io.EOF, and its peer's writes fail with
// io.ErrClosedPipe.
package bufpipe
