/* podfs: mount a Kubernetes cluster as a directory.  This file reads the
 * command line (fuse_opt, like sshfs: `podfs [options] [CONTEXT] MOUNTPOINT`,
 * which is also how mount.fuse3 runs an fstab line), loads the kubeconfig
 * context, builds the API client and caches, mounts with the FUSE low-level
 * API, daemonises unless -f (only then are threads started: they would not
 * survive the fork), and runs the multi-threaded loop until unmounted or
 * signalled.  The low-level API leaves uid=, gid=, umask= and the entry and
 * attribute timeouts to the file system; they are implemented here and in
 * ops.c.  Start-up
 * errors are one line on stderr and exit status 1; an unreachable API
 * server is not one of them: podfs mounts anyway and reports it per
 * operation and in .podfs/status. */
#include "fs/fs.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse_log.h>
#include <fuse_lowlevel.h>
#include <grp.h>
#include <pwd.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "fs/attach.h"
#include "fs/contact.h"
#include "fs/live.h"
#include "fs/ops.h"
#include "fs/owner.h"
#include "fs/path.h"
#include "fs/sdnotify.h"
#include "fs/snapshot.h"
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
	char *watch_idle;
	char *buffer;
	char *root_sessions;
	char *root_cache;
	char *keepalive;
	char *uid;
	char *gid;
	char *umask;
	char *entry_timeout;
	char *attr_timeout;
	char *loglevel;
	char *login_timeout;
	char *as, *as_uid;	/* --as, --as-uid: impersonation */
	struct kc_impersonate groups;	/* --as-group, repeatable */
	int list_contexts;
	char *pos[2];		/* [CONTEXT] MOUNTPOINT */
	int npos;
	int allow_other;
	int default_permissions;
	int read_only;		/* -o ro: also no side effects on the cluster */
	int fsname;
	int subtype;
};

enum {
	KEY_ALLOW_OTHER,
	KEY_DEFAULT_PERMISSIONS,
	KEY_RO,
	KEY_RW,
	KEY_FSNAME,
	KEY_SUBTYPE,
	KEY_DASH,
	KEY_AS,
	KEY_AS_GROUP,
	KEY_MAX_THREADS,
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
	OPT("-n %s", namespace),	/* kubectl's -n NS; also -nNS */
	OPT("namespace=%s", namespace),
	/* impersonation, as kubectl's flags.  fuse_opt runs every template
	 * that matches, and "--as %s" matches any "--as...": option_proc
	 * takes the value apart (see there). */
	FUSE_OPT_KEY("--as-group %s", KEY_AS_GROUP),
	FUSE_OPT_KEY("as_group=%s", KEY_AS_GROUP),
	OPT("--as-uid %s", as_uid),
	OPT("--as-uid=%s", as_uid),
	OPT("as_uid=%s", as_uid),
	FUSE_OPT_KEY("--as %s", KEY_AS),
	FUSE_OPT_KEY("as=%s", KEY_AS),
	OPT("login_timeout=%s", login_timeout),
	OPT("--list-contexts", list_contexts),
	OPT("timeout=%s", timeout),
	OPT("cache=%s", cache),
	OPT("watch_idle=%s", watch_idle),
	OPT("buffer=%s", buffer),
	OPT("root_sessions=%s", root_sessions),
	OPT("root_cache=%s", root_cache),
	OPT("keepalive=%s", keepalive),
	/* The high-level libfuse library implements these; podfs uses the
	 * low-level API, so it implements them itself. */
	OPT("uid=%s", uid),
	OPT("gid=%s", gid),
	OPT("umask=%s", umask),
	OPT("entry_timeout=%s", entry_timeout),
	OPT("attr_timeout=%s", attr_timeout),
	OPT("loglevel=%s", loglevel),
	/* Mount options podfs must know about; passed on to libfuse. */
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("-", KEY_DASH),	/* CONTEXT "-": the current context */
	/* listed by libfuse's help, but its loop of this API version has no
	 * thread limit: refused rather than ignored */
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	FUSE_OPT_END
};

