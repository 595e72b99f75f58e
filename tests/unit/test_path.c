/* Unit test for fs/path.c: many paths, valid and not, through pfs_parse,
 * pfs_child, pfs_format and pfs_parent; the format/parse round trip; the
 * Kubernetes name rules at their length limits. */
#include "fs/path.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

static int parse_kind(const char *path)
{
	struct pfs_path p;
	int rc = pfs_parse(path, &p);

	return rc ? rc : (int)p.kind;
}

static void roundtrip(const char *path)
{
	struct pfs_path p, q;
	char buf[4096];

	CHECK_MSG(pfs_parse(path, &p) == 0, "%s", path);
	CHECK_MSG(pfs_format(&p, buf, sizeof(buf)) == 0, "%s", path);
	CHECK_MSG(!strcmp(buf, path), "%s -> %s", path, buf);
	CHECK_MSG(pfs_parse(buf, &q) == 0 && q.kind == p.kind, "%s", path);
}

static void rep(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = 0;
}

int main(void)
{
	struct pfs_path p, c, par;
	char name[600], path[1200];

	/* kinds */
	CHECK(parse_kind("/") == PK_ROOT);
	CHECK(parse_kind("//") == PK_ROOT);
	CHECK(parse_kind("/.podfs") == PK_META_DIR);
	CHECK(parse_kind("/.podfs/status") == PK_META_STATUS);
	CHECK(parse_kind("/.podfs/other") == -ENOENT);
	CHECK(parse_kind("/default") == PK_NS);
	CHECK(parse_kind("/default/") == PK_NS);
	CHECK(parse_kind("/default/web-0") == PK_POD);
	CHECK(parse_kind("/default/web.v1.x") == PK_POD);
	CHECK(parse_kind("/default/web-0/Pod.json") == PK_POD_JSON);
	CHECK(parse_kind("/default/web-0/Status") == PK_POD_STATUS);
	CHECK(parse_kind("/default/web-0/Ports") == PK_PORTS_DIR);
	CHECK(parse_kind("/default/web-0/Ports/8080") == PK_PORT);
	CHECK(parse_kind("/default/web-0/Ports/65535") == PK_PORT);
	CHECK(parse_kind("/default/web-0/Ports/65536") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Ports/0") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Ports/080") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Ports/http") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Ports/8080/x") == -ENOTDIR);
	CHECK(parse_kind("/default/web-0/Proxy") == PK_PROXY_DIR);
	CHECK(parse_kind("/default/web-0/Proxy/80") == PK_PROXY_PORT);
	CHECK(parse_kind("/default/web-0/Proxy/80/index.html") == PK_PROXY_FILE);
	CHECK(parse_kind("/default/web-0/Proxy/80/a/b/C.txt") == PK_PROXY_FILE);
	CHECK(parse_kind("/default/web-0/Proxy/80/a/../b") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Proxy/x") == -ENOENT);
	CHECK(parse_kind("/default/web-0/app") == PK_CONTAINER);
	CHECK(parse_kind("/default/web-0/app/state") == PK_STATE);
	CHECK(parse_kind("/default/web-0/app/log") == PK_LOG);
	CHECK(parse_kind("/default/web-0/app/log.previous") == PK_LOG_PREVIOUS);
	CHECK(parse_kind("/default/web-0/app/log.follow") == PK_LOG_FOLLOW);
	CHECK(parse_kind("/default/web-0/app/stdin") == PK_STDIN);
	CHECK(parse_kind("/default/web-0/app/stdout") == PK_STDOUT);
	CHECK(parse_kind("/default/web-0/app/stderr") == PK_STDERR);
	CHECK(parse_kind("/default/web-0/app/exec") == PK_EXEC_DIR);
	CHECK(parse_kind("/default/web-0/app/exec/new") == PK_EXEC_NEW);
	CHECK(parse_kind("/default/web-0/app/exec/7") == PK_EXEC_SESSION);
	CHECK(parse_kind("/default/web-0/app/exec/7/argv") == PK_EXEC_ARGV);
	CHECK(parse_kind("/default/web-0/app/exec/7/ctl") == PK_EXEC_CTL);
	CHECK(parse_kind("/default/web-0/app/exec/7/stdin") == PK_EXEC_STDIN);
	CHECK(parse_kind("/default/web-0/app/exec/7/stdout") == PK_EXEC_STDOUT);
	CHECK(parse_kind("/default/web-0/app/exec/7/stderr") == PK_EXEC_STDERR);
	CHECK(parse_kind("/default/web-0/app/exec/7/status") == PK_EXEC_STATUS);
	CHECK(parse_kind("/default/web-0/app/exec/7/wait") == PK_EXEC_WAIT);
	CHECK(parse_kind("/default/web-0/app/exec/7/exitcode") == PK_EXEC_EXITCODE);
	CHECK(parse_kind("/default/web-0/app/exec/7/other") == -ENOENT);
	CHECK(parse_kind("/default/web-0/app/exec/Bad") == -ENOENT);
	CHECK(parse_kind("/default/web-0/app/exec/new/x") == -ENOTDIR);
	CHECK(parse_kind("/default/web-0/app/log/x") == -ENOTDIR);
	CHECK(parse_kind("/default/web-0/app/other") == -ENOENT);
	CHECK(parse_kind("/default/web-0/app/Status") == -ENOENT);
	CHECK(parse_kind("/default/web-0/Pod.json/x") == -ENOTDIR);

	/* names that cannot be Kubernetes names */
	CHECK(parse_kind("") == -ENOENT);
	CHECK(parse_kind("default") == -ENOENT);
	CHECK(parse_kind("/Default") == -ENOENT);
	CHECK(parse_kind("/.hidden") == -ENOENT);
	CHECK(parse_kind("/-ns") == -ENOENT);
	CHECK(parse_kind("/ns-") == -ENOENT);
	CHECK(parse_kind("/n_s") == -ENOENT);
	CHECK(parse_kind("/a.b") == -ENOENT);	/* namespaces are labels */
	CHECK(parse_kind("/.") == -ENOENT);
	CHECK(parse_kind("/..") == -ENOENT);
	CHECK(parse_kind("/default/..") == -ENOENT);
	CHECK(parse_kind("/default/.") == -ENOENT);
	CHECK(parse_kind("/default/web..0") == -ENOENT);
	CHECK(parse_kind("/default/.web") == -ENOENT);
	CHECK(parse_kind("/default/web.") == -ENOENT);
	CHECK(parse_kind("/default/Web") == -ENOENT);
	CHECK(parse_kind("/default/web-0/App") == -ENOENT);
	CHECK(parse_kind("/default/web-0/a.b") == -ENOENT);	/* containers are labels */
	CHECK(parse_kind("/default/web-0/pod.json") == -ENOENT);
	CHECK(parse_kind("/default/w\xc3\xa9" "b") == -ENOENT);

	/* length limits: labels 63, subdomains 253, components 255 */
	rep(name, 'a', 63);
	CHECK(pfs_valid_label(name));
	rep(name, 'a', 64);
	CHECK(!pfs_valid_label(name));
	snprintf(path, sizeof(path), "/%s", name);
	CHECK(parse_kind(path) == -ENOENT);
	/* 253-byte subdomain: four 63-byte labels with dots = 255; build 253 */
	rep(name, 'a', 63);
	name[63] = '.';
	rep(name + 64, 'b', 63);
	name[127] = '.';
	rep(name + 128, 'c', 63);
	name[191] = '.';
	rep(name + 192, 'd', 61);
	CHECK(strlen(name) == 253);
	CHECK(pfs_valid_subdomain(name));
	snprintf(path, sizeof(path), "/ns/%s", name);
	CHECK(parse_kind(path) == PK_POD);
	roundtrip(path);
	snprintf(path, sizeof(path), "/ns/%s/app/log", name);
	roundtrip(path);
	strcat(name, "d");	/* 254 */
	CHECK(!pfs_valid_subdomain(name));
	snprintf(path, sizeof(path), "/ns/%s", name);
	CHECK(parse_kind(path) == -ENOENT);
	strcat(name, "d");	/* 255: still a legal file name */
	snprintf(path, sizeof(path), "/ns/%s", name);
	CHECK(parse_kind(path) == -ENOENT);
	strcat(name, "d");	/* 256: too long for any file name */
	snprintf(path, sizeof(path), "/ns/%s", name);
	CHECK(parse_kind(path) == -ENAMETOOLONG);
	rep(name, 'a', 256);
	pfs_root(&p);
	CHECK(pfs_child(&p, name, &c) == -ENAMETOOLONG);
	CHECK(pfs_child(&p, "", &c) == -ENOENT);
	CHECK(pfs_valid_subdomain("a"));
	CHECK(pfs_valid_subdomain("0"));
	CHECK(!pfs_valid_subdomain(""));
	CHECK(!pfs_valid_subdomain("a..b"));
	CHECK(!pfs_valid_label(""));
	CHECK(pfs_parse_port("1") == 1);
	CHECK(pfs_parse_port("") == -1);
	CHECK(pfs_parse_port("99999") == -1);
	CHECK(pfs_parse_port("123456") == -1);
	CHECK(pfs_parse_port("-1") == -1);

	/* pfs_child agrees with pfs_parse, and parents invert children */
	CHECK(pfs_parse("/default/web-0/app", &p) == 0);
	CHECK(pfs_child(&p, "log", &c) == 0 && c.kind == PK_LOG);
	CHECK(!strcmp(c.ns, "default") && !strcmp(c.pod, "web-0") &&
	      !strcmp(c.container, "app"));
	pfs_parent(&c, &par);
	CHECK(par.kind == PK_CONTAINER && !strcmp(par.container, "app"));
	pfs_parent(&par, &c);
	CHECK(c.kind == PK_POD && c.container[0] == 0);
	pfs_parent(&c, &par);
	CHECK(par.kind == PK_NS && par.pod[0] == 0);
	pfs_parent(&par, &c);
	CHECK(c.kind == PK_ROOT);
	CHECK(pfs_parse("/default/web-0/Proxy/80/a/b", &p) == 0);
	CHECK(!strcmp(p.proxy_path, "a/b") && p.proxy_port == 80);
	pfs_parent(&p, &par);
	CHECK(par.kind == PK_PROXY_FILE && !strcmp(par.proxy_path, "a"));
	pfs_parent(&par, &c);
	CHECK(c.kind == PK_PROXY_PORT);
	CHECK(pfs_child(&c, "x", &p) == 0 && pfs_child(&p, "y", &par) == 0);
	CHECK(par.kind == PK_PROXY_FILE && !strcmp(par.proxy_path, "x/y"));
	CHECK(pfs_parse("/default/web-0/Ports/8080", &p) == 0 && p.port == 8080);
	pfs_parent(&p, &c);
	CHECK(c.kind == PK_PORTS_DIR);

	/* round trips */
	roundtrip("/");
	roundtrip("/.podfs");
	roundtrip("/.podfs/status");
	roundtrip("/kube-system");
	roundtrip("/default/web-0/Pod.json");
	roundtrip("/default/web-0/Status");
	roundtrip("/default/web-0/Ports/443");
	roundtrip("/default/web-0/Proxy/80/a/b.html");
	roundtrip("/default/web-0/sidecar/log.previous");
	roundtrip("/default/web-0/app/exec/new");
	roundtrip("/default/web-0/app/exec/12/exitcode");
	CHECK(pfs_format(&p, path, 4) == -ENAMETOOLONG);

	for (int k = 0; k < PK__COUNT; k++)
		CHECK(pfs_kind_name(k)[0] != '?');
	return check_report("test_path");
}
