/* Blocking work off the event loops, in the style of redis bio.c: one
 * background thread takes jobs in order, runs their blocking part (a pod
 * GET, a reconnect) and posts their completion back to the loop that asked,
 * so no multiplexer thread ever waits on the network. */
#ifndef PODFS_WORKER_H
#define PODFS_WORKER_H

#include "stream/loop.h"

struct worker_job {
	void (*work)(struct worker_job *j);	/* on the worker thread */
	struct loop *back;			/* where `done` is posted */
	struct loop_job done;			/* then runs on that loop */
	struct worker_job *next;		/* (worker lock) */
};

/* Queue j (any thread).  0, or -ESHUTDOWN after worker_shutdown began and
 * -errno when the thread cannot start: then nothing runs. */
int worker_submit(struct worker_job *j);
/* Finish the queued jobs and join the thread (unmount).  The loops their
 * completions go to must still run until then. */
void worker_shutdown(void);

#endif