/* Positional arguments are collected here, not by libfuse: mount.fuse3
 * (fstab `podfs#CONTEXT` or type fuse.podfs) runs `podfs CONTEXT
 * MOUNTPOINT -o ...`, like sshfs's `host:path MOUNTPOINT`. */
static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	switch (key) {
	case KEY_DASH:
	case FUSE_OPT_KEY_NONOPT:
		if (o->npos >= 2) {
			fprintf(stderr, "podfs: unexpected argument '%s' (usage: podfs [options] [CONTEXT] MOUNTPOINT)\n", arg);
			return -1;
		}
		if (!(o->pos[o->npos++] = strdup(arg)))
			return -1;
		return 0;
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = 1;
		return 1;
	case KEY_RO:
	case KEY_RW:
		o->read_only = key == KEY_RO;	/* the last one wins, as in mount(8) */
		return 1;
	case KEY_FSNAME:
		o->fsname = 1;
		return 1;
	case KEY_SUBTYPE:
		o->subtype = 1;
		return 1;
	case KEY_AS_GROUP:
		/* "--as-groupG" (a separate argument, joined by fuse_opt),
		 * "--as-group=G" or "as_group=G" */
		arg += arg[0] == 'a' ? strlen("as_group=") : strlen("--as-group");
		return kc_imp_add(&o->groups, NULL, arg + (arg[0] == '=')) < 0 ? -1 : 0;
	case KEY_AS:
		/* "--asU" (joined), "--as=U", "as=U"; "--as-group..." and
		 * "--as-uid..." match "--as %s" too and are not ours */
		arg += arg[0] == 'a' ? strlen("as=") : strlen("--as");
		if (arg[0] == '-')
			return 0;
		free(o->as);
		return (o->as = strdup(arg + (arg[0] == '='))) ? 0 : -1;
	case KEY_MAX_THREADS:
		fprintf(stderr, "podfs: -o max_threads is not supported (use -o max_idle_threads)\n");
		return -1;
	default:
		return 1;
	}
}

