/* Running client-go exec credential plugins.  The plugin is started with
 * posix_spawnp (safe in a threaded daemon: no fork of our address space),
 * stdin on /dev/null because the daemon has no terminal to lend, its own
 * process group so a helper it starts dies with it, and our environment
 * plus the kubeconfig's `env` plus KUBERNETES_EXEC_INFO.  stdout is read
 * up to 1 MiB and decoded as an ExecCredential; stderr is kept only for
 * the first line of a failure message (plugins print prompts and hints
 * there, not credentials, but it is never logged otherwise).  The whole
 * run is bounded by a deadline, after which the group is killed. */
#include "stream/credplugin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stream/k8s.h"
#include "stream/log.h"

extern char **environ;

#define CP_MAX_OUT	(1u << 20)	/* an ExecCredential is a few KiB */
#define CP_MAX_ERR	4096		/* only its first line is used */
#define CP_MAX_ENV	4096

void cred_result_free(struct cred_result *r)
{
	if (!r)
		return;
	if (r->token)
		OPENSSL_cleanse(r->token, strlen(r->token));
	free(r->token);
	if (r->key.data)
		OPENSSL_cleanse(r->key.data, r->key.len);
	free(r->key.data);
	free(r->cert.data);
	memset(r, 0, sizeof(*r));
}

static char **strv_dup(char *const *v, size_t n)
{
	char **o = calloc(n + 1, sizeof(char *));

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(o[i] = strdup(v[i]))) {
			while (i--)
				free(o[i]);
			free(o);
			return NULL;
		}
	return o;
}

void credplugin_exec_free(struct kc_exec *x)
{
	if (!x)
		return;
	free(x->api_version);
	free(x->command);
	for (size_t i = 0; x->args && i < x->nargs; i++)
		free(x->args[i]);
	free(x->args);
	for (size_t i = 0; x->env && i < x->nenv; i++) {
		OPENSSL_cleanse(x->env[i], strlen(x->env[i]));
		free(x->env[i]);
	}
	free(x->env);
	free(x->install_hint);
	free(x->cluster_config);
	free(x);
}

struct kc_exec *credplugin_exec_dup(const struct kc_exec *x)
{
	struct kc_exec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->provide_cluster_info = x->provide_cluster_info;
	d->interactive = x->interactive;
	d->nargs = x->nargs;
	d->nenv = x->nenv;
	if (!(d->api_version = strdup(x->api_version ? x->api_version : "")) ||
	    !(d->command = strdup(x->command ? x->command : "")) ||
	    (x->install_hint && !(d->install_hint = strdup(x->install_hint))) ||
	    (x->cluster_config && !(d->cluster_config = strdup(x->cluster_config))) ||
	    !(d->args = strv_dup(x->args, x->args ? x->nargs : 0)) ||
	    !(d->env = strv_dup(x->env, x->env ? x->nenv : 0))) {
		if (!d->args)
			d->nargs = 0;
		if (!d->env)
			d->nenv = 0;
		credplugin_exec_free(d);
		return NULL;
	}
	return d;
}

int credplugin_can_interact(const struct kc_exec *x)
{
	return x->interactive != KC_INTERACTIVE_NEVER;
}

char *credplugin_exec_info(const struct kc_config *kc, int interactive)
{
	const struct kc_exec *x = kc->exec;
	cJSON *root = cJSON_CreateObject(), *spec, *cl;
	char *out = NULL;

	if (!root || !x)
		goto out;
	cJSON_AddStringToObject(root, "apiVersion", x->api_version);
	cJSON_AddStringToObject(root, "kind", "ExecCredential");
	spec = cJSON_AddObjectToObject(root, "spec");
	if (!spec)
		goto out;
	cJSON_AddBoolToObject(spec, "interactive", interactive);
	if (x->provide_cluster_info) {
		if (!(cl = cJSON_AddObjectToObject(spec, "cluster")))
			goto out;
		cJSON_AddStringToObject(cl, "server", kc->server ? kc->server : "");
		if (kc->tls_server_name)
			cJSON_AddStringToObject(cl, "tls-server-name", kc->tls_server_name);
		if (kc->insecure)
			cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
		if (kc->ca.len) {
			size_t n = 4 * ((kc->ca.len + 2) / 3) + 1;
			char *b = malloc(n);
			if (!b)
				goto out;
			EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)kc->ca.data,
					(int)kc->ca.len);
			cJSON_AddStringToObject(cl, "certificate-authority-data", b);
			free(b);
		}
		if (kc->proxy_url)
			cJSON_AddStringToObject(cl, "proxy-url", kc->proxy_url);
		if (x->cluster_config) {
			cJSON *c = cJSON_Parse(x->cluster_config);
			if (c)
				cJSON_AddItemToObject(cl, "config", c);
		}
	}
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}

