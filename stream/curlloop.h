/* libcurl's multi interface driven by one event loop (loop.c): the
 * transfers' sockets are loop descriptors and libcurl's timeout is a loop
 * timer (curl_multi_socket_action), so HTTP bodies are sources on the
 * multiplexer loop like WebSocket sessions, with no thread and no poll of
 * their own.  Loop thread only. */
#ifndef PODFS_CURLLOOP_H
#define PODFS_CURLLOOP_H

#include <curl/curl.h>

#include "stream/loop.h"

struct curlloop;

/* done(ud, result) runs on the loop thread when a transfer ends (result
 * CURLE_OK: the body is complete); the handle has left the multi then and
 * is the caller's again. */
typedef void (*curlloop_done_fn)(void *ud, CURLcode result);

struct curlloop *curlloop_new(struct loop *l);
/* Every transfer must have been removed. */
void curlloop_free(struct curlloop *cl);
/* Start the transfer of h (set up by the caller, CURLOPT_PRIVATE is
 * taken).  0 or -errno. */
int curlloop_add(struct curlloop *cl, CURL *h, curlloop_done_fn done, void *ud);
/* Stop it (no done call); not from inside one of h's callbacks. */
void curlloop_remove(struct curlloop *cl, CURL *h);

#endif