static void usage(const char *prog)
{
	printf("usage: %s [options] [CONTEXT] MOUNTPOINT\n\n"
	       "Mounts the Kubernetes cluster of a kubeconfig context at MOUNTPOINT:\n"
	       "MOUNTPOINT/<namespace>/<pod>/<container>/{stdin,stdout,stderr,log,...}.\n"
	       "Unmount with `fusermount3 -u MOUNTPOINT` (or Ctrl-C with -f).\n"
	       "fstab: `podfs#CONTEXT /mnt/k8s fuse noauto,user 0 0`.\n\n"
	       "podfs options:\n"
	       "    CONTEXT                the context to use, as --context (\"-\": current)\n"
	       "    --kubeconfig FILE      kubeconfig file(s), ':'-separated\n"
	       "                           (default: $KUBECONFIG, else ~/.kube/config)\n"
	       "    --context NAME         context to use (default: current-context)\n"
	       "    --namespace NAME       mount only this namespace, at the root:\n"
	       "                           MOUNTPOINT/<pod>/...\n"
	       "    -o kubeconfig=FILE, -o context=NAME, -o namespace=NAME\n"
	       "                           the same, as mount options\n"
	       "    -o timeout=SECONDS     bound on every metadata operation (default 10)\n"
	       "    -o cache=SECONDS       how long listings and attributes are cached\n"
	       "                           (default 1; 0 = ask the server every time)\n"
	       "    -o watch_idle=SECONDS  watch every namespace looked at, so listings\n"
	       "                           and kernel caches follow the cluster; drop a\n"
	       "                           watch unused this long (default 300; 0 = no\n"
	       "                           watches: listings expire after -o cache)\n"
	       "    -o buffer=BYTES        per-stream buffer, suffix K or M (default 1M)\n"
	       "    -o root_sessions=N     helper shells per container for root/ (default 2)\n"
	       "    -o root_cache=SECONDS  kernel caching below root/ (default 1)\n"
	       "    -o keepalive=SECONDS   ping streams this often and give up on one\n"
	       "                           whose pong is this late (default 30; 0 = off)\n"
	       "    -o uid=N, -o gid=N     owner and group of every file (default: yours)\n"
	       "    -o umask=M             permission bits to take away (octal)\n"
	       "    -o entry_timeout=S, -o attr_timeout=S\n"
	       "                           kernel caching of names and attributes\n"
	       "                           (default: the -o cache value)\n"
	       "    -o allow_other         let other local users in (lends them your\n"
	       "                           cluster identity; turns on default_permissions)\n"
	       "    -o loglevel=LEVEL      error, warning (default), info or debug\n"
	       "    --as USER, --as-group GROUP (repeatable), --as-uid UID\n"
	       "    -o as=USER, -o as_group=GROUP, -o as_uid=UID\n"
	       "                           impersonate, as kubectl's flags (they replace\n"
	       "                           the kubeconfig's as, as-groups, as-uid)\n"
	       "    -o login_timeout=S     deadline of an interactive credential plugin\n"
	       "                           (a device-code login) at mount time, when stdin\n"
	       "                           is a terminal (default 300)\n"
	       "    -n NS                  the same as --namespace NS\n"
	       "    --list-contexts        print the kubeconfig's context names and exit\n"
	       "    -f                     stay in the foreground, log to stderr\n"
	       "                           (otherwise daemonise once mounted, log to syslog)\n"
	       "    -d, -o debug           debug: trace every request (never credentials)\n"
	       "    -s                     one thread for FUSE requests\n"
	       "    -o clone_fd            one /dev/fuse descriptor per FUSE thread\n"
	       "    -o max_idle_threads=N  idle FUSE threads kept (default 10)\n"
	       "    -o ro, -o allow_root, -o auto_unmount, -o default_permissions,\n"
	       "    -o fsname=NAME, -o subtype=TYPE and the other FUSE mount options\n"
	       "                           as fuse(8) describes them\n"
	       "    -h, --help             this text\n"
	       "    -V, --version          print versions of podfs and its libraries\n",
	       prog);
}

static void version(void)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	printf("podfs %s\n", PODFS_VERSION);
	printf("libfuse %s\n", fuse_pkgversion());
	printf("libcurl %s\n", cv && cv->version ? cv->version : "?");
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("cJSON %s\n", cJSON_Version());
	printf("libyaml %s\n", yaml_get_version_string());
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

/* A user or group: a number, or a name from the passwd/group database. */
static int parse_id(const char *s, int group, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && !errno && !*end && v < UINT_MAX) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);

		if (g) {
			*out = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw) {
			*out = pw->pw_uid;
			return 0;
		}
	}
	return -1;
}

/* The kubeconfig list with every file made absolute ("~/" expanded, as
 * fstab has no shell), because a daemonised podfs runs in "/" and the
 * credential code may read files again later. */
static char *absolute_paths(const char *paths)
{
	char cwd[PATH_MAX];
	const char *home = getenv("HOME");
	size_t cap = 1;
	char *out, *w;
	const char *s;

	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	for (s = paths; *s; s++)
		cap += *s == ':' ? 1 : 0;
	cap = (cap + 1) * (strlen(cwd) + (home ? strlen(home) : 0) + 2) + strlen(paths) + 1;
	if (!(out = malloc(cap)))
		return NULL;
	w = out;
	for (s = paths; ; ) {
		size_t n = strcspn(s, ":");

		if (w != out)
			*w++ = ':';
		if (n >= 2 && s[0] == '~' && s[1] == '/' && home) {
			w += sprintf(w, "%s", home);
			s++, n--;
		} else if (n && s[0] != '/' && cwd[0]) {
			w += sprintf(w, "%s/", cwd);
		}
		memcpy(w, s, n);
		w += n;
		s += n;
		if (!*s)
			break;
		s++;
	}
	*w = 0;
	return out;
}

