/* kubeconfig loading.  Each file of the KUBECONFIG list is parsed into a
 * document tree (ytree.c, which reads YAML as kubectl's go-yaml does), every
 * entry is checked against the fields and types of client-go's structs (a
 * name twice in one list is an error), the files are merged the way kubectl
 * merges them (first file that defines a name wins the whole entry, first
 * current-context wins), and one context is resolved into a kc_config:
 * server, TLS material read and decoded, credentials, impersonation and the
 * oidc provider checked the way client-go checks them.  Every error is one
 * line "<file>: <field path>: <problem>" and never quotes a secret value.
 * The write-back of refreshed OIDC tokens lives here too, as it edits the
 * same files with the same tree. */
#include "stream/kubeconfig.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "stream/credplugin.h"
#include "stream/ytree.h"

#define KC_MAX_FILE	(16u << 20)	/* a kubeconfig larger than this is not one */
#define KC_MAX_PEM	(1u << 20)	/* certificate / key files */
#define KC_MAX_TOKEN	(64u << 10)
#define KC_MAX_DEPTH	YT_MAX_DEPTH
#define KC_MAX_FILES	64
#define KC_MAX_ARGS	256	/* exec args / env entries */
#define KC_SA_DIR	"/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_EXEC_V1	"client.authentication.k8s.io/v1"
#define KC_EXEC_V1BETA1	"client.authentication.k8s.io/v1beta1"

/* ---------------------------------------------------------------- errors */

struct kerr {
	char *buf;
	size_t len;
};

static int kfail(struct kerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int kfail(struct kerr *e, const char *fmt, ...)
{
	va_list ap;

	if (e->buf && e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---------------------------------------------------------------- files */

struct kfile {
	char *path;		/* as given (used in messages) */
	char *dir;		/* directory for relative paths */
	struct ydoc doc;
};

/* One named entry of clusters/users/contexts, remembering where it came
 * from so errors and relative paths refer to the defining file. */
struct kentry {
	const char *name;
	const struct ynode *body;	/* the "cluster"/"user"/"context" map, may be NULL */
	const struct kfile *file;
	const char *list;		/* "clusters" ... */
	const char *inner;		/* "cluster" ... */
	size_t index;
};

struct kmerged {
	struct kentry *e;
	size_t n, cap;
};

struct kc_state {
	struct kfile files[KC_MAX_FILES];
	size_t nfiles;
	struct kmerged clusters, users, contexts;
	const char *current;		/* first current-context */
	const struct kfile *current_file;
};

static char *read_file(const char *path, size_t max, size_t *outlen, int *perr)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		*perr = errno;
		return NULL;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			char *p;
			if (cap >= max + 1) {
				*perr = EFBIG;
				goto fail;
			}
			if (nc > max + 1)
				nc = max + 1;
			p = realloc(buf, nc + 1);
			if (!p) {
				*perr = ENOMEM;
				goto fail;
			}
			buf = p;
			cap = nc;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				*perr = errno ? errno : EIO;
				goto fail;
			}
			break;
		}
		if (len > max) {
			*perr = EFBIG;
			goto fail;
		}
	}
	fclose(f);
	if (!buf && !(buf = malloc(1))) {
		*perr = ENOMEM;
		return NULL;
	}
	buf[len] = 0;
	*outlen = len;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static char *dir_of(const char *path)
{
	char *slash = strrchr(path, '/');
	char cwd[PATH_MAX];

	if (slash == path)
		return strdup("/");
	if (slash)
		return strndup(path, (size_t)(slash - path));
	if (getcwd(cwd, sizeof(cwd)))
		return strdup(cwd);
	return strdup(".");
}

static char *join_path(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/' || !dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static const struct kentry *kfind(const struct kmerged *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].name, name))
			return &m->e[i];
	return NULL;
}

static int check_entry(const struct kentry *en, struct kerr *e);

/* Add the entries of one list (clusters/users/contexts) of one file: a
 * name already defined by an earlier file keeps the earlier definition; a
 * name twice in one file is an error, as is a field of the wrong type in
 * any entry, used or not (kubectl decodes every file whole). */
static int merge_list(struct kmerged *m, const struct kfile *f, const char *list,
		      const char *inner, struct kerr *e)
{
	const struct ynode *seq = yget(f->doc.root, list);

	if (yis_null(seq))
		return 0;
	if (seq->type != Y_SEQ)
		return kfail(e, "%s: %s: expected a list", f->path, list);
	for (size_t i = 0; i < seq->n; i++) {
		const struct ynode *it = seq->kids[i], *name, *body;
		const struct kentry *prev;
		struct kentry cand;

		if (it->type != Y_MAP)
			return kfail(e, "%s: %s[%zu]: expected a mapping", f->path, list, i);
		name = yget(it, "name");
		if (yis_null(name))
			return kfail(e, "%s: %s[%zu].name: missing", f->path, list, i);
		if (name->type != Y_SCALAR || yresolve(name, NULL) != YK_STR)
			return kfail(e, "%s: %s[%zu].name: expected a string, got %s", f->path, list,
				     i, ykind_name(name));
		body = yget(it, inner);
		if (!yis_null(body) && body->type != Y_MAP)
			return kfail(e, "%s: %s[%zu].%s: expected a mapping", f->path, list, i, inner);
		if ((prev = kfind(m, name->val)) && prev->file == f)
			return kfail(e, "%s: %s[%zu].name: duplicate name \"%s\" in list", f->path,
				     list, i, name->val);
		cand = (struct kentry){
			.name = name->val, .body = yis_null(body) ? NULL : body,
			.file = f, .list = list, .inner = inner, .index = i,
		};
		if (check_entry(&cand, e) < 0)
			return -1;
		if (prev)
			continue;
		if (m->n == m->cap) {
			size_t nc = m->cap ? m->cap * 2 : 16;
			struct kentry *p = realloc(m->e, nc * sizeof(*p));
			if (!p)
				return kfail(e, "%s: out of memory", f->path);
			m->e = p;
			m->cap = nc;
		}
		m->e[m->n++] = cand;
	}
	return 0;
}

static int add_doc(struct kc_state *st, struct kfile *f, struct kerr *e)
{
	const struct ynode *root = f->doc.root, *cur;

	if (yis_null(root))
		return 0;	/* an empty file contributes nothing, as with kubectl */
	if (root->type != Y_MAP)
		return kfail(e, "%s: top level: expected a mapping (a kubeconfig), got a %s",
			     f->path, root->type == Y_SEQ ? "list" : "scalar");
	if (merge_list(&st->clusters, f, "clusters", "cluster", e) < 0 ||
	    merge_list(&st->users, f, "users", "user", e) < 0 ||
	    merge_list(&st->contexts, f, "contexts", "context", e) < 0)
		return -1;
	cur = yget(root, "current-context");
	if (!yis_null(cur)) {
		if (cur->type != Y_SCALAR)
			return kfail(e, "%s: current-context: expected a string", f->path);
		if (!st->current) {
			st->current = cur->val;
			st->current_file = f;
		}
	}
	return 0;
}