/* The expiry as time_t; -1 when it is not an RFC 3339 time. */
static int expiry_of(const char *s, time_t *t)
{
	int64_t sec;
	int32_t ns;

	if (!s || k8s_time_parse(s, &sec, &ns) < 0)
		return -1;
	*t = (time_t)sec;
	return 0;
}

static int pem_field(const cJSON *st, const char *name, struct kc_blob *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, name);

	if (!cJSON_IsString(v) || !v->valuestring[0])
		return 0;
	if (!strstr(v->valuestring, "-----BEGIN "))
		return -1;
	if (!(b->data = strdup(v->valuestring)))
		return -1;
	b->len = strlen(b->data);
	return 1;
}

int credplugin_parse(const char *buf, size_t len, const char *api_version,
		     struct cred_result *out, char *err, size_t errlen)
{
	cJSON *j = cJSON_ParseWithLength(buf, len);
	const cJSON *kind, *ver, *st, *tok, *exp;
	int rc = -EACCES, rcert, rkey;

	memset(out, 0, sizeof(*out));
	if (!j || !cJSON_IsObject(j)) {
		msg_set(err, errlen, "its output is not an ExecCredential (not a JSON object)");
		goto out;
	}
	kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	ver = cJSON_GetObjectItemCaseSensitive(j, "apiVersion");
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential")) {
		msg_set(err, errlen, "its output is not an ExecCredential (kind \"%.60s\")",
			cJSON_IsString(kind) ? kind->valuestring : "");
		goto out;
	}
	if (!cJSON_IsString(ver) || strcmp(ver->valuestring, api_version)) {
		msg_set(err, errlen, "the plugin is configured to use API version %s, "
			"it returned version \"%.80s\"", api_version,
			cJSON_IsString(ver) ? ver->valuestring : "");
		goto out;
	}
	st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsObject(st)) {
		msg_set(err, errlen, "the plugin didn't return a status field");
		goto out;
	}
	tok = cJSON_GetObjectItemCaseSensitive(st, "token");
	if (cJSON_IsString(tok) && tok->valuestring[0]) {
		for (const char *c = tok->valuestring; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				msg_set(err, errlen, "the plugin returned a token with control characters");
				goto out;
			}
		if (!(out->token = strdup(tok->valuestring)))
			goto oom;
	}
	rcert = pem_field(st, "clientCertificateData", &out->cert);
	rkey = pem_field(st, "clientKeyData", &out->key);
	if (rcert < 0 || rkey < 0) {
		msg_set(err, errlen, "the plugin returned clientCertificateData or clientKeyData "
			"that is not PEM");
		goto out;
	}
	if (rcert != rkey) {
		msg_set(err, errlen, "the plugin returned %s without %s",
			rcert ? "clientCertificateData" : "clientKeyData",
			rcert ? "clientKeyData" : "clientCertificateData");
		goto out;
	}
	if (!out->token && !rcert) {
		msg_set(err, errlen, "the plugin didn't return a token or cert/key pair");
		goto out;
	}
	exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
	if (exp && !cJSON_IsNull(exp)) {
		if (!cJSON_IsString(exp) || expiry_of(exp->valuestring, &out->expiry) < 0) {
			out->expiry = 0;
			msg_set(err, errlen, "the plugin returned an expirationTimestamp that is not "
				"RFC 3339");
			goto out;
		}
		if (out->expiry == 0)
			out->expiry = 1;	/* 1970: expired, but "set" */
	}
	rc = 0;
	goto out;
oom:
	rc = -ENOMEM;
	msg_set(err, errlen, "out of memory");
out:
	if (rc < 0)
		cred_result_free(out);
	cJSON_Delete(j);
	return rc;
}

/* Our environment, minus names the kubeconfig sets, plus its env and
 * KUBERNETES_EXEC_INFO (so a stale value of ours cannot leak through). */