static int parse_loglevel(const char *s)
{
	static const struct { const char *n; int l; } t[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].n))
			return t[i].l;
	return -1;
}

/* A context name is a safe fsname (seen in /proc/mounts, df) when it
 * cannot break the comma-separated option syntax. */
static int fsname_safe(const char *s)
{
	if (!*s || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-@:/", *s)))
			return 0;
	return 1;
}

/* The -o values into fs (and the log level); 0, or -1 after one line on
 * stderr naming the option. */
static int apply_options(const struct options *o, struct podfs *fs, struct pfs_path *root,
			 int *level)
{
	unsigned id;
	long ms;

	fs->timeout_ms = 10000;
	fs->cache_ms = 1000;
	fs->watch_idle_ms = 300000;
	fs->buffer_size = 1 << 20;
	fs->entry_timeout = fs->attr_timeout = -1;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->login_timeout_ms = 300000;
	fs->read_only = o->read_only;
	fs->root_sessions = 2;
	fs->root_cache_ms = 1000;
#define BAD(...) do { fprintf(stderr, __VA_ARGS__); return -1; } while (0)
	if (o->timeout && (fs->timeout_ms = parse_seconds(o->timeout, 0.1, 86400)) < 0)
		BAD("podfs: -o timeout=%s: expected seconds between 0.1 and 86400\n", o->timeout);
	if (o->cache && (fs->cache_ms = parse_seconds(o->cache, 0, 86400)) < 0)
		BAD("podfs: -o cache=%s: expected seconds between 0 and 86400\n", o->cache);
	if (o->watch_idle && (fs->watch_idle_ms = parse_seconds(o->watch_idle, 0, 86400)) < 0)
		BAD("podfs: -o watch_idle=%s: expected seconds between 0 and 86400\n", o->watch_idle);
	if (!o->watch_idle && !fs->cache_ms)
		fs->watch_idle_ms = 0;	/* -o cache=0: ask the server every time */
	if (o->root_sessions && ((fs->root_sessions = atoi(o->root_sessions)) < 1 ||
				 fs->root_sessions > 16))
		BAD("podfs: -o root_sessions=%s: expected 1 to 16\n", o->root_sessions);
	if (o->root_cache && (fs->root_cache_ms = parse_seconds(o->root_cache, 0, 3600)) < 0)
		BAD("podfs: -o root_cache=%s: expected seconds between 0 and 3600\n", o->root_cache);
	if (o->buffer && !(fs->buffer_size = parse_bytes(o->buffer)))
		BAD("podfs: -o buffer=%s: expected bytes between 4K and 1G (suffix K, M or G)\n", o->buffer);
	if (o->login_timeout && (fs->login_timeout_ms = parse_seconds(o->login_timeout, 1, 86400)) < 0)
		BAD("podfs: -o login_timeout=%s: expected seconds between 1 and 86400\n", o->login_timeout);
	if (o->keepalive) {
		/* One figure for both: the interval and the pong deadline. */
		long ka = parse_seconds(o->keepalive, 0, 86400);

		if (ka < 0 || (ka > 0 && ka < 100))
			BAD("podfs: -o keepalive=%s: expected 0 (off) or seconds between 0.1 and 86400\n", o->keepalive);
		mux_set_keepalive(ka, ka);
	}
	if (o->entry_timeout) {
		if ((ms = parse_seconds(o->entry_timeout, 0, 86400)) < 0)
			BAD("podfs: -o entry_timeout=%s: expected seconds between 0 and 86400\n", o->entry_timeout);
		fs->entry_timeout = ms / 1000.0;
	}
	if (o->attr_timeout) {
		if ((ms = parse_seconds(o->attr_timeout, 0, 86400)) < 0)
			BAD("podfs: -o attr_timeout=%s: expected seconds between 0 and 86400\n", o->attr_timeout);
		fs->attr_timeout = ms / 1000.0;
	}
	if (o->uid) {
		if (parse_id(o->uid, 0, &id))
			BAD("podfs: -o uid=%s: no such user\n", o->uid);
		fs->uid = id;
	}
	if (o->gid) {
		if (parse_id(o->gid, 1, &id))
			BAD("podfs: -o gid=%s: no such group\n", o->gid);
		fs->gid = id;
	}
	if (o->umask) {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(o->umask, &end, 8);
		if (errno || end == o->umask || *end || m > 0777)
			BAD("podfs: -o umask=%s: expected octal bits, at most 0777\n", o->umask);
		fs->umask = (mode_t)m;
	}
	if (o->loglevel && (*level = parse_loglevel(o->loglevel)) < 0)
		BAD("podfs: -o loglevel=%s: expected error, warning, info or debug\n", o->loglevel);
	if (o->namespace) {
		if (pfs_root_ns(root, o->namespace))
			BAD("podfs: -o namespace=%s: not a namespace name\n", o->namespace);
		fs->root_ns = o->namespace;
	}
	if ((o->as_uid || o->groups.nextra) && !o->as)
		BAD("podfs: --as-group and --as-uid need --as USER (the user to impersonate)\n");
#undef BAD
	return 0;
}

/* libfuse's messages during the trial below: its errors, not the debug
 * banner that the real session prints again. */
static void trial_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (level <= FUSE_LOG_WARNING)
		vfprintf(stderr, fmt, ap);
}

