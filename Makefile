# podfs build.  `make` builds ./podfs; `make check` installs what is missing,
# builds a sanitizer variant and runs every test; `make demo` mounts the
# bundled fixture cluster at ./mnt.

PKGS    := fuse3 libcurl openssl libcjson yaml-0.1
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=gnu11 $(WARN) -D_GNU_SOURCE -DFUSE_USE_VERSION=35 -I. $(PKG_CFLAGS) $(CFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread

STREAM_SRC := $(sort $(wildcard stream/*.c))
FS_SRC     := $(sort $(wildcard fs/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))

# Normal build in build/, sanitizer build (ASan + UBSan) in build/san/.
B  := build
SB := build/san
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

STREAM_OBJ  := $(STREAM_SRC:%.c=$(B)/%.o)
FS_OBJ      := $(FS_SRC:%.c=$(B)/%.o)
SSTREAM_OBJ := $(STREAM_SRC:%.c=$(SB)/%.o)
SFS_OBJ     := $(FS_SRC:%.c=$(SB)/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(SB)/tests/%)

.PHONY: all deps check check-clang check-cluster unit demo demo-cluster demo-stop clean install uninstall fuzz fuzz-build tsan bench
all: podfs

# Installation: `make install PREFIX=/usr DESTDIR=/tmp/pkg`.  The mount
# helper link lets mount(8) run fstab lines of type fuse.podfs
# (mount.fuse3 takes the type from its own name); mount(8) looks for it
# in /sbin, so set MOUNT_HELPER_DIR=/sbin when PREFIX is not /usr.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
MOUNT_HELPER_DIR ?= $(PREFIX)/sbin
MOUNT_FUSE ?= mount.fuse3
INSTALL ?= install
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

podfs: $(FS_OBJ) $(STREAM_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/podfs-san: $(SFS_OBJ) $(SSTREAM_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(SB)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# Unit tests link against the stream/ objects and the fs/ objects that are
# free of FUSE callbacks (everything but main.c).
$(SB)/tests/%: tests/unit/%.c tests/unit/check.h $(SSTREAM_OBJ) $(filter-out $(SB)/fs/main.o,$(SFS_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(SSTREAM_OBJ) $(filter-out $(SB)/fs/main.o,$(SFS_OBJ)) $(LDLIBS) -lwslay

# The corpus replay includes the fuzz targets' sources.
$(SB)/tests/test_fuzz_replay: $(wildcard tests/fuzz/fuzz_*.c)

deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN)

check: deps
	@$(MAKE) --no-print-directory all $(B)/podfs-san $(TB)/podfs unit
	@tests/run

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh start

demo-stop:
	@tests/demo.sh stop
	@/usr/bin/python3 tests/cluster/check.py demo-stop

# A real single-node Kubernetes built from source (tests/cluster/, README
# "A real cluster"): `make check-cluster` runs the integration suites on it
# and ends with `N passed, N failed` (or `check-cluster: skipped: <reason>`
# where it cannot run); `make demo-cluster` mounts it at ./mnt-cluster.
check-cluster: deps
	@$(MAKE) --no-print-directory all $(B)/podfs-san
	@/usr/bin/python3 tests/cluster/check.py check

demo-cluster: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/cluster/check.py demo

# ThreadSanitizer build of podfs in build/tsan/; `make tsan` runs every
# streaming suite on it (test_streams, test_exec, test_ports with the proxy
# cases, test_faults: the multiplexer, the buffers and the FUSE threads meet
# there) through tests/integ/test_tsan.py.  Any ThreadSanitizer report in
# any podfs log of the run (a race, a lock-order inversion) fails it; the
# logs are kept in build/tsan/podfs.log.
TB   := build/tsan
TSAN := -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJ := $(STREAM_SRC:%.c=$(TB)/%.o) $(FS_SRC:%.c=$(TB)/%.o)

$(TB)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TSAN) -c -o $@ $<

$(TB)/podfs: $(TSAN_OBJ)
	$(CC) $(CFLAGS) $(TSAN) -o $@ $^ $(LDLIBS)

tsan: deps
	@$(MAKE) --no-print-directory $(TB)/podfs
	/usr/bin/python3 tests/integ/test_tsan.py

# libFuzzer targets (clang): tests/fuzz/fuzz_*.c, each linked with the
# stream/ objects and fs/path.c, fs/nodes.c built with ASan, UBSan and coverage.
# `make fuzz` builds them and fuzzes each for FUZZ_SECONDS (default 60)
# on its corpus in tests/fuzz/corpus/<target>/; longer runs: see
# docs/reliability.md.  `make check` replays the corpora with gcc
# (tests/unit/test_fuzz_replay.c), so clang is needed only here.
FB        := build/fuzz
FUZZ_CC   ?= clang
FUZZ_SAN  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
FUZZ_OBJ  := $(STREAM_SRC:%.c=$(FB)/%.o) $(FB)/fs/path.o $(FB)/fs/nodes.o
FUZZ_SECONDS ?= 60

$(FB)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) -Wno-unknown-warning-option $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "podfs: installing clang for make fuzz"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q clang libclang-rt-14-dev >/dev/null; }
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@for t in $(FUZZ_BIN); do n=$$(basename $$t); \
		mkdir -p tests/fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		    -artifact_prefix=$(FB)/$$n- tests/fuzz/corpus/$$n \
		    2>$(FB)/$$n.log || { tail -n 40 $(FB)/$$n.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|Done' $(FB)/$$n.log; \
	done
install: podfs
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MOUNT_HELPER_DIR) \
		$(DESTDIR)$(COMPLETIONDIR)
	$(INSTALL) -m 755 podfs $(DESTDIR)$(BINDIR)/podfs
	$(INSTALL) -m 644 docs/podfs.1 $(DESTDIR)$(MANDIR)/man1/podfs.1
	$(INSTALL) -m 644 contrib/podfs.bash-completion $(DESTDIR)$(COMPLETIONDIR)/podfs
	ln -sf $(shell command -v $(MOUNT_FUSE) 2>/dev/null || echo /sbin/$(MOUNT_FUSE)) \
		$(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.podfs

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/podfs $(DESTDIR)$(MANDIR)/man1/podfs.1 \
		$(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.podfs $(DESTDIR)$(COMPLETIONDIR)/podfs

# podfs with clang, warnings as errors, then the unit tests with clang (their
# warnings shown, not fatal), in build/clang; not part of `make check`.
check-clang:
	@$(MAKE) --no-print-directory CC=clang B=build/clang SB=build/clang/san \
		CFLAGS="-O2 -g -Werror" build/clang/podfs
	build/clang/podfs --version
	@$(MAKE) --no-print-directory CC=clang B=build/clang SB=build/clang/san unit

$(B)/podfs: $(FS_OBJ) $(STREAM_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmarks against kubectl (docs/benchmarks.md); never part of `make check`.
$(B)/noopfs: bench/noopfs.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(PKG_LIBS)

# The floor client links podfs's own codecs (and what they use), not copies.
FLOOR_OBJ := $(addprefix $(B)/stream/,wsframe.o channel.o k8s.o log.o)
$(B)/floor: bench/floor.c $(FLOOR_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

bench: all $(B)/noopfs $(B)/floor
	@bench/run $(BENCH_ARGS)

clean:
	rm -rf $(B) podfs
