/* Bounded byte buffers between the multiplexer thread and the FUSE side,
 * one per channel and direction.  A buffer is a ring of fixed capacity with
 * an end state (EOF or an errno).  Two kinds:
 *   - shared: one cursor; bytes are kept until someone reads them (exec
 *     output buffered from `start`, stdin towards the socket, ports);
 *   - broadcast: every reader has its own cursor and sees the bytes
 *     written after it opened (attach stdout with several `cat`s); with no
 *     reader, written bytes are dropped, as a tty drops output nobody reads.
 * The slowest cursor bounds the writer: chanbuf_space() is what can be
 * written now without exceeding the capacity.  Waiters are told outside
 * the lock, so a callback may call back into the buffer.
 *
 * Threads: every call may come from any thread, several writers included.
 * Whoever calls a function holds a reference (the creator's, or a
 * reader's: a reader keeps its buffer alive).  chanbuf_reader_close() and
 * chanbuf_set_writer() wait for a callback of theirs running on another
 * thread, so the old ud is never used after they return; do not hold a
 * lock that callback takes while calling them (a callback may close its
 * own reader).  peek/consume assume one consumer per cursor: on a shared
 * buffer, one draining thread (the multiplexer on stdin); use
 * chanbuf_read() when several threads share the cursor. */
#ifndef PODFS_CHANBUF_H
#define PODFS_CHANBUF_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct chanbuf;
struct cb_reader;

/* A callback is invoked (outside the buffer's lock) when something a
 * party may be waiting for happens. */
typedef void (*chanbuf_notify_fn)(void *ud);

struct chanbuf *chanbuf_new(size_t capacity, int broadcast);
/* Drops a reference; the buffer is freed with the last one. */
void chanbuf_put(struct chanbuf *b);
void chanbuf_get(struct chanbuf *b);

/* Writer side: notified (on_space) after readers free space. */
void chanbuf_set_writer(struct chanbuf *b, chanbuf_notify_fn on_space, void *ud);
size_t chanbuf_space(struct chanbuf *b);
/* Copies up to n bytes (never more than chanbuf_space); returns the count
 * and wakes readers.  0 once finished.  Broadcast with no reader: the
 * bytes are counted as written and dropped. */
size_t chanbuf_write(struct chanbuf *b, const void *p, size_t n);
/* End of stream: err 0 = EOF after the buffered bytes, else an errno
 * readers get after the buffered bytes.  The first call wins. */
void chanbuf_finish(struct chanbuf *b, int err);
/* Bytes buffered and not yet consumed by the slowest reader. */
size_t chanbuf_used(struct chanbuf *b);
int chanbuf_finished(struct chanbuf *b, int *err);

/* Reader side.  on_data is called when the reader may make progress (data,
 * EOF, error).  A shared buffer hands every reader the same cursor. */
struct cb_reader *chanbuf_reader_open(struct chanbuf *b, chanbuf_notify_fn on_data,
				      void *ud);
void chanbuf_reader_close(struct cb_reader *r);

/* Up to n bytes: >0 count, 0 at EOF (all read), -EAGAIN when nothing yet,
 * -errno after the buffered bytes when finished with an error. */
ssize_t chanbuf_read(struct cb_reader *r, void *p, size_t n);
/* Zero-copy form: up to two slices totalling at most n bytes, valid until
 * chanbuf_consume().  Same return convention as chanbuf_read. */
ssize_t chanbuf_peek(struct cb_reader *r, struct iovec iov[2], size_t n);
void chanbuf_consume(struct cb_reader *r, size_t n);
/* Would a read return at once (data, EOF or error)? For poll(). */
int chanbuf_readable(struct cb_reader *r);
/* Broadcast buffers give every reader its own cursor; on a shared buffer
 * several readers split one cursor, so peek/consume must not race there. */
int chanbuf_is_broadcast(struct chanbuf *b);

#endif
