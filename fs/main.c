/* podfs: mount a Kubernetes cluster as a directory.  This file reads the
 * command line (fuse_opt, like sshfs), loads the kubeconfig context, builds
 * the API client and caches, then mounts with the FUSE low-level API and
 * runs the multi-threaded loop until unmounted or signalled.  Start-up
 * errors are one line on stderr and exit status 1; an unreachable API
 * server is not one of them: podfs mounts anyway and reports it per
 * operation and in .podfs/status. */
#include "fs/fs.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/streams.h"
#include "fs/tree.h"
#include "stream/auth.h"
#include "stream/cache.h"
#include "stream/kubeconfig.h"
#include "stream/log.h"
#include "stream/mux.h"
#include "stream/rest.h"

struct options {
	char *kubeconfig;
	char *context;
	char *namespace;
	char *timeout;
	char *cache;
	char *buffer;
	char *keepalive;
};

#define OPT(t, f) { t, offsetof(struct options, f), 1 }
static const struct fuse_opt option_spec[] = {
	OPT("--kubeconfig %s", kubeconfig),
	OPT("--kubeconfig=%s", kubeconfig),
	OPT("kubeconfig=%s", kubeconfig),
	OPT("--context %s", context),
	OPT("--context=%s", context),
	OPT("context=%s", context),
	OPT("--namespace %s", namespace),
	OPT("--namespace=%s", namespace),
	OPT("namespace=%s", namespace),
	OPT("timeout=%s", timeout),
	OPT("cache=%s", cache),
	OPT("buffer=%s", buffer),
	OPT("keepalive=%s", keepalive),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n\n"
	       "Mounts the Kubernetes cluster of a kubeconfig context at MOUNTPOINT:\n"
	       "MOUNTPOINT/<namespace>/<pod>/<container>/{stdin,stdout,stderr,log,...}.\n"
	       "Unmount with `fusermount3 -u MOUNTPOINT` (or Ctrl-C with -f).\n\n"
	       "podfs options:\n"
	       "    --kubeconfig FILE      kubeconfig file(s), ':'-separated\n"
	       "                           (default: $KUBECONFIG, else ~/.kube/config)\n"
	       "    --context NAME         context to use (default: current-context)\n"
	       "    --namespace NAME       namespace shown when namespaces may not be\n"
	       "                           listed (default: the context's)\n"
	       "    -o kubeconfig=FILE, -o context=NAME, -o namespace=NAME\n"
	       "                           the same, as mount options\n"
	       "    -o timeout=SECONDS     bound on every metadata operation (default 10)\n"
	       "    -o cache=SECONDS       how long listings and attributes are cached\n"
	       "                           (default 1; 0 = ask the server every time)\n"
	       "    -o buffer=BYTES        per-stream buffer, suffix K or M (default 1M)\n"
	       "    -o keepalive=SECONDS   ping streams this often and give up on one\n"
	       "                           whose pong is this late (default 30; 0 = off)\n"
	       "    -d                     debug: trace every request (never credentials)\n"
	       "    --version              print versions of podfs and its libraries\n\n",
	       prog);
}

static void version(void)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	printf("podfs %s\n", PODFS_VERSION);
	printf("libfuse %s\n", fuse_pkgversion());
	printf("libcurl %s\n", cv && cv->version ? cv->version : "?");
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
}

/* "2", "0.5" -> milliseconds; -1 when malformed or out of range. */
static long parse_seconds(const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return (long)(v * 1000 + 0.5);
}

/* "65536", "64K", "1M" -> bytes; 0 when malformed or out of range. */
static size_t parse_bytes(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return 0;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end++;
	if (*end || v < 4096 || v > (1ull << 30))
		return 0;
	return (size_t)v;
}

static void observe(void *ud, int err, const char *msg)
{
	podfs_note(ud, err, msg);
}

/* Touch the server once after mounting, so .podfs/status says at once
 * whether it is reachable; runs after fuse_daemonize forked. */