static int load_one(struct kc_state *st, const char *name, const char *dir,
		    const char *buf, size_t len, struct kerr *e)
{
	struct kfile *f = &st->files[st->nfiles];
	char perr[256];

	memset(f, 0, sizeof(*f));
	f->path = strdup(name);
	f->dir = dir ? strdup(dir) : dir_of(name);
	if (!f->path || !f->dir) {
		free(f->path);
		free(f->dir);
		return kfail(e, "%s: out of memory", name);
	}
	st->nfiles++;
	if (yparse(buf, len, &f->doc, perr, sizeof(perr)) < 0)
		return kfail(e, "%s: %s", name, perr);
	return add_doc(st, f, e);
}

static void state_free(struct kc_state *st)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		free(st->files[i].path);
		free(st->files[i].dir);
		ydoc_free(&st->files[i].doc);
	}
	free(st->clusters.e);
	free(st->users.e);
	free(st->contexts.e);
}

/* ---------------------------------------------------------------- fields */

/* Where a field lives, for messages: "<file>: users[2].user.token". */
#define EPFX "%s: %s[%zu].%s."
#define EARG(en) (en)->file->path, (en)->list, (en)->index, (en)->inner
#define EARG_CL(en) (en)->file->path, (en)->list, (en)->index

/* A string field of an entry: 0 not set, 1 set, -1 wrong type (a plain
 * true or 8080 is a bool or a number to kubectl, which refuses it). */
static int field_str(const struct kentry *en, const char *key, const char **out,
		     struct kerr *e)
{
	const struct ynode *n = yget(en->body, key);

	*out = NULL;
	if (yis_null(n))
		return 0;
	if (n->type != Y_SCALAR || yresolve(n, NULL) != YK_STR)
		return kfail(e, EPFX "%s: expected a string, got %s", EARG(en), key,
			     ykind_name(n));
	*out = n->val;
	return 1;
}

/* A boolean field: only a plain YAML 1.1 boolean; "yes" in quotes is a
 * string, which kubectl refuses as well. */
static int field_bool(const struct kentry *en, const char *key, int *out,
		      struct kerr *e)
{
	const struct ynode *n = yget(en->body, key);

	*out = 0;
	if (yis_null(n))
		return 0;
	if (n->type != Y_SCALAR || yresolve(n, out) != YK_BOOL)
		return kfail(e, EPFX "%s: expected true or false, got %s", EARG(en), key,
			     ykind_name(n));
	return 1;
}

static int b64_decode(const char *in, char **out, size_t *outlen);

/* The fields podfs knows of each entry type, with the type kubectl's Go
 * structs give them (client-go api/v1 Cluster, AuthInfo, Context). */
enum kf_type {
	KF_STR, KF_BOOL, KF_B64, KF_STRLIST,
	KF_EXTRA,	/* map of string lists */
	KF_STRMAP,	/* map of strings */
	KF_MAP,		/* with .sub: its fields checked too */
	KF_MAPLIST,	/* a list of maps with the fields .sub */
	KF_LIST,
};

struct kfield {
	const char *key;
	enum kf_type type;
	const struct kfield *sub;	/* KF_MAP, KF_MAPLIST */
	const char *inner;		/* their path in messages */
};

#define F(k, t) { k, t, NULL, NULL }
#define SUB(k, t, sub, inner) { k, t, sub, inner }
static const struct kfield env_fields[] = {
	F("name", KF_STR), F("value", KF_STR), F(NULL, KF_STR),
};
static const struct kfield exec_fields[] = {
	F("apiVersion", KF_STR), F("command", KF_STR),
	F("args", KF_STRLIST),
	SUB("env", KF_MAPLIST, env_fields, "user.exec.env[]"),
	F("installHint", KF_STR), F("provideClusterInfo", KF_BOOL),
	F("interactiveMode", KF_STR), F(NULL, KF_STR),
};
static const struct kfield provider_fields[] = {
	F("name", KF_STR), F("config", KF_STRMAP),
	F(NULL, KF_STR),
};

static const struct kfield cluster_fields[] = {
	F("server", KF_STR), F("tls-server-name", KF_STR),
	F("insecure-skip-tls-verify", KF_BOOL), F("certificate-authority", KF_STR),
	F("certificate-authority-data", KF_B64), F("proxy-url", KF_STR),
	F("disable-compression", KF_BOOL), F("extensions", KF_LIST), F(NULL, KF_STR),
};
static const struct kfield user_fields[] = {
	F("client-certificate", KF_STR), F("client-certificate-data", KF_B64),
	F("client-key", KF_STR), F("client-key-data", KF_B64), F("token", KF_STR),
	F("tokenFile", KF_STR), F("as", KF_STR), F("as-uid", KF_STR),
	F("as-groups", KF_STRLIST), F("as-user-extra", KF_EXTRA), F("username", KF_STR),
	F("password", KF_STR),
	SUB("auth-provider", KF_MAP, provider_fields, "user.auth-provider"),
	SUB("exec", KF_MAP, exec_fields, "user.exec"),
	F("extensions", KF_LIST), F(NULL, KF_STR),
};
static const struct kfield context_fields[] = {
	F("cluster", KF_STR), F("user", KF_STR), F("namespace", KF_STR),
	F("extensions", KF_LIST), F(NULL, KF_STR),
};
#undef F
#undef SUB

/* A list of strings (as-groups, and each value of as-user-extra). */
static int check_strlist(const struct kentry *en, const char *key, const struct ynode *n,
			 struct kerr *e)
{
	if (n->type != Y_SEQ)
		return kfail(e, EPFX "%s: expected a list of strings, got %s", EARG(en), key,
			     ykind_name(n));
	for (size_t i = 0; i < n->n; i++)
		if (n->kids[i]->type != Y_SCALAR || yresolve(n->kids[i], NULL) != YK_STR)
			return kfail(e, EPFX "%s[%zu]: expected a string, got %s", EARG(en), key, i,
				     ykind_name(n->kids[i]));
	return 0;
}

static int check_fields(const struct kentry *en, const struct kfield *f, struct kerr *e);

/* The fields of a nested map (exec, auth-provider, an env item). */
static int check_sub(const struct kentry *en, const struct kfield *f, const struct ynode *n,
		     struct kerr *e)
{
	struct kentry sub = *en;

	if (n->type != Y_MAP)
		return kfail(e, EPFX "%s: expected a mapping, got %s", EARG(en), f->key,
			     ykind_name(n));
	sub.body = n;
	sub.inner = f->inner;
	return check_fields(&sub, f->sub, e);
}