/* Every option libfuse would refuse, refused now, before the kubeconfig
 * is read or a credential plugin runs: a trial fuse_session_new on a copy
 * of the arguments (it parses them and allocates, it does not mount).
 * libfuse prints why. */
static int fuse_options_ok(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int ok = 1;

	for (int i = 0; ok && i < args->argc; i++)
		ok = fuse_opt_add_arg(&copy, args->argv[i]) == 0;
	fuse_set_log_func(trial_log);
	if (ok && !(se = fuse_session_new(&copy, &podfs_ops, sizeof(podfs_ops), NULL)))
		ok = 0;
	fuse_set_log_func(NULL);	/* libfuse's own again */
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&copy);
	return ok;
}

/* A mount point must be a directory: the kernel also mounts FUSE on a
 * regular file, and then every directory operation fails with EIO. */
static int mountpoint_ok(const char *mp)
{
	struct stat st;

	if (stat(mp, &st) < 0) {
		fprintf(stderr, "podfs: mount point %s: %s\n", mp, strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "podfs: mount point %s is not a directory\n", mp);
		return 0;
	}
	return 1;
}

/* kubectl's --as, --as-group and --as-uid replace the kubeconfig's. */
static int override_identity(struct podfs *fs, struct options *o)
{
	if (!o->as)
		return 0;
	kc_imp_free(&fs->kc.imp);
	fs->kc.imp = o->groups;
	memset(&o->groups, 0, sizeof(o->groups));
	if (!(fs->kc.imp.user = strdup(o->as)) || (o->as_uid && !(fs->kc.imp.uid = strdup(o->as_uid))))
		return -1;
	return 0;
}

static int list_contexts(const char *paths)
{
	char err[1024] = "", *names;

	if (kc_list_contexts(paths, &names, err, sizeof(err)) < 0) {
		fprintf(stderr, "podfs: %s\n", err);
		return 1;
	}
	fputs(names, stdout);
	free(names);
	return 0;
}

/* The kubeconfig, credentials and clients, and the identity check; 0 or
 * -1 after one line on stderr. */