static void *probe(void *arg)
{
	struct podfs *fs = arg;
	struct rest_resp resp;
	int rc;

	memset(&resp, 0, sizeof(resp));
	rc = rest_get(fs->rest, "/version", &resp);
	if (rc < 0)
		podfs_note(fs, rc, resp.msg[0] ? resp.msg : strerror(-rc));
	else if (resp.code >= 500 || resp.code == 0)
		podfs_note(fs, -EAGAIN, resp.msg);
	else
		podfs_note(fs, 0, NULL);	/* any HTTP answer proves contact */
	rest_resp_free(&resp);
	return NULL;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co;
	struct options o;
	static struct podfs fs;
	char err[1024];
	char *paths = NULL;
	int ret = 1;
	pthread_t probe_thread;

	memset(&o, 0, sizeof(o));
	memset(&co, 0, sizeof(co));
	if (fuse_opt_parse(&args, &o, option_spec, NULL) == -1)
		return 1;
	if (fuse_parse_cmdline(&args, &co) != 0)
		return 1;
	if (co.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (co.show_version) {
		version();
		ret = 0;
		goto out_args;
	}
	if (!co.mountpoint) {
		fprintf(stderr, "podfs: no mount point given (see podfs --help)\n");
		goto out_args;
	}

	fs.timeout_ms = 10000;
	fs.cache_ms = 1000;
	fs.buffer_size = 1 << 20;
	if (o.timeout && (fs.timeout_ms = parse_seconds(o.timeout, 0.1, 86400)) < 0) {
		fprintf(stderr, "podfs: -o timeout=%s: expected seconds between 0.1 and 86400\n", o.timeout);
		goto out_args;
	}
	if (o.cache && (fs.cache_ms = parse_seconds(o.cache, 0, 86400)) < 0) {
		fprintf(stderr, "podfs: -o cache=%s: expected seconds between 0 and 86400\n", o.cache);
		goto out_args;
	}
	if (o.buffer && !(fs.buffer_size = parse_bytes(o.buffer))) {
		fprintf(stderr, "podfs: -o buffer=%s: expected bytes between 4K and 1G (suffix K, M or G)\n", o.buffer);
		goto out_args;
	}
	if (o.keepalive) {
		/* One figure for both: the interval and the pong deadline. */
		long ka = parse_seconds(o.keepalive, 0, 86400);

		if (ka < 0 || (ka > 0 && ka < 100)) {
			fprintf(stderr, "podfs: -o keepalive=%s: expected 0 (off) or seconds between 0.1 and 86400\n", o.keepalive);
			goto out_args;
		}
		mux_set_keepalive(ka, ka);
	}
	fs.debug = co.debug;
	fs.uid = getuid();
	fs.gid = getgid();
	fs.mounted = time(NULL);
	pthread_mutex_init(&fs.status_lock, NULL);
	podfs = &fs;
	plog_init(co.debug ? LOG_DEBUG : LOG_WARNING, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	if (!(paths = kc_default_paths(o.kubeconfig))) {
		fprintf(stderr, "podfs: out of memory\n");
		goto out_curl;
	}
	err[0] = 0;
	if (kc_load(paths, o.context, &fs.kc, err, sizeof(err))) {
		fprintf(stderr, "podfs: %s\n", err[0] ? err : "cannot load the kubeconfig");
		goto out_curl;
	}
	fs.namespace = o.namespace ? o.namespace : fs.kc.namespace;
	if (!(fs.auth = auth_new(&fs.kc, err, sizeof(err)))) {
		fprintf(stderr, "podfs: %s\n", err[0] ? err : "cannot set up credentials");
		goto out_kc;
	}
	if (!(fs.rest = rest_new(fs.auth, fs.timeout_ms))) {
		fprintf(stderr, "podfs: cannot create the API client\n");
		goto out_auth;
	}
	if (!(fs.cache = cache_new(fs.rest, fs.cache_ms, fs.timeout_ms, fs.namespace))) {
		fprintf(stderr, "podfs: out of memory\n");
		goto out_rest;
	}
	cache_set_observer(fs.cache, observe, &fs);
	tree_init();
	if (streams_init(&fs)) {
		fprintf(stderr, "podfs: cannot start the stream machinery\n");
		goto out_cache;
	}
	if (fuse_opt_add_arg(&args, "-osubtype=podfs,fsname=podfs") ||
	    !(fs.se = fuse_session_new(&args, &podfs_ops, sizeof(podfs_ops), &fs)))
		goto out_streams;	/* libfuse printed why */
	if (fuse_set_signal_handlers(fs.se))
		goto out_session;
	if (fuse_session_mount(fs.se, co.mountpoint))
		goto out_signals;
	pinfo("mounted %s at %s (context %s, user %s)", fs.kc.server,
	      co.mountpoint, fs.kc.context ? fs.kc.context : "",
	      fs.kc.user_name ? fs.kc.user_name : "");
	if (fuse_daemonize(co.foreground))
		goto out_unmount;
	if (!co.foreground)
		plog_init(co.debug ? LOG_DEBUG : LOG_WARNING, 1);
	if (pthread_create(&probe_thread, NULL, probe, &fs) == 0)
		pthread_detach(probe_thread);

	if (co.singlethread)
		ret = fuse_session_loop(fs.se);
	else {
		struct fuse_loop_config lc = {
			.clone_fd = 0,
			/* libfuse marks "not given" as UINT_MAX. */
			.max_idle_threads = co.max_idle_threads == UINT_MAX ?
					    10 : co.max_idle_threads,
		};
		ret = fuse_session_loop_mt(fs.se, &lc);
	}
	/* libfuse reports the signal that ended the loop as its number (the
	 * sign differs between releases); an unmount asked for by SIGINT,
	 * SIGTERM or SIGHUP is a clean exit. */
	pdebug("loop ended: %d", ret);
	ret = (ret == 0 || abs(ret) == SIGINT || abs(ret) == SIGTERM ||
	       abs(ret) == SIGHUP) ? 0 : 1;
	pinfo("unmounting %s", co.mountpoint);
	/* End every session while the session and its channel still exist:
	 * parked reads and writes get their error replies now (the readers
	 * see an error, not a hang), and no multiplexer thread can reply
	 * into a destroyed session afterwards. */
	streams_shutdown();

out_unmount:
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_streams:
	streams_shutdown();
	tree_destroy();
out_cache:
	cache_free(fs.cache);
out_rest:
	rest_free(fs.rest);
out_auth:
	auth_free(fs.auth);
out_kc:
	kc_free(&fs.kc);
out_curl:
	free(paths);
	curl_global_cleanup();
out_args:
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	free(o.kubeconfig);
	free(o.context);
	free(o.namespace);
	free(o.timeout);
	free(o.cache);
	free(o.buffer);
	free(o.keepalive);
	return ret;
}
