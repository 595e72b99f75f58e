/* systemd readiness notification (sdnotify.c). */
#ifndef PODFS_SDNOTIFY_H
#define PODFS_SDNOTIFY_H

/* Send one sd_notify(3) datagram ("READY=1", "STOPPING=1", ...) to
 * $NOTIFY_SOCKET; MAINPID=<our pid> is added so a daemonised podfs is
 * tracked too.  0 when sent or when NOTIFY_SOCKET is unset, -errno. */
int sd_notify_state(const char *state);

#endif
