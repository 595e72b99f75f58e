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

.PHONY: all deps check check-clang unit demo demo-stop clean install uninstall fuzz bench
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

deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN)

check: deps
	@$(MAKE) --no-print-directory all $(B)/podfs-san unit
	@tests/run

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh start

demo-stop:
	@tests/demo.sh stop

install: podfs
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MOUNT_HELPER_DIR)
	$(INSTALL) -m 755 podfs $(DESTDIR)$(BINDIR)/podfs
	$(INSTALL) -m 644 docs/podfs.1 $(DESTDIR)$(MANDIR)/man1/podfs.1
	ln -sf $(shell command -v $(MOUNT_FUSE) 2>/dev/null || echo /sbin/$(MOUNT_FUSE)) \
		$(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.podfs

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/podfs $(DESTDIR)$(MANDIR)/man1/podfs.1 \
		$(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.podfs

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

bench: all $(B)/noopfs
	@bench/run $(BENCH_ARGS)

clean:
	rm -rf $(B) podfs