static char **build_env(const struct kc_exec *x, const char *exec_info)
{
	size_t n = 0, k = 0;
	char **e;

	for (char **p = environ; p && *p; p++)
		n++;
	if (n > CP_MAX_ENV)
		n = CP_MAX_ENV;
	e = calloc(n + x->nenv + 2, sizeof(char *));
	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *v = environ[i], *eq = strchr(v, '=');
		size_t nl = eq ? (size_t)(eq - v) : strlen(v);
		int skip = nl == 20 && !strncmp(v, "KUBERNETES_EXEC_INFO", 20);

		for (size_t j = 0; !skip && j < x->nenv; j++)
			if (!strncmp(x->env[j], v, nl) && x->env[j][nl] == '=')
				skip = 1;
		if (!skip)
			e[k++] = environ[i];	/* borrowed */
	}
	for (size_t j = 0; j < x->nenv; j++)
		e[k++] = x->env[j];		/* borrowed */
	if (asprintf(&e[k], "KUBERNETES_EXEC_INFO=%s", exec_info ? exec_info : "") < 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* The one owned entry of build_env's array is the last one. */
static void free_env(char **e)
{
	size_t k = 0;

	if (!e)
		return;
	while (e[k + 1])
		k++;
	free(e[k]);
	free(e);
}

/* The first line of the plugin's stderr that is not blank (aws-cli starts
 * its message with an empty line), on one line. */
static void first_line(const char *buf, size_t len, char *line, size_t n)
{
	const char *p = buf, *end = buf + len;

	line[0] = 0;
	while (p < end && !line[0]) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);

		k8s_text(line, n, p, k, K8S_TEXT_LINE);
		if (strspn(line, " \t\r") == strlen(line))
			line[0] = 0;
		p += k + 1;
	}
}

/* posix_spawnp the plugin: stdout to op1, stderr to ep1 (or, interactive,
 * our terminal's stdin and stderr), descriptors above 2 closed, signals
 * reset.  0 or an errno. */
