# Build of the Lua C modules for luarocks (wskit-*.rockspec, build type
# "make"): wskit.core (the libuv driver, csrc/uv + csrc/proto) and
# wskit.proto (the core only, for OpenResty), against the Lua headers
# luarocks chose (LUA_INCDIR), then the Lua modules. Everything is rebuilt
# each time so one checkout can serve several Lua versions in turn.
CC         ?= cc
CFLAGS     ?= -O2 -fPIC
LIBFLAG    ?= -shared
LUA_INCDIR ?= /usr/include/lua5.1
OUT        := build/rock

INC  := -Icsrc/include -Icsrc/uv -I$(LUA_INCDIR)
LIBS :=
ifdef LIBUV_INCDIR
INC  += -I$(LIBUV_INCDIR)
LIBS += -L$(LIBUV_LIBDIR)
endif
ifdef OPENSSL_INCDIR
INC  += -I$(OPENSSL_INCDIR)
LIBS += -L$(OPENSSL_LIBDIR)
endif
ifdef JANSSON_INCDIR
INC  += -I$(JANSSON_INCDIR)
LIBS += -L$(JANSSON_LIBDIR)
endif
ifdef HIREDIS_INCDIR
INC  += -I$(HIREDIS_INCDIR)
LIBS += -L$(HIREDIS_LIBDIR)
endif
ifdef ZLIB_INCDIR
INC  += -I$(ZLIB_INCDIR)
LIBS += -L$(ZLIB_LIBDIR)
endif

STD        := -std=c99 -D_POSIX_C_SOURCE=200809L
PROTO_SRC  := $(sort $(wildcard csrc/proto/*.c))
UV_SRC     := $(sort $(wildcard csrc/uv/*.c))
CORE_SRC   := $(sort $(wildcard lua/wskit/core_*.c))
LPROTO_SRC := $(sort $(wildcard lua/wskit/proto_*.c))

.PHONY: build install
build:
	@rm -rf $(OUT); mkdir -p $(OUT)/wskit
	$(CC) $(CFLAGS) -fPIC $(STD) $(INC) $(LIBFLAG) -o $(OUT)/wskit/core.so \
	  $(CORE_SRC) $(UV_SRC) $(PROTO_SRC) $(LIBS) -luv -lhiredis -lssl -lcrypto -ljansson -lz -ldl
	$(CC) $(CFLAGS) -fPIC $(STD) $(INC) $(LIBFLAG) -o $(OUT)/wskit/proto.so \
	  $(LPROTO_SRC) $(PROTO_SRC) $(LIBS) -lcrypto -lz

install:
	mkdir -p $(INST_LIBDIR)/wskit $(INST_LUADIR)/wskit $(INST_LUADIR)/resty/wskit
	cp $(OUT)/wskit/core.so $(OUT)/wskit/proto.so $(INST_LIBDIR)/wskit/
	cp lua/wskit/*.lua $(INST_LUADIR)/wskit/
	cp lua/resty/wskit/*.lua $(INST_LUADIR)/resty/wskit/