static int check_field(const struct kentry *en, const struct kfield *f, struct kerr *e)
{
	const struct ynode *n = yget(en->body, f->key);
	const char *s;
	char *dec;
	size_t len;
	int b;

	if (yis_null(n))
		return 0;
	switch (f->type) {
	case KF_STR:
		return field_str(en, f->key, &s, e);
	case KF_BOOL:
		return field_bool(en, f->key, &b, e);
	case KF_B64:
		if (field_str(en, f->key, &s, e) < 0)
			return -1;
		if (b64_decode(s, &dec, &len) < 0)
			return kfail(e, EPFX "%s: invalid base64", EARG(en), f->key);
		OPENSSL_cleanse(dec, len);
		free(dec);
		return 0;
	case KF_STRLIST:
		return check_strlist(en, f->key, n, e);
	case KF_EXTRA:
		if (n->type != Y_MAP)
			return kfail(e, EPFX "%s: expected a mapping of string lists", EARG(en),
				     f->key);
		for (size_t i = 0; i + 1 < n->n; i += 2)
			if (!yis_null(n->kids[i + 1]) &&
			    check_strlist(en, f->key, n->kids[i + 1], e) < 0)
				return -1;
		return 0;
	case KF_STRMAP:
		if (n->type != Y_MAP)
			return kfail(e, EPFX "%s: expected a mapping of strings, got %s", EARG(en),
				     f->key, ykind_name(n));
		for (size_t i = 0; i + 1 < n->n; i += 2)
			if (!yis_null(n->kids[i + 1]) && (n->kids[i + 1]->type != Y_SCALAR ||
			    yresolve(n->kids[i + 1], NULL) != YK_STR))
				return kfail(e, EPFX "%s.%s: expected a string, got %s", EARG(en), f->key,
					     n->kids[i]->type == Y_SCALAR ? n->kids[i]->val : "?",
					     ykind_name(n->kids[i + 1]));
		return 0;
	case KF_MAP:
		return f->sub ? check_sub(en, f, n, e) : 0;
	case KF_MAPLIST:
		if (n->type != Y_SEQ)
			return kfail(e, EPFX "%s: expected a list, got %s", EARG(en), f->key,
				     ykind_name(n));
		for (size_t i = 0; i < n->n; i++)
			if (check_sub(en, f, n->kids[i], e) < 0)
				return -1;
		return 0;
	case KF_LIST:
		if (n->type != Y_SEQ)
			return kfail(e, EPFX "%s: expected a list, got %s", EARG(en), f->key,
				     ykind_name(n));
		return 0;
	}
	return 0;
}

static int check_fields(const struct kentry *en, const struct kfield *f, struct kerr *e)
{
	for (; f->key; f++)
		if (check_field(en, f, e) < 0)
			return -1;
	return 0;
}

static int check_entry(const struct kentry *en, struct kerr *e)
{
	if (!en->body)
		return 0;
	return check_fields(en, !strcmp(en->inner, "cluster") ? cluster_fields :
			    !strcmp(en->inner, "user") ? user_fields : context_fields, e);
}

/* Decode base64 as Go's StdEncoding does for a []byte field: line breaks
 * (CR, LF) are skipped, a space or tab is an error, padding is required,
 * anything outside the alphabet is garbage. */
static int b64_decode(const char *in, char **out, size_t *outlen)
{
	size_t n = strlen(in), k = 0, pad = 0;
	char *clean = malloc(n + 1);
	unsigned char *dec;
	int r;

	if (!clean)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '\n' || c == '\r')
			continue;
		clean[k++] = c;
	}
	clean[k] = 0;
	if (k == 0 || k % 4) {
		free(clean);
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		char c = clean[i];
		if (c == '=') {
			if (i < k - 2) {
				free(clean);
				return -1;
			}
			pad++;
		} else if (pad) {
			free(clean);
			return -1;
		}
	}
	dec = malloc(k / 4 * 3 + 1);
	if (!dec) {
		free(clean);
		return -1;
	}
	r = EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)k);
	free(clean);
	if (r < 0 || (size_t)r < pad) {
		free(dec);
		return -1;
	}
	*outlen = (size_t)r - pad;
	dec[*outlen] = 0;
	*out = (char *)dec;
	return 0;
}

static int looks_pem(const char *p, size_t len)
{
	return len >= 11 && memmem(p, len, "-----BEGIN ", 11) != NULL;
}

/* One piece of TLS material from "<key>" (a path) or "<key>-data"
 * (base64): 0 not set, 1 loaded, -1 error. */
static int load_pem(const struct kentry *en, const char *key, struct kc_blob *out,
		    int both_is_error, struct kerr *e)
{
	char dkey[64];
	const char *path, *data;
	int rp, rd;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	if ((rp = field_str(en, key, &path, e)) < 0 || (rd = field_str(en, dkey, &data, e)) < 0)
		return -1;
	if (rp && rd && both_is_error)
		return kfail(e, "%s: %s[%zu].%s: %s and %s are both set (%s would override)",
			     EARG(en), key, dkey, dkey);
	if (rd) {
		if (b64_decode(data, &out->data, &out->len) < 0)
			return kfail(e, EPFX "%s: invalid base64", EARG(en), dkey);
		if (!looks_pem(out->data, out->len)) {
			free(out->data);
			out->data = NULL;
			out->len = 0;
			return kfail(e, EPFX "%s: decoded data is not PEM", EARG(en), dkey);
		}
		return 1;
	}
	if (rp) {
		char *full = join_path(en->file->dir, path);
		int err = 0;

		if (!full)
			return kfail(e, "out of memory");
		out->data = read_file(full, KC_MAX_PEM, &out->len, &err);
		if (!out->data) {
			kfail(e, EPFX "%s: cannot read %s: %s", EARG(en), key, full, strerror(err));
			free(full);
			return -1;
		}
		if (!looks_pem(out->data, out->len)) {
			kfail(e, EPFX "%s: %s is not a PEM file", EARG(en), key, full);
			free(full);
			free(out->data);
			out->data = NULL;
			out->len = 0;
			return -1;
		}
		free(full);
		return 1;
	}
	return 0;
}

static char *trim_token(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

/* A header value must not carry CR/LF or other control bytes. */
static int token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}


/* ---------------------------------------------------------------- exec */

/* A YAML tree as JSON, for the cluster extension handed to exec plugins.
 * Plain scalars that read as numbers, booleans or null keep that type. */
static cJSON *yjson(const struct ynode *n, int depth)
{
	cJSON *j;

	if (!n || depth > KC_MAX_DEPTH)
		return cJSON_CreateNull();
	if (n->type == Y_SCALAR) {
		char *end;
		double d;

		if (!strcmp(n->val, "true"))
			return cJSON_CreateTrue();
		if (!strcmp(n->val, "false"))
			return cJSON_CreateFalse();
		if (yis_null(n))
			return cJSON_CreateNull();
		d = strtod(n->val, &end);
		if (n->val[0] && !*end && (n->val[0] == '-' || (n->val[0] >= '0' && n->val[0] <= '9')))
			return cJSON_CreateNumber(d);
		return cJSON_CreateString(n->val);
	}
	j = n->type == Y_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!j)
		return NULL;
	if (n->type == Y_MAP) {
		for (size_t i = 0; i + 1 < n->n; i += 2) {
			cJSON *v = yjson(n->kids[i + 1], depth + 1);
			if (n->kids[i]->type != Y_SCALAR || !v) {
				cJSON_Delete(v);
				continue;
			}
			cJSON_AddItemToObject(j, n->kids[i]->val, v);
		}
	} else {
		for (size_t i = 0; i < n->n; i++) {
			cJSON *v = yjson(n->kids[i], depth + 1);
			if (v)
				cJSON_AddItemToArray(j, v);
		}
	}
	return j;
}

