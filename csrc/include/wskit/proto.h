/* wskit sans-I/O core: everything. */
#ifndef WSKIT_PROTO_H
#define WSKIT_PROTO_H
#include "common.h"
#include "utf8.h"
#include "frame.h"
#include "http.h"
#include "deflate.h"
#include "handshake.h"
#include "conn.h"
#include "reconnect.h"
#include "rpc.h"
#include "channels.h"
#include "proxy.h"
#include "chanproto.h"
#include "hub.h"
#include "backplane.h"
#include "sse.h"
#include "ratelimit.h"
#endif
