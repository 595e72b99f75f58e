/* An event loop for one thread, in the style of redis ae.h: file
 * descriptors with a callback for readiness, one-shot timers, and jobs
 * other threads post (woken through an eventfd).  Every multiplexer thread
 * runs one; the unit tests run one on their own thread.
 *
 * The registration records (struct loop_fd, loop_timer, loop_job) belong
 * to the caller, usually embedded in the object they serve, so arming a
 * timer or posting a job never allocates.  Threads: loop_post, loop_wake
 * and loop_stop may be called from any thread; everything else only on
 * the loop's own thread (inside a callback, or before loop_run starts). */
#ifndef PODFS_LOOP_H
#define PODFS_LOOP_H

#include <stdint.h>

struct loop;

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

struct loop_fd {
	int fd;
	int mask;		/* LOOP_READ | LOOP_WRITE wanted now */
	void (*fn)(struct loop_fd *f, int ready);	/* ready: the LOOP_* that are */
	void *ud;
	int added;		/* (loop thread) registered with the kernel */
};

struct loop_timer {
	uint64_t due_ms;	/* mono_ms() deadline while armed */
	void (*fn)(struct loop_timer *t);
	void *ud;
	int armed;		/* (loop thread) */
	struct loop_timer *next;
};

struct loop_job {
	void (*fn)(struct loop_job *j);
	void *ud;
	struct loop_job *next;	/* (loop's job lock) */
};

struct loop *loop_new(void);
/* Only after loop_run returned (or never ran). */
void loop_free(struct loop *l);

/* Register f (fd, fn, ud and mask set by the caller); 0 or -errno. */
int loop_fd_add(struct loop *l, struct loop_fd *f);
/* Change what f waits for; cheap when unchanged. */
int loop_fd_set(struct loop *l, struct loop_fd *f, int mask);
/* Unregister before closing the fd; no callback for f runs afterwards,
 * even one already reported in the current batch. */
void loop_fd_del(struct loop *l, struct loop_fd *f);

/* Arm (or re-arm) t to fire once at due_ms (mono_ms clock). */
void loop_timer_at(struct loop *l, struct loop_timer *t, uint64_t due_ms);
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/* Any thread: run j->fn(j) on the loop thread soon, in posting order.  j
 * must stay valid until it runs and must not be posted twice at once.
 * 0, or -ESHUTDOWN once loop_stop was called: then j will not run (so a
 * reference the job was to drop is the caller's to drop). */
int loop_post(struct loop *l, struct loop_job *j);
/* Any thread: close the loop to new jobs and make loop_run return; the
 * jobs posted before still run, on the loop thread, before it returns. */
void loop_stop(struct loop *l);

/* One pass: wait up to max_ms (-1 = until something happens, bounded by
 * the next timer), then run ready fds, due timers and posted jobs.
 * Returns the number of callbacks run. */
int loop_once(struct loop *l, long max_ms);
/* Passes until loop_stop, then the jobs still queued. */
void loop_run(struct loop *l);

#endif