/* clusters[].cluster.extensions[name=client.authentication.k8s.io/exec]
 * .extension as JSON, or NULL. */
static char *cluster_exec_config(const struct kentry *cl)
{
	const struct ynode *ext = yget(cl->body, "extensions");
	char *out = NULL;

	if (yis_null(ext) || ext->type != Y_SEQ)
		return NULL;
	for (size_t i = 0; i < ext->n; i++) {
		const struct ynode *nm = yget(ext->kids[i], "name");
		const struct ynode *val = yget(ext->kids[i], "extension");
		cJSON *j;

		if (!nm || nm->type != Y_SCALAR || strcmp(nm->val, "client.authentication.k8s.io/exec"))
			continue;
		if (yis_null(val) || !(j = yjson(val, 0)))
			return NULL;
		out = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		break;
	}
	return out;
}

/* A string key of a nested map: 0 not set, 1 set, -1 wrong type. */
static int ystr(const struct ynode *m, const char *key, const char **out)
{
	const struct ynode *n = yget(m, key);

	*out = NULL;
	if (yis_null(n))
		return 0;
	if (n->type != Y_SCALAR)
		return -1;
	*out = n->val;
	return 1;
}

/* user.exec, checked as client-go's validation and exec loader check it. */
static int parse_exec(const struct kentry *u, const struct ynode *xn, struct kc_config *out,
		      struct kerr *e)
{
	struct kc_exec *x = calloc(1, sizeof(*x));
	const char *cmd, *ver, *hint, *mode;
	const struct ynode *args = yget(xn, "args"), *env = yget(xn, "env");
	const struct ynode *pci = yget(xn, "provideClusterInfo");

