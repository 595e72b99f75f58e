/* Port-forward and pod-proxy files: `<ns>/<pod>/Ports/<port>` (every open
 * is one TCP connection into the pod) and `<ns>/<pod>/Proxy/<port>/<path>`
 * (a streamed GET through the API server's pod proxy).  ops.c hands their
 * opens here; reads, writes, poll and release then go through parked.c
 * like every other stream handle. */
#ifndef PODFS_PORTS_H
#define PODFS_PORTS_H

#include <fuse_lowlevel.h>

struct pfs_path;

/* Each replies to req exactly once. */
void ports_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi);
void proxy_open(fuse_req_t req, const struct pfs_path *p, struct fuse_file_info *fi);

/* Milliseconds an open waits for the server to report a refused port
 * before it succeeds (docs/ports.md); tests may shorten or lengthen it. */
void ports_set_settle_ms(long ms);

#endif