static int spawn(const struct kc_exec *x, char **argv, char **envp, int op1, int ep1,
		 int interactive, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int sr;

	posix_spawn_file_actions_init(&fa);
	/* interactive (a device-code login at start-up): the terminal's
	 * stdin and stderr, as client-go gives them; else /dev/null and a
	 * pipe whose first line explains a failure */
	if (!interactive)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, op1, 1);
	if (!interactive)
		posix_spawn_file_actions_adddup2(&fa, ep1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* FUSE and socket descriptors of other threads are not the plugin's */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	/* its own process group, killed as one; an interactive plugin stays
	 * in ours, the terminal's foreground group, or reading it stops it */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 (interactive ? 0 : POSIX_SPAWN_SETPGROUP));
	sr = posix_spawnp(pid, x->command, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return sr;
}

/* What the plugin printed, read until both pipes close, the deadline
 * passes or stdout grows too big. */
struct output {
	char *obuf;		/* CP_MAX_OUT + 1 bytes */
	size_t olen, elen;
	char ebuf[CP_MAX_ERR + 1];
	int too_big, timed_out;
};

static void collect(int ofd, int efd, long deadline, struct output *o)
{
	int oopen = 1, eopen = efd >= 0;

	while (oopen || eopen) {
		struct pollfd p[2] = { { .fd = oopen ? ofd : -1, .events = POLLIN },
				       { .fd = eopen ? efd : -1, .events = POLLIN } };
		long left = deadline - (long)mono_ms();
		char tmp[4096];

		if (left <= 0) {
			o->timed_out = 1;
			break;
		}
		if (poll(p, 2, (int)(left > INT_MAX ? INT_MAX : left)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (oopen && p[0].revents) {
			ssize_t n = read(ofd, tmp, sizeof(tmp));
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				oopen = 0;
			} else if (n > 0) {
				if (o->olen + (size_t)n > CP_MAX_OUT) {
					o->too_big = 1;
					break;
				}
				memcpy(o->obuf + o->olen, tmp, (size_t)n);
				o->olen += (size_t)n;
			}
		}
		if (eopen && p[1].revents) {
			ssize_t n = read(efd, tmp, sizeof(tmp));
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				eopen = 0;
			} else if (n > 0 && o->elen < CP_MAX_ERR) {
				size_t c = (size_t)n < CP_MAX_ERR - o->elen ? (size_t)n : CP_MAX_ERR - o->elen;
				memcpy(o->ebuf + o->elen, tmp, c);
				o->elen += c;
			}
		}
	}
}

/* Why the plugin could not be started (sr: spawn's errno). */
static void spawn_error(const struct kc_exec *x, int sr, char *err, size_t errlen)
{
	char hint[512] = "";

	if (sr != ENOENT) {
		msg_set(err, errlen, "exec plugin \"%s\" cannot be started: %s", x->command,
			strerror(sr));
		return;
	}
	if (x->install_hint)
		k8s_text(hint, sizeof(hint), x->install_hint, strlen(x->install_hint), K8S_TEXT_LINE);
	msg_set(err, errlen, "exec plugin: executable %s not found%s%s", x->command,
		hint[0] ? ": " : " (and the kubeconfig gives no installHint)", hint);
}

/* The pipes are closed: the plugin is on its way out.  waitpid has no
 * timeout, so this looks every 5 ms until the deadline (the one polling
 * loop podfs has; it covers only the moment between the plugin closing
 * its output and exiting, docs/architecture.md), then kills it.  1: it
 * exited with *st, -1: its status is unknown (SIGCHLD ignored), 0: it was
 * killed. */
static int wait_exit(pid_t pid, long deadline, int interactive, struct output *o, int *st)
{
	while (!o->timed_out && !o->too_big) {
		pid_t w = waitpid(pid, st, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			return w == pid ? 1 : -1;
		if ((long)mono_ms() >= deadline) {
			o->timed_out = 1;
			break;
		}
		usleep(5000);
	}
	if (!interactive)
		kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return 0;
}

int credplugin_run(const struct kc_exec *x, const char *exec_info, long timeout_ms,
		   int interactive, struct cred_result *out, char *err, size_t errlen)
{
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, rc = -EACCES, st = 0, sr, done = 0;
	long deadline = (long)mono_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	char **argv = NULL, **envp = NULL, line[256];
	struct output o = { 0 };
	pid_t pid = -1;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = 0;
	if (x->interactive == KC_INTERACTIVE_ALWAYS && !interactive) {
		msg_set(err, errlen, "exec plugin \"%s\" needs a terminal (interactiveMode: Always), "
			"but podfs runs without one: run the plugin once in a shell so it can cache "
			"a credential, or configure a non-interactive login", x->command);
		return -EACCES;
	}
	argv = calloc(x->nargs + 2, sizeof(char *));
	o.obuf = malloc(CP_MAX_OUT + 1);
	envp = build_env(x, exec_info);
	if (!argv || !o.obuf || !envp) {
		msg_set(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		msg_set(err, errlen, "exec plugin \"%s\": pipe: %s", x->command, strerror(errno));
		rc = -errno;
		goto out;
	}
	sr = spawn(x, argv, envp, op[1], ep[1], interactive, &pid);
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	if (interactive) {
		close(ep[0]);	/* nothing will come: stderr is the terminal's */
		ep[0] = -1;
	}
	if (sr != 0) {
		pid = -1;
		spawn_error(x, sr, err, errlen);
		goto out;
	}
	collect(op[0], ep[0], deadline, &o);
	done = wait_exit(pid, deadline, interactive, &o, &st);
	pid = -1;
	first_line(o.ebuf, o.elen, line, sizeof(line));
	if (o.timed_out) {
		rc = -ETIMEDOUT;
		msg_set(err, errlen, "exec plugin \"%s\" did not finish within %ld ms%s%s", x->command,
			timeout_ms, line[0] ? ": " : "", line);
		goto out;
	}
	if (o.too_big) {
		msg_set(err, errlen, "exec plugin \"%s\" printed more than %u KiB", x->command,
			CP_MAX_OUT >> 10);
		goto out;
	}
	if (done == 1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char how[40];
		if (WIFEXITED(st))
			snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(st));
		else
			snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(st));
		msg_set(err, errlen, "exec plugin \"%s\" failed (%s)%s%s", x->command, how,
			line[0] ? ": " : "", line);
		goto out;
	}
	{
		char why[300];
		rc = credplugin_parse(o.obuf, o.olen, x->api_version, out, why, sizeof(why));
		if (rc < 0)
			msg_set(err, errlen, "exec plugin \"%s\": %s", x->command, why);
	}
out:
	if (pid > 0) {
		if (!interactive)
			kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (o.obuf) {
		OPENSSL_cleanse(o.obuf, o.olen);
		free(o.obuf);
	}
	OPENSSL_cleanse(o.ebuf, sizeof(o.ebuf));
	free(argv);
	free_env(envp);
	return rc;
}