	if (!x)
		return kfail(e, "out of memory");
	out->exec = x;
	/* the types were checked with the entry (exec_fields) */
	ystr(xn, "command", &cmd);
	ystr(xn, "apiVersion", &ver);
	ystr(xn, "installHint", &hint);
	ystr(xn, "interactiveMode", &mode);
	if (!yis_null(pci))
		yresolve(pci, &x->provide_cluster_info);
	if (!cmd)
		return kfail(e, EPFX "exec.command: missing", EARG(u));
	if (!ver)
		return kfail(e, EPFX "exec.apiVersion: missing (use %s)", EARG(u), KC_EXEC_V1);
	if (strcmp(ver, KC_EXEC_V1) && strcmp(ver, KC_EXEC_V1BETA1))
		return kfail(e, EPFX "exec.apiVersion: \"%s\" is not supported (use %s or %s)",
			     EARG(u), ver, KC_EXEC_V1, KC_EXEC_V1BETA1);
	if (!mode) {
		if (!strcmp(ver, KC_EXEC_V1))
			return kfail(e, EPFX "exec.interactiveMode: missing (required for %s: "
				     "Never, IfAvailable or Always)", EARG(u), KC_EXEC_V1);
		x->interactive = KC_INTERACTIVE_IF_AVAILABLE;
	} else if (!strcmp(mode, "Never")) {
		x->interactive = KC_INTERACTIVE_NEVER;
	} else if (!strcmp(mode, "IfAvailable")) {
		x->interactive = KC_INTERACTIVE_IF_AVAILABLE;
	} else if (!strcmp(mode, "Always")) {
		x->interactive = KC_INTERACTIVE_ALWAYS;
	} else {
		return kfail(e, EPFX "exec.interactiveMode: \"%s\" is not one of Never, "
			     "IfAvailable, Always", EARG(u), mode);
	}
	/* client-go resolves a command with a path separator against the
	 * kubeconfig's directory; a bare name is looked up in $PATH */
	if (strchr(cmd, '/')) {
		while (cmd[0] == '.' && cmd[1] == '/')
			cmd += 2;	/* as Go's filepath.Join cleans it */
		x->command = join_path(u->file->dir, cmd);
	} else {
		x->command = strdup(cmd);
	}
	if (!x->command || !(x->api_version = strdup(ver)) ||
	    (hint && !(x->install_hint = strdup(hint))))
		return kfail(e, "out of memory");
	if (!yis_null(args)) {
		if (args->type != Y_SEQ || args->n > KC_MAX_ARGS)
			return kfail(e, EPFX "exec.args: expected a list of strings", EARG(u));
		if (!(x->args = calloc(args->n + 1, sizeof(char *))))
			return kfail(e, "out of memory");
		for (size_t i = 0; i < args->n; i++) {
			if (args->kids[i]->type != Y_SCALAR)
				return kfail(e, EPFX "exec.args[%zu]: expected a string", EARG(u), i);
			if (!(x->args[x->nargs++] = strdup(args->kids[i]->val)))
				return kfail(e, "out of memory");
		}
	}
	if (!yis_null(env)) {
		if (env->type != Y_SEQ || env->n > KC_MAX_ARGS)
			return kfail(e, EPFX "exec.env: expected a list of {name, value}", EARG(u));
		if (!(x->env = calloc(env->n + 1, sizeof(char *))))
			return kfail(e, "out of memory");
		for (size_t i = 0; i < env->n; i++) {
			const char *nm, *val;

			if (env->kids[i]->type != Y_MAP || ystr(env->kids[i], "name", &nm) < 0 ||
			    ystr(env->kids[i], "value", &val) < 0)
				return kfail(e, EPFX "exec.env[%zu]: expected {name, value} strings",
					     EARG(u), i);
			if (!nm || !nm[0] || strchr(nm, '='))
				return kfail(e, EPFX "exec.env[%zu].name: missing or not a variable name",
					     EARG(u), i);
			if (asprintf(&x->env[x->nenv], "%s=%s", nm, val ? val : "") < 0) {
				x->env[x->nenv] = NULL;
				return kfail(e, "out of memory");
			}
			x->nenv++;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- resolve */

static int resolve_cluster(const struct kentry *cl, const struct kentry *cx,
			   struct kc_config *out, struct kerr *e)
{
	const char *server, *sni, *proxy;
	int r, have_ca;
	size_t n;

	if (!cl->body)
		return kfail(e, "%s: %s[%zu].cluster: missing", cl->file->path, cl->list, cl->index);
	(void)cx;
	if ((r = field_str(cl, "server", &server, e)) < 0)
		return -1;
	if (r == 0)
		return kfail(e, EPFX "server: missing", EARG(cl));
	if (strncasecmp(server, "https://", 8) && strncasecmp(server, "http://", 7))
		return kfail(e, EPFX "server: \"%s\" is not an http(s) URL", EARG(cl), server);
	if (!(out->server = strdup(server)))
		return kfail(e, "out of memory");
	n = strlen(out->server);
	while (n && out->server[n - 1] == '/')
		out->server[--n] = 0;
	if (field_str(cl, "tls-server-name", &sni, e) < 0 ||
	    field_str(cl, "proxy-url", &proxy, e) < 0 ||
	    field_bool(cl, "insecure-skip-tls-verify", &out->insecure, e) < 0)
		return -1;
	if (sni && !(out->tls_server_name = strdup(sni)))
		return kfail(e, "out of memory");
	if (proxy && strncasecmp(proxy, "http://", 7) && strncasecmp(proxy, "https://", 8) &&
	    strncasecmp(proxy, "socks5://", 9))
		return kfail(e, EPFX "proxy-url: scheme not supported (use http, https or socks5)",
			     EARG(cl));
	if (proxy && !(out->proxy_url = strdup(proxy)))
		return kfail(e, "out of memory");
	/* client-go lets -data win over the file for the CA without complaint */
	have_ca = load_pem(cl, "certificate-authority", &out->ca, 0, e);
	if (have_ca < 0)
		return -1;
	if (have_ca && out->insecure)
		return kfail(e, "%s: %s[%zu].cluster: specifying a root certificates file with "
			     "insecure-skip-tls-verify is not allowed", EARG_CL(cl));
	return 0;
}

/* token and tokenFile.  tokenFile wins while it can be read; with token
 * also set, client-go falls back to token while it cannot (auth re-reads
 * the file the same way). */
static int resolve_token(const struct kentry *u, const char *tok, const char *tokfile,
			 struct kc_config *out, struct kerr *e)
{
	char *full, *t;
	size_t len;
	int err = 0;

	if (tok) {
		if (!token_ok(tok))
			return kfail(e, EPFX "token: contains control characters", EARG(u));
		if (!(out->token = strdup(tok)))
			return kfail(e, "out of memory");
	}
	if (!tokfile)
		return 0;
	if (!(full = join_path(u->file->dir, tokfile)))
		return kfail(e, "out of memory");
	out->token_file = full;
	t = read_file(full, KC_MAX_TOKEN, &len, &err);
	if (!t && out->token)
		return 0;
	if (!t)
		return kfail(e, EPFX "tokenFile: cannot read %s: %s", EARG(u), full,
			     strerror(err));
	trim_token(t);
	if (!t[0] || !token_ok(t)) {
		free(t);
		return kfail(e, EPFX "tokenFile: %s is empty or not a token", EARG(u), full);
	}
	free(out->token);
	out->token = t;
	return 0;
}

/* as, as-uid, as-groups, as-user-extra (types checked by check_entry);
 * sent as Impersonate-* headers by auth.  A header value must not carry
 * control characters; an extra key must be a header-safe token. */
static int resolve_impersonation(const struct kentry *u, struct kc_config *out,
				 struct kerr *e)
{
	const struct ynode *g = yget(u->body, "as-groups"), *x = yget(u->body, "as-user-extra");
	const char *as, *uid;

	if (field_str(u, "as", &as, e) < 0 || field_str(u, "as-uid", &uid, e) < 0)
		return -1;
	if ((as && !token_ok(as)) || (uid && !token_ok(uid)))
		return kfail(e, EPFX "as: contains control characters", EARG(u));
	if ((as && !(out->imp.user = strdup(as))) || (uid && !(out->imp.uid = strdup(uid))))
		return kfail(e, "out of memory");
	for (size_t i = 0; !yis_null(g) && i < g->n; i++)
		if (!token_ok(g->kids[i]->val) ||
		    kc_imp_add(&out->imp, NULL, g->kids[i]->val) < 0)
			return kfail(e, EPFX "as-groups[%zu]: not a usable group name", EARG(u), i);
	for (size_t i = 0; !yis_null(x) && i + 1 < x->n; i += 2) {
		const struct ynode *k = x->kids[i], *v = x->kids[i + 1];

		if (k->type != Y_SCALAR || !k->val[0] || strpbrk(k->val, " \t\r\n:"))
			return kfail(e, EPFX "as-user-extra: key \"%s\" is not usable in a header",
				     EARG(u), k->type == Y_SCALAR ? k->val : "?");
		for (size_t j = 0; !yis_null(v) && j < v->n; j++)
			if (!token_ok(v->kids[j]->val) ||
			    kc_imp_add(&out->imp, k->val, v->kids[j]->val) < 0)
				return kfail(e, EPFX "as-user-extra.%s[%zu]: not a usable value",
					     EARG(u), k->val, j);
	}
	if (!out->imp.user && (out->imp.uid || out->imp.nextra || out->imp.ngroups))
		return kfail(e, EPFX "as: missing (as-groups, as-uid and as-user-extra need "
			     "a user to impersonate)", EARG(u));
	return 0;
}

/* auth-provider oidc: client-go's provider, refreshed by auth (oidc.c);
 * the in-tree gcp and azure providers are gone. */
static int resolve_oidc(const struct kentry *u, const struct ynode *cfg, struct kc_config *out,
			struct kerr *e)
{
	static const char *const keys[] = { "idp-issuer-url", "client-id", "client-secret",
					    "id-token", "refresh-token" };
	const char *v[5];
	struct kc_oidc *o;
	struct kentry c = *u;

	c.body = cfg;	/* the config map, for field_str and messages */
	c.inner = "user.auth-provider.config";
	for (size_t i = 0; i < 5; i++)
		if (field_str(&c, keys[i], &v[i], e) < 0)
			return -1;
	if (!v[0])
		return kfail(e, EPFX "idp-issuer-url: missing (client-go's oidc provider "
			     "needs it to refresh the id-token)", EARG(&c));
	if (!v[1])
		return kfail(e, EPFX "client-id: missing", EARG(&c));
	if (!v[3] && !v[4])
		return kfail(e, EPFX "id-token: missing, and no refresh-token to get one "
			     "(log in with kubelogin or your identity provider first)", EARG(&c));
	if ((v[3] && !token_ok(v[3])) || (v[4] && !token_ok(v[4])))
		return kfail(e, EPFX "id-token: contains control characters", EARG(&c));
	if (!(o = out->oidc = calloc(1, sizeof(*o))))
		return kfail(e, "out of memory");
	if (!(o->issuer = strdup(v[0])) || !(o->client_id = strdup(v[1])) ||
	    (v[2] && !(o->client_secret = strdup(v[2]))) ||
	    (v[3] && !(o->id_token = strdup(v[3]))) ||
	    (v[4] && !(o->refresh_token = strdup(v[4]))) ||
	    !(o->file = strdup(u->file->path)) || !(o->user = strdup(u->name)))
		return kfail(e, "out of memory");
	return load_pem(&c, "idp-certificate-authority", &o->ca, 0, e) < 0 ? -1 : 0;
}

static int resolve_auth_provider(const struct kentry *u, const struct ynode *ap,
				 struct kc_config *out, struct kerr *e)
{
	const struct ynode *nm = yget(ap, "name"), *cfg = yget(ap, "config");
	const char *pname = nm && nm->type == Y_SCALAR ? nm->val : "?";

	if (!(out->auth_provider = strdup(pname)))
		return kfail(e, "out of memory");
	if (out->token || out->cert.len || out->username)
		return 0;	/* static credentials win, as with exec */
	if (!strcmp(pname, "oidc")) {
		if (yis_null(cfg) || cfg->type != Y_MAP)
			return kfail(e, EPFX "auth-provider.config: missing", EARG(u));
		return resolve_oidc(u, cfg, out, e);
	}
	if (!strcmp(pname, "gcp"))
		return kfail(e, EPFX "auth-provider: the gcp auth plugin has been removed "
			     "from Kubernetes (1.26): install gke-gcloud-auth-plugin and "
			     "use it as an exec plugin (gcloud container clusters "
			     "get-credentials writes such a kubeconfig)", EARG(u));
	if (!strcmp(pname, "azure"))
		return kfail(e, EPFX "auth-provider: the azure auth plugin has been removed "
			     "from Kubernetes (1.26): install kubelogin and run "
			     "\"kubelogin convert-kubeconfig\" to use it as an exec "
			     "plugin", EARG(u));
	return kfail(e, EPFX "auth-provider: provider \"%s\" is not supported "
		     "(use an exec plugin or a token)", EARG(u), pname);
}

static int resolve_user(const struct kentry *u, struct kc_config *out, struct kerr *e)
{
	const char *tok, *tokfile, *user, *pass;
	const struct ynode *execn, *ap;
	int rc, rk;

	if (!u->body)
		return 0;	/* an empty user: anonymous */
	rc = load_pem(u, "client-certificate", &out->cert, 1, e);
	if (rc < 0)
		return -1;
	rk = load_pem(u, "client-key", &out->key, 1, e);
	if (rk < 0)
		return -1;
	if (rc && !rk)
		return kfail(e, "%s: %s[%zu].user: client certificate given without "
			     "client-key or client-key-data", EARG_CL(u));
	if (rk && !rc)
		return kfail(e, "%s: %s[%zu].user: client key given without "
			     "client-certificate or client-certificate-data", EARG_CL(u));
	if (field_str(u, "token", &tok, e) < 0 || field_str(u, "tokenFile", &tokfile, e) < 0 ||
	    field_str(u, "username", &user, e) < 0 || field_str(u, "password", &pass, e) < 0)
		return -1;
	if ((tok || tokfile) && (user || pass))
		return kfail(e, "%s: %s[%zu].user: more than one authentication method found "
			     "(token and username/password)", EARG_CL(u));
	if (pass && !user)
		return kfail(e, EPFX "username: missing (password is set)", EARG(u));
	if (resolve_token(u, tok, tokfile, out, e) < 0 || resolve_impersonation(u, out, e) < 0)
		return -1;
	if (user) {
		if (!(out->username = strdup(user)) || !(out->password = strdup(pass ? pass : "")))
			return kfail(e, "out of memory");
	}
	execn = yget(u->body, "exec");
	ap = yget(u->body, "auth-provider");
	if (!yis_null(execn) && !yis_null(ap))
		return kfail(e, "%s: %s[%zu].user: exec and auth-provider are both set",
			     EARG_CL(u));
	if (!yis_null(ap) && resolve_auth_provider(u, ap, out, e) < 0)
		return -1;
	if (!yis_null(execn)) {
		const struct ynode *cmd = yget(execn, "command");

		if (!(out->exec_command = strdup(cmd && cmd->type == Y_SCALAR ? cmd->val : "")))
			return kfail(e, "out of memory");
		/* static credentials win over a plugin, as in client-go, where
		 * the bearer/basic round tripper sets Authorization first */
		if (!out->token && !out->cert.len && !out->username &&
		    parse_exec(u, execn, out, e) < 0)
			return -1;
	}
	return 0;
}

static int resolve(struct kc_state *st, const char *paths, const char *context,
		   struct kc_config *out, struct kerr *e)
{
	const struct kentry *cx, *cl, *u = NULL;
	const char *clname, *uname, *ns;
	int r;

	memset(out, 0, sizeof(*out));
	if (!context || !context[0]) {
		context = st->current;
		if (!context || !context[0])
			return kfail(e, "%s: current-context: not set (and no context was given)",
				     paths);
	}
	cx = kfind(&st->contexts, context);
	if (!cx) {
		if (context == st->current)
			return kfail(e, "%s: current-context: context \"%s\" not found in %s",
				     st->current_file->path, context, paths);
		return kfail(e, "context \"%s\" not found in %s", context, paths);
	}
	if (!cx->body)
		return kfail(e, "%s: %s[%zu].context: missing", cx->file->path, cx->list, cx->index);
	if ((r = field_str(cx, "cluster", &clname, e)) < 0)
		return -1;
	if (!r)
		return kfail(e, EPFX "cluster: missing", EARG(cx));
	if (field_str(cx, "user", &uname, e) < 0 || field_str(cx, "namespace", &ns, e) < 0)
		return -1;
	cl = kfind(&st->clusters, clname);
	if (!cl)
		return kfail(e, "%s: cluster \"%s\" referenced by context \"%s\" is not defined",
			     cx->file->path, clname, context);
	if (uname) {
		u = kfind(&st->users, uname);
		if (!u)
			return kfail(e, "%s: user \"%s\" referenced by context \"%s\" is not defined",
				     cx->file->path, uname, context);
	}
	if (!(out->context = strdup(context)) || !(out->cluster_name = strdup(clname)) ||
	    !(out->user_name = strdup(uname ? uname : "")) ||
	    !(out->namespace = strdup(ns ? ns : "default")) ||
	    !(out->source = strdup(cx->file->path)))
		return kfail(e, "out of memory");
	if (resolve_cluster(cl, cx, out, e) < 0)
		return -1;
	if (u && resolve_user(u, out, e) < 0)
		return -1;
	if (out->exec && out->exec->provide_cluster_info)
		out->exec->cluster_config = cluster_exec_config(cl);
	return 0;
}

/* ---------------------------------------------------------------- API */

char *kc_default_paths(const char *explicit_path)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char *out;
	size_t n;

	if (explicit_path && explicit_path[0])
		return strdup(explicit_path);
	if (env && env[0])
		return strdup(env);
	if (!home || !home[0])
		home = ".";
	n = strlen(home);
	while (n > 1 && home[n - 1] == '/')
		n--;	/* HOME=/home/u/ or / : no "//" in the path or the messages */
	if (asprintf(&out, "%.*s/.kube/config", n == 1 && home[0] == '/' ? 0 : (int)n, home) < 0)
		return NULL;
	return out;
}

/* Read and merge the ':'-separated list into st: 0, or -1 with err set. */
static int load_paths(struct kc_state *st, const char *paths, struct kerr *e)
{
	char *list = strdup(paths), *save = NULL, *p;
	int rc = 0;

	if (!list)
		return kfail(e, "out of memory");
	for (p = strtok_r(list, ":", &save); p && rc == 0; p = strtok_r(NULL, ":", &save)) {
		size_t len;
		int ferr = 0, dup = 0;
		char *buf;

		for (size_t i = 0; i < st->nfiles; i++)
			if (!strcmp(st->files[i].path, p))
				dup = 1;
		if (!p[0] || dup)
			continue;
		if (st->nfiles == KC_MAX_FILES) {
			rc = kfail(e, "%s: more than %d kubeconfig files", paths, KC_MAX_FILES);
			break;
		}
		buf = read_file(p, KC_MAX_FILE, &len, &ferr);
		if (!buf && ferr == ENOENT)
			continue;	/* missing files are skipped, as kubectl does */
		if (!buf && ferr == EFBIG)
			rc = kfail(e, "%s: larger than %u MiB, not a kubeconfig", p, KC_MAX_FILE >> 20);
		else if (!buf)
			rc = kfail(e, "%s: %s", p, strerror(ferr));
		else
			rc = load_one(st, p, NULL, buf, len, e);
		free(buf);
	}
	free(list);
	return rc;
}

/* The start and the end of every load: a fresh state, out and err
 * cleared; and on the way out a failed load leaves nothing in out. */
static struct kc_state *load_begin(struct kc_config *out, char *err, size_t errlen)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = 0;
	return calloc(1, sizeof(struct kc_state));
}

static int load_end(struct kc_state *st, int rc, struct kc_config *out)
{
	if (rc < 0 && out)
		kc_free(out);
	if (st)
		state_free(st);
	free(st);
	return rc;
}

int kc_load(const char *paths, const char *context, struct kc_config *out,
	    char *err, size_t errlen)
{
	struct kc_state *st = load_begin(out, err, errlen);
	struct kerr e = { err, errlen };

	if (!st || !paths)
		return load_end(st, kfail(&e, "out of memory"), out);
	if (load_paths(st, paths, &e) < 0)
		return load_end(st, -1, out);
	if (st->nfiles == 0) {
		/* client-go's deferred loader does the same: no kubeconfig at
		 * all, but running in a pod */
		if (kc_in_cluster_available())
			return load_end(st, kc_load_in_cluster(out, err, errlen), out);
		return load_end(st, kfail(&e, "%s: no kubeconfig file found", paths), out);
	}
	return load_end(st, resolve(st, paths, context, out, &e), out);
}

int kc_list_contexts(const char *paths, char **out, char *err, size_t errlen)
{
	struct kc_state *st = load_begin(NULL, err, errlen);
	struct kerr e = { err, errlen };
	size_t len = 0;
	FILE *m;
	int rc;

	*out = NULL;
	if (!st || !(m = open_memstream(out, &len)))
		return load_end(st, kfail(&e, "out of memory"), NULL);
	if ((rc = load_paths(st, paths, &e)) == 0)
		for (size_t i = 0; i < st->contexts.n; i++)
			fprintf(m, "%s\n", st->contexts.e[i].name);
	if (fclose(m) != 0 && rc == 0)
		rc = kfail(&e, "out of memory");
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return load_end(st, rc, NULL);
}

int kc_load_buffer(const char *yaml, size_t len, const char *name,
		   const char *dir, const char *context, struct kc_config *out,
		   char *err, size_t errlen)
{
	struct kc_state *st = load_begin(out, err, errlen);
	struct kerr e = { err, errlen };

	if (!name)
		name = "<buffer>";
	if (!st)
		return load_end(st, kfail(&e, "out of memory"), out);
	if (len > KC_MAX_FILE)
		return load_end(st, kfail(&e, "%s: larger than %u MiB, not a kubeconfig", name,
					  KC_MAX_FILE >> 20), out);
	if (load_one(st, name, dir ? dir : ".", yaml, len, &e) < 0)
		return load_end(st, -1, out);
	return load_end(st, resolve(st, name, context, out, &e), out);
}

int kc_in_cluster_available(void)
{
	const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");

	return h && h[0] && p && p[0];
}

int kc_load_in_cluster(struct kc_config *out, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("PODFS_SA_DIR");	/* test hook */
	struct kerr e = { err, errlen };
	char *path = NULL, *t = NULL;
	size_t len;
	int ferr = 0;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = 0;
	if (!dir || !dir[0])
		dir = KC_SA_DIR;
	if (!kc_in_cluster_available())
		return kfail(&e, "in-cluster configuration: KUBERNETES_SERVICE_HOST and "
			     "KUBERNETES_SERVICE_PORT must be set");
	if (strpbrk(host, "/@?# \t\r\n[]") || strspn(port, "0123456789") != strlen(port))
		return kfail(&e, "in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT "
			     "\"%.100s\" \"%.20s\" do not form an address", host, port);
	if (asprintf(&out->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0) {
		out->server = NULL;
		goto oom;
	}
	if (!(out->context = strdup("in-cluster")) || !(out->cluster_name = strdup("in-cluster")) ||
	    !(out->user_name = strdup("serviceaccount")) || !(out->source = strdup("in-cluster")))
		goto oom;
	out->in_cluster = 1;
	/* the token rotates (bound service account tokens): auth re-reads it */
	if (asprintf(&out->token_file, "%s/token", dir) < 0) {
		out->token_file = NULL;
		goto oom;
	}
	t = read_file(out->token_file, KC_MAX_TOKEN, &len, &ferr);
	if (!t) {
		kfail(&e, "in-cluster configuration: cannot read the service account token %s: %s",
		      out->token_file, strerror(ferr));
		goto fail;
	}
	trim_token(t);
	if (!t[0] || !token_ok(t)) {
		free(t);
		kfail(&e, "in-cluster configuration: %s is empty or not a token", out->token_file);
		goto fail;
	}
	out->token = t;
	if (asprintf(&path, "%s/ca.crt", dir) < 0)
		goto oom;
	out->ca.data = read_file(path, KC_MAX_PEM, &out->ca.len, &ferr);
	if (!out->ca.data) {
		kfail(&e, "in-cluster configuration: cannot read the cluster CA %s: %s", path,
		      strerror(ferr));
		goto fail;
	}
	if (!looks_pem(out->ca.data, out->ca.len)) {
		kfail(&e, "in-cluster configuration: %s is not a PEM file", path);
		goto fail;
	}
	free(path);
	if (asprintf(&path, "%s/namespace", dir) < 0)
		goto oom;
	t = read_file(path, 4096, &len, &ferr);
	if (t) {
		trim_token(t);
		/* a namespace is a DNS label; anything else is not one */
		if (!t[0] || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(t)) {
			free(t);
			t = NULL;
		}
	}
	out->namespace = t ? t : strdup("default");
	free(path);
	if (!out->namespace)
		goto oom;
	return 0;
oom:
	kfail(&e, "out of memory");
fail:
	free(path);
	kc_free(out);
	return -1;
}

static void blob_free(struct kc_blob *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->len);
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static void secret_free(char **s)
{
	if (*s)
		OPENSSL_cleanse(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void kc_oidc_free(struct kc_oidc *o)
{
	if (!o)
		return;
	free(o->issuer);
	free(o->client_id);
	secret_free(&o->client_secret);
	secret_free(&o->id_token);
	secret_free(&o->refresh_token);
	blob_free(&o->ca);
	free(o->file);
	free(o->user);
	free(o);
}

void kc_free(struct kc_config *kc)
{
	if (!kc)
		return;
	free(kc->context);
	free(kc->cluster_name);
	free(kc->user_name);
	free(kc->namespace);
	free(kc->server);
	free(kc->tls_server_name);
	free(kc->proxy_url);
	blob_free(&kc->ca);
	blob_free(&kc->cert);
	blob_free(&kc->key);
	secret_free(&kc->token);
	free(kc->token_file);
	free(kc->username);
	secret_free(&kc->password);
	free(kc->source);
	free(kc->exec_command);
	free(kc->auth_provider);
	credplugin_exec_free(kc->exec);
	kc_oidc_free(kc->oidc);
	kc_imp_free(&kc->imp);
	memset(kc, 0, sizeof(*kc));
}

struct kc_oidc *kc_oidc_dup(const struct kc_oidc *o)
{
	struct kc_oidc *d = calloc(1, sizeof(*d));
	int ok;

	if (!d)
		return NULL;
#define DUP(f) (!o->f || (d->f = strdup(o->f)))
	ok = DUP(issuer) && DUP(client_id) && DUP(client_secret) && DUP(id_token) &&
	     DUP(refresh_token) && DUP(file) && DUP(user);
#undef DUP
	if (ok && o->ca.len && (d->ca.data = malloc(o->ca.len + 1))) {
		memcpy(d->ca.data, o->ca.data, o->ca.len + 1);
		d->ca.len = o->ca.len;
	}
	if (!ok || (o->ca.len && !d->ca.data)) {
		kc_oidc_free(d);
		return NULL;
	}
	return d;
}

int kc_imp_add(struct kc_impersonate *imp, const char *key, const char *value)
{
	size_t n = imp->nextra;
	struct kc_extra *p = realloc(imp->extra, (n + 1) * sizeof(*p));

	if (!p)
		return -1;
	imp->extra = p;
	p[n].key = key ? strdup(key) : NULL;
	p[n].value = strdup(value);
	if (!p[n].value || (key && !p[n].key)) {
		free(p[n].key);
		free(p[n].value);
		return -1;
	}
	imp->nextra++;
	imp->ngroups += key ? 0 : 1;
	return 0;
}

void kc_imp_free(struct kc_impersonate *imp)
{
	for (size_t i = 0; i < imp->nextra; i++) {
		free(imp->extra[i].key);
		free(imp->extra[i].value);
	}
	free(imp->extra);
	free(imp->user);
	free(imp->uid);
	memset(imp, 0, sizeof(*imp));
}

/* ---------------------------------------------------------------- write-back */

struct kedit {
	size_t at, len;		/* bytes replaced */
	char *text;
};

/* A YAML double-quoted scalar of s (s has no control characters). */
static char *yquote(const char *s)
{
	size_t n = strlen(s);
	char *q = malloc(2 * n + 3), *w = q;

	if (!q)
		return NULL;
	*w++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*w++ = '\\';
		*w++ = *s;
	}
	*w++ = '"';
	*w = 0;
	return q;
}

/* The edit that sets key to value in the map cfg: the value replaced in
 * place, or a new "key: value" line (or ", " item of a flow map) before
 * the first key. */
static int kedit_for(const struct ynode *cfg, const char *key, const char *value,
		     struct kedit *ed)
{
	const struct ynode *v = yget(cfg, key);
	char *q = yquote(value);
	int r;

	memset(ed, 0, sizeof(*ed));
	if (!q)
		return -1;
	if (v && v->type == Y_SCALAR) {
		ed->at = v->start;
		ed->len = v->end - v->start;
		ed->text = q;
		return 0;
	}
	if (v || (!cfg->n && !cfg->flow)) {
		free(q);
		return -1;	/* not a scalar, or an empty block map (cannot be) */
	}
	if (!cfg->n) {
		ed->at = cfg->start + 1;	/* inside "{}" */
		r = asprintf(&ed->text, "%s: %s", key, q);
	} else {
		ed->at = cfg->kids[0]->start;
		r = cfg->flow ? asprintf(&ed->text, "%s: %s, ", key, q)
			      : asprintf(&ed->text, "%s: %s\n%*s", key, q, cfg->kids[0]->col, "");
	}
	free(q);
	return r < 0 ? -1 : 0;
}

/* buf with the edits applied (at most two, not overlapping), written to a
 * temporary file beside the target and renamed over it, mode kept. */
static int kedit_write(const char *file, const char *buf, size_t len, struct kedit *ed,
		       size_t ned, char *err, size_t errlen)
{
	char real[PATH_MAX], *tmp = NULL;
	struct stat st;
	FILE *f = NULL;
	size_t pos = 0;
	int fd = -1, ok = 1;

	if (ned == 2 && ed[1].at < ed[0].at) {
		struct kedit t = ed[0];
		ed[0] = ed[1];
		ed[1] = t;
	}
	if (!realpath(file, real) || stat(real, &st) < 0 || asprintf(&tmp, "%s.podfs-XXXXXX", real) < 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, st.st_mode & 07777) < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: cannot write a temporary file: %s", file, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return -1;
	}
	for (size_t i = 0; i < ned; i++) {
		ok &= fwrite(buf + pos, 1, ed[i].at - pos, f) == ed[i].at - pos;
		ok &= fputs(ed[i].text, f) >= 0;
		pos = ed[i].at + ed[i].len;
	}
	ok &= fwrite(buf + pos, 1, len - pos, f) == len - pos;
	ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, real) < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", file, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int kc_persist_oidc(const char *file, const char *user, const char *id_token,
		    const char *refresh_token, char *err, size_t errlen)
{
	struct ydoc d;
	struct kedit ed[2];
	const struct ynode *users, *cfg = NULL;
	size_t len, ned = 0;
	int ferr = 0, rc = -1;
	char *buf = read_file(file, KC_MAX_FILE, &len, &ferr);

	if (!buf) {
		snprintf(err, errlen, "%s: %s", file, strerror(ferr));
		return -1;
	}
	if (yparse(buf, len, &d, err, errlen) < 0) {
		free(buf);
		return -1;
	}
	users = yget(d.root, "users");
	for (size_t i = 0; users && users->type == Y_SEQ && i < users->n; i++) {
		const struct ynode *nm = yget(users->kids[i], "name");

		if (nm && nm->type == Y_SCALAR && !strcmp(nm->val, user))
			cfg = yget(yget(yget(users->kids[i], "user"), "auth-provider"), "config");
	}
	if (!cfg || cfg->type != Y_MAP) {
		snprintf(err, errlen, "%s: user \"%s\" has no auth-provider config any more", file, user);
		goto out;
	}
	if (kedit_for(cfg, "id-token", id_token, &ed[ned]) == 0)
		ned++;
	else
		goto fail;
	if (refresh_token) {
		if (kedit_for(cfg, "refresh-token", refresh_token, &ed[ned]) < 0)
			goto fail;
		ned++;
	}
	/* two insertions before the same first key: one after the other */
	if (ned == 2 && ed[0].at == ed[1].at && !ed[0].len && !ed[1].len) {
		char *t;

		if (asprintf(&t, "%s%s", ed[0].text, ed[1].text) < 0)
			goto fail;
		free(ed[0].text);
		free(ed[1].text);
		ed[0].text = t;
		ned = 1;
	}
	rc = kedit_write(file, buf, len, ed, ned, err, errlen);
	goto out;
fail:
	snprintf(err, errlen, "%s: user \"%s\": cannot place the refreshed tokens", file, user);
out:
	for (size_t i = 0; i < ned; i++) {
		OPENSSL_cleanse(ed[i].text, strlen(ed[i].text));
		free(ed[i].text);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	ydoc_free(&d);
	return rc;
}
