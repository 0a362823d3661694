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

$(B)/asan/%: tests/c/%.c $(wildcard tests/c/*.h) $(PROTO_SRC) $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) $(WERROR) $< $(PROTO_SRC) -o $@ $(LDLIBS)

test-c: $(TEST_BIN)
	@sh tests/c/run.sh c $(TEST_BIN)

asan: $(ASAN_BIN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/c/run.sh asan $(ASAN_BIN)

# ---- libFuzzer targets ----
$(B)/fuzz/%: tests/fuzz/%.c $(PROTO_SRC) $(PROTO_HDR)
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(WARN) $(WERROR) $< $(PROTO_SRC) -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# ---- benchmarks ----
$(B)/bench/%: bench/%.c $(B)/libwskit.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O3 -march=native $(WARN) $< -o $@ $(B)/libwskit.a $(LDLIBS)

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b || exit 1; done

test: lib
	@sh tests/run_all.sh test-c asan fuzz

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/wskit $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 csrc/include/wskit/*.h $(DESTDIR)$(PREFIX)/include/wskit/
	install -m 644 $(B)/libwskit.a $(B)/libwskit.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(B)/wskit.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

clean:
	rm -rf $(B)
