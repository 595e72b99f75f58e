/* The glue between a loop and a CURLM: libcurl says which sockets it wants
 * watched (CURLMOPT_SOCKETFUNCTION) and when it wants to be called without
 * one (CURLMOPT_TIMERFUNCTION); the loop calls curl_multi_socket_action
 * for either and then collects finished transfers.
 *
 * Threads: all of it runs on the loop's thread (a curl multi handle must
 * not be shared); the transfers' easy handles may be set up elsewhere. */
#include "stream/curlloop.h"

#include <errno.h>
#include <stdlib.h>

#include "stream/k8s.h"
#include "stream/log.h"

struct curlloop {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
};

struct cl_sock {			/* one socket libcurl wants watched */
	struct loop_fd lfd;
	struct curlloop *cl;
};

struct cl_xfer {			/* CURLOPT_PRIVATE of a transfer */
	curlloop_done_fn done;
	void *ud;
};

/* Hand finished transfers to their owners. */
static void collect(struct curlloop *cl)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(cl->multi, &left))) {
		struct cl_xfer *x = NULL;
		CURL *h = m->easy_handle;
		CURLcode rc = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(cl->multi, h);
		curl_easy_setopt(h, CURLOPT_PRIVATE, NULL);
		if (x) {
			x->done(x->ud, rc);
			free(x);
		}
	}
}

static void act(struct curlloop *cl, curl_socket_t fd, int ev)
{
	int running;

	curl_multi_socket_action(cl->multi, fd, ev, &running);
	collect(cl);
}

static void on_fd(struct loop_fd *f, int ready)
{
	struct cl_sock *k = f->ud;

	act(k->cl, f->fd, (ready & LOOP_READ ? CURL_CSELECT_IN : 0) |
	    (ready & LOOP_WRITE ? CURL_CSELECT_OUT : 0));
}

static void on_timer(struct loop_timer *t)
{
	act(t->ud, CURL_SOCKET_TIMEOUT, 0);
}

static int on_socket(CURL *h, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct curlloop *cl = userp;
	struct cl_sock *k = sockp;
	int mask = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? LOOP_READ : 0) |
		   (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? LOOP_WRITE : 0);

	(void)h;
	if (what == CURL_POLL_REMOVE) {
		if (k) {
			loop_fd_del(cl->loop, &k->lfd);
			curl_multi_assign(cl->multi, fd, NULL);
			free(k);
		}
		return 0;
	}
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			return -1;
		k->cl = cl;
		k->lfd = (struct loop_fd){ .fd = fd, .mask = mask, .fn = on_fd, .ud = k };
		if (loop_fd_add(cl->loop, &k->lfd) < 0) {
			free(k);
			return -1;
		}
		curl_multi_assign(cl->multi, fd, k);
		return 0;
	}
	return loop_fd_set(cl->loop, &k->lfd, mask) < 0 ? -1 : 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlloop *cl = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_stop(cl->loop, &cl->timer);
	else	/* 0: as soon as the current pass is over, not from here */
		loop_timer_at(cl->loop, &cl->timer, mono_ms() + (uint64_t)timeout_ms);
	return 0;
}

struct curlloop *curlloop_new(struct loop *l)
{
	struct curlloop *cl = calloc(1, sizeof(*cl));

	if (!cl || !(cl->multi = curl_multi_init())) {
		free(cl);
		return NULL;
	}
	cl->loop = l;
	cl->timer = (struct loop_timer){ .fn = on_timer, .ud = cl };
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	return cl;
}

void curlloop_free(struct curlloop *cl)
{
	if (!cl)
		return;
	loop_timer_stop(cl->loop, &cl->timer);
	curl_multi_cleanup(cl->multi);
	free(cl);
}

int curlloop_add(struct curlloop *cl, CURL *h, curlloop_done_fn done, void *ud)
{
	struct cl_xfer *x = malloc(sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->done = done;
	x->ud = ud;
	curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)x);
	if (curl_multi_add_handle(cl->multi, h) != CURLM_OK) {
		curl_easy_setopt(h, CURLOPT_PRIVATE, NULL);
		free(x);
		return -EIO;
	}
	return 0;
}

void curlloop_remove(struct curlloop *cl, CURL *h)
{
	struct cl_xfer *x = NULL;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(cl->multi, h);
	curl_easy_setopt(h, CURLOPT_PRIVATE, NULL);
	free(x);
}
