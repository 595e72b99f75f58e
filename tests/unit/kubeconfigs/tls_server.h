/* Starts tests/unit/kubeconfigs/tls_server.py (a throwaway-CA HTTPS server
 * on 127.0.0.1) for the live rest/conn unit tests and stops it again.
 * Header-only so each test binary stays one file. */
#ifndef PODFS_TEST_TLS_SERVER_H
#define PODFS_TEST_TLS_SERVER_H

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tsrv {
	pid_t pid;
	int in_fd;		/* closing it makes the server exit */
	int port;
	char dir[64];
	char kubeconfig[128];
};

static int tsrv_start(struct tsrv *t, const char *srcfile)
{
	int in[2], out[2];
	char script[512], line[128];
	const char *slash = strrchr(srcfile, '/');
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/podfs-tls-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->kubeconfig, sizeof(t->kubeconfig), "%s/kubeconfig", t->dir);
	snprintf(script, sizeof(script), "%.*s/kubeconfigs/tls_server.py",
		 slash ? (int)(slash - srcfile) : 1, slash ? srcfile : ".");
	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/usr/bin/python3", "python3", script, t->dir, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->in_fd = in[1];
	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		if (poll(&p, 1, 30000) <= 0 || read(out[0], line + n, 1) != 1)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	close(out[0]);
	if (sscanf(line, "PORT %d", &t->port) != 1) {
		fprintf(stderr, "tls_server.py did not start (got \"%s\")\n", line);
		return -1;
	}
	return 0;
}

static void tsrv_stop(struct tsrv *t)
{
	char cmd[128];

	if (t->in_fd > 0)
		close(t->in_fd);
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
	}
	if (!strncmp(t->dir, "/tmp/podfs-tls-", 15)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", t->dir);
	}
}

#endif
