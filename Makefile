# wskit build. `make` builds the C core; `make test` runs every test.
CC      ?= cc
CLANG   ?= clang
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -std=c99 -D_POSIX_C_SOURCE=200809L
WERROR  ?= -Werror
CPPFLAGS += -Icsrc/include
LDLIBS  := -lz -lcrypto
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 30
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

B := build
PROTO_SRC := $(sort $(wildcard csrc/proto/*.c))
PROTO_HDR := $(wildcard csrc/include/wskit/*.h) $(wildcard csrc/proto/*.h)
PROTO_OBJ := $(PROTO_SRC:csrc/proto/%.c=$(B)/obj/%.o)
TEST_SRC  := $(sort $(wildcard tests/c/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/c/%.c=$(B)/tests/%)
ASAN_BIN  := $(TEST_SRC:tests/c/%.c=$(B)/asan/%)
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
BENCH_SRC := $(sort $(wildcard bench/core_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all lib test test-c asan fuzz fuzz-build bench clean install

all: lib
lib: $(B)/libwskit.a $(B)/libwskit.so $(B)/wskit.pc

$(B)/obj/%.o: csrc/proto/%.c $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) -fPIC -fvisibility=default -c $< -o $@

$(B)/libwskit.a: $(PROTO_OBJ)
	rm -f $@; ar rcs $@ $^

$(B)/libwskit.so: $(PROTO_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS)

$(B)/wskit.pc: wskit.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' $< > $@

# ---- C tests, plain and under ASan+UBSan ----
$(B)/tests/%: tests/c/%.c $(wildcard tests/c/*.h) $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit.a $(LDLIBS)

# clang: its UBSan also catches arithmetic on NULL pointers, which gcc's misses
$(B)/asan/%: tests/c/%.c $(wildcard tests/c/*.h) $(PROTO_SRC) $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) $(WERROR) $< $(PROTO_SRC) -o $@ $(LDLIBS)

test-c: $(TEST_BIN)
	@sh tests/c/run.sh c $(TEST_BIN)

asan: $(ASAN_BIN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/c/run.sh asan $(ASAN_BIN)

# ---- csrc/uv units that need no libuv: TLS (OpenSSL memory BIOs) and ----
# ---- JSON-RPC envelopes (jansson). tests/uv/test_<unit>.c is built against ----
# ---- csrc/uv/<unit>.c and the core, plain and under ASan+UBSan.        ----
UV_UNITS      := tls jsonrpc
UV_UNIT_LIBS  := -lssl -lcrypto -ljansson -lz
UV_UNIT_BIN   := $(UV_UNITS:%=$(B)/uv-units/test_%)
UV_UNIT_ASAN  := $(UV_UNITS:%=$(B)/uv-units-asan/test_%)

$(B)/uv-units/test_%: tests/uv/test_%.c csrc/uv/%.c csrc/uv/%.h tests/c/testlib.h $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv $(CFLAGS) $(WARN) $(WERROR) $< csrc/uv/$*.c -o $@ $(B)/libwskit.a $(UV_UNIT_LIBS)

$(B)/uv-units-asan/test_%: tests/uv/test_%.c csrc/uv/%.c csrc/uv/%.h tests/c/testlib.h $(PROTO_SRC) $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv -O1 -g $(SAN) $(WARN) $(WERROR) $< csrc/uv/$*.c $(PROTO_SRC) -o $@ $(UV_UNIT_LIBS)

.PHONY: test-uv-units
test-uv-units: $(UV_UNIT_BIN) $(UV_UNIT_ASAN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/c/run.sh uv-units $(UV_UNIT_BIN) $(UV_UNIT_ASAN)
# ---- end of csrc/uv units ----

# ---- libuv driver (csrc/uv): libwskit_uv, examples, driver tests ----
UV_SRC      := $(sort $(wildcard csrc/uv/*.c))
UV_HDR      := $(PROTO_HDR) $(wildcard csrc/uv/*.h)
UV_OBJ      := $(UV_SRC:csrc/uv/%.c=$(B)/uvobj/%.o)
UV_LIBS     := -luv -lhiredis -lssl -lcrypto -ljansson -lz
UV_EX_SRC   := $(sort $(wildcard examples/c/*.c))
UV_EX_BIN   := $(UV_EX_SRC:examples/c/%.c=$(B)/examples/%)
UV_EX_ASAN  := $(UV_EX_SRC:examples/c/%.c=$(B)/examples-asan/%)
UV_TEST_SRC := $(sort $(wildcard tests/uv/uv_*.c))
UV_TEST_BIN := $(UV_TEST_SRC:tests/uv/%.c=$(B)/uv-tests/%)
UV_TEST_ASAN := $(UV_TEST_SRC:tests/uv/%.c=$(B)/uv-asan/%)

.PHONY: uv examples test-uv asan-uv
uv: $(B)/libwskit_uv.a $(B)/libwskit_uv.so

$(B)/uvobj/%.o: csrc/uv/%.c $(UV_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) -fPIC -c $< -o $@

$(B)/libwskit_uv.a: $(UV_OBJ)
	rm -f $@; ar rcs $@ $^

$(B)/libwskit_uv.so: $(UV_OBJ) $(B)/libwskit.so
	$(CC) -shared -o $@ $(UV_OBJ) -L$(B) -lwskit $(UV_LIBS)

examples: $(UV_EX_BIN)

$(B)/examples/%: examples/c/%.c $(B)/libwskit_uv.a $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS)

$(B)/examples-asan/%: examples/c/%.c $(UV_SRC) $(UV_HDR) $(PROTO_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv -O1 -g $(SAN) $(WARN) $(WERROR) $< $(UV_SRC) $(PROTO_SRC) -o $@ $(UV_LIBS)

$(B)/uv-tests/%: tests/uv/%.c $(wildcard tests/uv/*.h) $(B)/libwskit_uv.a $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS)

$(B)/uv-asan/%: tests/uv/%.c $(wildcard tests/uv/*.h) $(UV_SRC) $(UV_HDR) $(PROTO_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv -O1 -g $(SAN) $(WARN) $(WERROR) $< $(UV_SRC) $(PROTO_SRC) -o $@ $(UV_LIBS)

# servers and clients the pytest suite drives (tests/uv/peer_*.c), built
# next to the examples (plain and ASan) so the suite finds them there
UV_PEER_SRC  := $(sort $(wildcard tests/uv/peer_*.c))
UV_PEER_BIN  := $(UV_PEER_SRC:tests/uv/%.c=$(B)/examples/%)
UV_PEER_ASAN := $(UV_PEER_SRC:tests/uv/%.c=$(B)/examples-asan/%)

$(B)/examples/peer_%: tests/uv/peer_%.c $(B)/libwskit_uv.a $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS)

$(B)/examples-asan/peer_%: tests/uv/peer_%.c $(UV_SRC) $(UV_HDR) $(PROTO_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Icsrc/uv -O1 -g $(SAN) $(WARN) $(WERROR) $< $(UV_SRC) $(PROTO_SRC) -o $@ $(UV_LIBS)

# C driver tests, then the pytest suite against real peers (websockets, ws)
test-uv: $(UV_TEST_BIN) $(UV_EX_BIN) $(UV_PEER_BIN)
	@sh tests/uv/run.sh uv $(B)/examples $(UV_TEST_BIN)

# the same under ASan+UBSan (leaks included), examples too
asan-uv: $(UV_TEST_ASAN) $(UV_EX_ASAN) $(UV_PEER_ASAN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/uv/run.sh asan-uv $(B)/examples-asan $(UV_TEST_ASAN)
# ---- end of libuv driver ----

# ---- C benchmarks of the libuv driver: bench/loadgen.c, bench/raw_echo.c ----
# `make bench-c` builds the load generator and the raw TCP echo server and
# runs bench/run_c_bench.py (ours vs raw TCP vs node ws; idle memory; a few
# minutes; BENCH_C_ARGS passes options, e.g. --rounds 5). Results are in
# docs/benchmarks.md. Not part of `make test`: test-uv only builds the two
# and smoke-tests them (tests/uv/test_loadgen_smoke.py).
BENCH_C_BIN := $(B)/bench/loadgen $(B)/bench/raw_echo
.PHONY: bench-c bench-c-build
bench-c-build: $(BENCH_C_BIN) $(UV_EX_BIN)

$(B)/bench/loadgen: bench/loadgen.c $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS)

$(B)/bench/raw_echo: bench/raw_echo.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(WERROR) $< -o $@

bench-c: bench-c-build
	@/usr/bin/python3 bench/run_c_bench.py $(BENCH_C_ARGS)

test-uv asan-uv: $(BENCH_C_BIN)
# ---- end of C benchmarks of the libuv driver ----

# ---- OpenResty driver (lua/resty/wskit) and its C module wskit.proto ----
# wskit.proto links the core only (no libuv). Built against LuaJIT 2.1's
# headers for OpenResty (build/lua/wskit/proto.so) and Lua 5.4's for the
# plain-Lua unit tests (build/lua54/wskit/proto.so).
LUAPROTO_SRC := $(sort $(wildcard lua/wskit/proto_*.c))
LUAPROTO_HDR := $(PROTO_HDR) $(wildcard lua/wskit/proto_*.h)
LUAJIT_INC   ?= /usr/include/luajit-2.1
LUA54_INC    ?= /usr/include/lua5.4

.PHONY: lua-proto test-openresty bench-openresty
lua-proto: $(B)/lua/wskit/proto.so $(B)/lua54/wskit/proto.so

$(B)/lua/wskit/proto.so: $(LUAPROTO_SRC) $(LUAPROTO_HDR) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUAJIT_INC) $(CFLAGS) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUAPROTO_SRC) $(PROTO_OBJ) $(LDLIBS)

$(B)/lua54/wskit/proto.so: $(LUAPROTO_SRC) $(LUAPROTO_HDR) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUA54_INC) $(CFLAGS) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUAPROTO_SRC) $(PROTO_OBJ) $(LDLIBS)

# the Lua 5.4 build again under ASan+UBSan, for the unit tests
$(B)/lua54-asan/wskit/proto.so: $(LUAPROTO_SRC) $(LUAPROTO_HDR) $(PROTO_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUA54_INC) -O1 -g $(SAN) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUAPROTO_SRC) $(PROTO_SRC) $(LDLIBS)

# unit tests of wskit.proto (LuaJIT, Lua 5.4, Lua 5.4 + ASan), then
# nginx + real peers
test-openresty: lua-proto $(B)/lua54-asan/wskit/proto.so venv
	@sh tests/openresty/run.sh openresty

bench-openresty: lua-proto
	@/usr/bin/python3 bench/openresty_echo.py
# ---- end of OpenResty driver ----

# ---- Python package (python/wskit): build into .venv, pytest against real peers ----
.PHONY: test-py venv
test-py:
	@sh tests/python/run.sh

# the package alone, built into .venv (other suites drive it as a peer)
venv:
	@test -x .venv/bin/python || /usr/bin/python3 -m venv --system-site-packages .venv
	@.venv/bin/pip install -q --no-build-isolation --no-deps --no-index -e .
# ---- end of Python package ----

# ---- channel fan-out, in memory and through Redis: bench/fanout_bench.py ----
.PHONY: bench-fanout
bench-fanout: lib uv examples venv
	.venv/bin/python bench/fanout_bench.py $(BENCH_FANOUT_ARGS)

# ---- Python driver benchmark: bench/python_bench.py ----
# `make bench-py` builds what it needs (lib, uv, examples, the C loadgen into
# build/bench-py/, .venv when missing) and runs wskit / websockets / aiohttp
# echo servers (asyncio and uvloop) under the C loadgen, the Python clients
# against the C echo server, and idle memory per connection; ~3-4 minutes.
# BENCH_PY_ARGS passes options (--rounds 3, --pipelined, --duration 5).
# Results are in docs/benchmarks.md. Not part of `make test`.
.PHONY: bench-py
bench-py: lib uv examples venv
	@/usr/bin/python3 bench/python_bench.py $(BENCH_PY_ARGS)
# ---- end of Python driver benchmark ----

# ---- demo: `make demo`, the README's first command ----
# Installs the Debian packages the Python package needs when missing (as
# root, or with sudo), builds it into .venv as test-py does, then runs
# `wskit serve --chat` and prints the page to open. DEMO_HOST / DEMO_PORT
# choose the address (0.0.0.0 to reach it from other machines); DEMO_ARGS
# adds serve options, e.g. a second instance sharing the rooms through
# Redis: make demo DEMO_PORT=8766 DEMO_ARGS="--redis redis://127.0.0.1:6379/0 --no-bot"
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8765
DEMO_ARGS ?=
.PHONY: demo
demo:
	@HOST='$(DEMO_HOST)' PORT='$(DEMO_PORT)' ARGS='$(DEMO_ARGS)' sh python/demo.sh
# ---- end of demo ----

# ---- plain Lua (lua/wskit): the C module wskit.core over the libuv driver ----
# One build per Lua ABI: 5.1 (also loaded by LuaJIT 2.1) and 5.4, under
# build/lua5.x/wskit/core.so; tests/lua/run.sh runs busted on each
# interpreter and prints "lua: N passed, M failed".
LUACORE_SRC := $(sort $(wildcard lua/wskit/core_*.c))
LUACORE_HDR := $(UV_HDR) lua/wskit/core_lua.h
LUA51_INC   ?= /usr/include/lua5.1
LUACORE_SO  := $(B)/lua5.1/wskit/core.so $(B)/lua5.4/wskit/core.so

.PHONY: lua-core test-lua
lua-core: $(LUACORE_SO)

$(B)/lua5.1/wskit/core.so: $(LUACORE_SRC) $(LUACORE_HDR) $(B)/libwskit_uv.a $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUA51_INC) $(CFLAGS) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUACORE_SRC) $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS) -ldl

$(B)/lua5.4/wskit/core.so: $(LUACORE_SRC) $(LUACORE_HDR) $(B)/libwskit_uv.a $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUA54_INC) $(CFLAGS) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUACORE_SRC) $(B)/libwskit_uv.a $(B)/libwskit.a $(UV_LIBS) -ldl

test-lua: $(LUACORE_SO) $(UV_EX_BIN)
	@sh tests/lua/run.sh

# the in-process specs on Lua 5.4 with wskit.core under ASan+UBSan
$(B)/lua5.4-asan/wskit/core.so: $(LUACORE_SRC) $(LUACORE_HDR) $(UV_SRC) $(PROTO_SRC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -isystem $(LUA54_INC) -O1 -g $(SAN) $(WARN) $(WERROR) -fPIC -shared \
	  -o $@ $(LUACORE_SRC) $(UV_SRC) $(PROTO_SRC) $(UV_LIBS) -ldl

.PHONY: asan-lua
asan-lua: $(B)/lua5.4-asan/wskit/core.so
	@sh tests/lua/run.sh asan
# ---- end of plain Lua ----

# ---- libFuzzer targets ----
$(B)/fuzz/%: tests/fuzz/%.c $(PROTO_SRC) $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(WARN) $(WERROR) $< $(PROTO_SRC) -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# ---- backplane: the Redis Lua scripts run in a real redis-server ----
# build/backplane/scripts_helper hands the C script constants and the
# envelope code to tests/backplane/test_scripts.py (pytest).
.PHONY: test-backplane
$(B)/backplane/scripts_helper: tests/backplane/scripts_helper.c $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $< -o $@ $(B)/libwskit.a $(LDLIBS)

test-backplane: $(B)/backplane/scripts_helper
	@sh tests/backplane/run.sh
# ---- end of backplane ----

# ---- benchmarks ----
$(B)/bench/%: bench/%.c $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O3 -march=native $(WARN) $< -o $@ $(B)/libwskit.a $(LDLIBS)

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b || exit 1; done

test: lib
	@sh tests/run_all.sh test-c asan test-uv-units test-uv asan-uv test-py fuzz test-openresty test-lua \
	  test-backplane test-scaleout

# several instances (Python, C, OpenResty) behind nginx (ip_hash) sharing
# a redis-server: docs/scaling.md
.PHONY: test-scaleout
test-scaleout: venv lib examples lua-proto
	@sh tests/scaleout/run.sh

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/wskit $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 csrc/include/wskit/*.h $(DESTDIR)$(PREFIX)/include/wskit/
	install -m 644 $(B)/libwskit.a $(B)/libwskit.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(B)/wskit.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

clean:
	rm -rf $(B)