static int connect_cluster(struct podfs *fs, struct options *o, const char *paths,
			   const char *context)
{
	char err[1024] = "";
	int rc;

	if (kc_load(paths, context, &fs->kc, err, sizeof(err))) {
		fprintf(stderr, "podfs: %s\n", err[0] ? err : "cannot load the kubeconfig");
		return -1;
	}
	if (override_identity(fs, o) < 0) {
		fprintf(stderr, "podfs: out of memory\n");
		return -1;
	}
	/* The namespace listed when namespaces may not be listed. */
	fs->namespace = o->namespace ? o->namespace : fs->kc.namespace;
	if (!(fs->auth = auth_new(&fs->kc, err, sizeof(err)))) {
		fprintf(stderr, "podfs: %s\n", err[0] ? err : "cannot set up credentials");
		return -1;
	}
	if (!(fs->rest = rest_new(fs->auth, fs->timeout_ms))) {
		fprintf(stderr, "podfs: cannot create the API client\n");
		return -1;
	}
	/* a device-code login may use the terminal, now only */
	auth_set_starting(fs->auth, 1, isatty(STDIN_FILENO) ? fs->login_timeout_ms : 0);
	rc = contact_check(fs, err, sizeof(err));
	auth_set_starting(fs->auth, 0, 0);
	if (rc < 0) {
		fprintf(stderr, "podfs: %s\n", err);
		return -1;
	}
	if (!(fs->cache = cache_new(fs->rest, fs->cache_ms, fs->timeout_ms, fs->namespace))) {
		fprintf(stderr, "podfs: out of memory\n");
		return -1;
	}
	cache_set_observer(fs->cache, observe, fs);
	cache_set_measurer(fs->cache, snapshot_measure);
	return 0;
}

static void free_options(struct options *o)
{
	char **strs[] = { &o->kubeconfig, &o->context, &o->namespace, &o->timeout, &o->cache,
			  &o->watch_idle,
			  &o->buffer, &o->keepalive, &o->uid, &o->gid, &o->umask,
			  &o->entry_timeout, &o->attr_timeout, &o->loglevel, &o->login_timeout,
			  &o->as, &o->as_uid, &o->pos[0], &o->pos[1] };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	kc_imp_free(&o->groups);
}

/* Mount, daemonise unless -f, serve until unmounted; the exit status. */
static int serve(struct podfs *fs, struct fuse_args *args, struct fuse_cmdline_opts *co,
		 const struct options *o, int level)
{
	char extra[512];
	int ret = 1, streams_up = 0;

	if (o->allow_other) {
		/* Every local user who reaches the mount acts on the cluster
		 * as this kubeconfig's user; the kernel must at least check
		 * the (owner-only) modes of stream and session files. */
		pwarn("warning: allow_other lends the cluster identity of context '%s' (user '%s') to other local users; default_permissions is on",
		      fs->kc.context ? fs->kc.context : "",
		      fs->kc.user_name ? fs->kc.user_name : "");
		if (!o->default_permissions && fuse_opt_add_arg(args, "-odefault_permissions"))
			return 1;
	}
	/* Defaults that the user's own fsname= and subtype= override. */
	snprintf(extra, sizeof(extra), "-ofsname=%s",
		 fs->kc.context && fsname_safe(fs->kc.context) ? fs->kc.context : "podfs");
	if ((!o->subtype && fuse_opt_add_arg(args, "-osubtype=podfs")) ||
	    (!o->fsname && fuse_opt_add_arg(args, extra)))
		return 1;
	if (!(fs->se = fuse_session_new(args, &podfs_ops, sizeof(podfs_ops), fs)))
		return 1;	/* libfuse printed why */
	if (fuse_set_signal_handlers(fs->se))
		goto out_session;
	if (fuse_session_mount(fs->se, co->mountpoint))
		goto out_signals;
	pinfo("mounted %s at %s (context %s, user %s%s%s)", fs->kc.server,
	      co->mountpoint, fs->kc.context ? fs->kc.context : "",
	      fs->kc.user_name ? fs->kc.user_name : "",
	      fs->root_ns ? ", namespace " : "", fs->root_ns ? fs->root_ns : "");
	/* Threads do not survive fork: start them only in the process that
	 * serves the mount.  The parent returns once the mount is ready. */
	if (fuse_daemonize(co->foreground))
		goto out_unmount;
	if (!co->foreground)
		plog_init(level, 1);
	if (attach_start()) {
		perr("cannot start the stream machinery");
		goto out_unmount;
	}
	streams_up = 1;
	live_start(fs);		/* after the fork, before the first request */
	sd_notify_state("READY=1");	/* systemd Type=notify: the mount is live */

	if (co->singlethread)
		ret = fuse_session_loop(fs->se);
	else {
		struct fuse_loop_config lc = {
			.clone_fd = co->clone_fd,
			/* libfuse marks "not given" as UINT_MAX. */
			.max_idle_threads = co->max_idle_threads == UINT_MAX ?
					    10 : co->max_idle_threads,
		};
		ret = fuse_session_loop_mt(fs->se, &lc);
	}
	sd_notify_state("STOPPING=1");
	/* libfuse reports the signal that ended the loop as its number (the
	 * sign differs between releases); an unmount asked for by SIGINT,
	 * SIGTERM or SIGHUP is a clean exit. */
	pdebug("loop ended: %d", ret);
	ret = (ret == 0 || abs(ret) == SIGINT || abs(ret) == SIGTERM ||
	       abs(ret) == SIGHUP) ? 0 : 1;
	pinfo("unmounting %s", co->mountpoint);
	/* End every session while the session and its channel still exist:
	 * parked reads and writes get their error replies now (the readers
	 * see an error, not a hang), and no multiplexer thread can reply
	 * into a destroyed session afterwards. */
	live_stop(fs);		/* no notification after this, before the worker ends */
	attach_stop();
	owners_shutdown();
	streams_up = 0;

out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);
	if (streams_up) {
		live_stop(fs);
		attach_stop();
		owners_shutdown();
	}
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co;
	struct options o;
	static struct podfs fs;
	struct pfs_path root;
	char *paths = NULL, *abs_paths = NULL;
	const char *context;
	int ret = 1, level = LOG_WARNING;

	memset(&o, 0, sizeof(o));
	memset(&co, 0, sizeof(co));
	if (fuse_opt_parse(&args, &o, option_spec, option_proc) == -1)
		goto out_args;
	/* libfuse takes the last positional argument as the mount point. */
	if (o.npos && fuse_opt_add_arg(&args, o.pos[o.npos - 1]))
		goto out_args;
	if (fuse_parse_cmdline(&args, &co) != 0)
		goto out_args;
	if (co.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (co.show_version) {
		version();
		ret = 0;
		goto out_args;
	}
	if (!(paths = kc_default_paths(o.kubeconfig)) || !(abs_paths = absolute_paths(paths))) {
		fprintf(stderr, "podfs: out of memory\n");
		goto out_args;
	}
	if (o.list_contexts) {
		ret = list_contexts(abs_paths);
		goto out_args;
	}
	if (!co.mountpoint) {
		fprintf(stderr, "podfs: no mount point given (see podfs --help)\n");
		goto out_args;
	}
	context = o.context;
	if (o.npos == 2 && strcmp(o.pos[0], "-") && o.pos[0][0]) {
		if (context && strcmp(context, o.pos[0])) {
			fprintf(stderr, "podfs: context '%s' given twice, differently ('%s')\n",
				o.pos[0], context);
			goto out_args;
		}
		context = o.pos[0];
	}
	if (apply_options(&o, &fs, &root, &level) < 0 || !fuse_options_ok(&args) ||
	    !mountpoint_ok(co.mountpoint))
		goto out_args;
	if (co.debug)
		level = LOG_DEBUG;
	fs.debug = co.debug;
	fs.mounted = time(NULL);
	pthread_mutex_init(&fs.status_lock, NULL);
	podfs = &fs;
	plog_init(level, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tree_init();
	if (fs.root_ns)
		tree_set_root(&root);
	if (connect_cluster(&fs, &o, abs_paths, context) == 0)
		ret = serve(&fs, &args, &co, &o, level);
	tree_destroy();
	cache_free(fs.cache);
	rest_free(fs.rest);
	auth_free(fs.auth);
	kc_free(&fs.kc);
	curl_global_cleanup();
out_args:
	free(paths);
	free(abs_paths);
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	free_options(&o);
	return ret;
}
