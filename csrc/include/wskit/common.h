/* wskit common definitions: error codes, roles, opcodes, byte buffers.
 *
 * Every wskit function that can fail returns 0 (or a non-negative count) on
 * success and a negative WSK_E* code on failure; wsk_strerror() turns the
 * code into text. There is no global state and no errno. */
#ifndef WSKIT_COMMON_H
#define WSKIT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_VERSION_STRING "0.1.0"

/* Error codes. Stable values: bindings may expose them by number. */
enum {
  WSK_OK = 0,
  WSK_ENOMEM = -1,      /* allocation failed */
  WSK_EINVAL = -2,      /* bad argument from the caller */
  WSK_ESTATE = -3,      /* call not valid in the connection's current state */
  WSK_ECLOSED = -4,     /* the connection is closing or closed */
  WSK_EPROTO = -5,      /* the peer broke the WebSocket protocol */
  WSK_EUTF8 = -6,       /* invalid UTF-8 */
  WSK_E2BIG = -7,       /* a size limit was crossed */
  WSK_EHTTP = -8,       /* malformed HTTP head */
  WSK_EHANDSHAKE = -9,  /* the opening handshake was refused or invalid */
  WSK_EZLIB = -10,      /* zlib failed, or compressed data was corrupt */
  WSK_ENOTFOUND = -11,  /* no such entry (request id, channel member) */
  WSK_EEXIST = -12,     /* entry already present */
  WSK_ETIMEDOUT = -13,  /* a deadline passed */
  WSK_ECANCELED = -14,  /* cancelled (e.g. pending request on disconnect) */
  WSK_EBUSY = -15,      /* send buffer over its limit; try after draining */
  WSK_EAGAIN = -16,     /* need more input */
  WSK_ECRYPTO = -17,    /* libcrypto failed (random bytes, SHA-1) */
  WSK_EURL = -18,       /* malformed or unsupported URL */
  WSK_EIO = -19         /* the operating system or network failed (a driver
                           keeps the system's own text for the log) */
};

/* Text for an error code; never NULL, static storage. */
const char *wsk_strerror(int err);
/* Short symbolic name ("EPROTO") for an error code; never NULL. */
const char *wsk_err_name(int err);

typedef enum { WSK_ROLE_CLIENT = 0, WSK_ROLE_SERVER = 1 } wsk_role_t;

/* RFC 6455 opcodes. */
typedef enum {
  WSK_OP_CONT = 0x0,
  WSK_OP_TEXT = 0x1,
  WSK_OP_BINARY = 0x2,
  WSK_OP_CLOSE = 0x8,
  WSK_OP_PING = 0x9,
  WSK_OP_PONG = 0xA
} wsk_opcode_t;

/* RFC 6455 section 7.4.1 status codes used by the core. */
enum {
  WSK_CLOSE_NORMAL = 1000,
  WSK_CLOSE_GOING_AWAY = 1001,
  WSK_CLOSE_PROTOCOL_ERROR = 1002,
  WSK_CLOSE_UNSUPPORTED = 1003,
  WSK_CLOSE_NO_STATUS = 1005,   /* never sent: close frame had no code */
  WSK_CLOSE_ABNORMAL = 1006,    /* never sent: no close frame at all */
  WSK_CLOSE_INVALID_DATA = 1007,
  WSK_CLOSE_POLICY = 1008,
  WSK_CLOSE_TOO_BIG = 1009,
  WSK_CLOSE_MANDATORY_EXT = 1010,
  WSK_CLOSE_INTERNAL_ERROR = 1011,
  WSK_CLOSE_SERVICE_RESTART = 1012,
  WSK_CLOSE_TRY_AGAIN_LATER = 1013,
  WSK_CLOSE_BAD_GATEWAY = 1014
};

/* 1 if `code` may appear in a close frame on the wire (RFC 6455 7.4). */
int wsk_close_code_valid(unsigned code);

/* A growable byte buffer. `data` is malloc'd (free with wsk_buf_free);
 * bytes [off, len) are pending, [0, off) were consumed. A zeroed struct is
 * a valid empty buffer. */
typedef struct wsk_buf {
  uint8_t *data;
  size_t off;
  size_t len;
  size_t cap;
} wsk_buf_t;

/* Make room for `n` more bytes at data+len; returns data+len or NULL. */
uint8_t *wsk_buf_reserve(wsk_buf_t *b, size_t n);
int wsk_buf_append(wsk_buf_t *b, const void *p, size_t n);
int wsk_buf_append_str(wsk_buf_t *b, const char *s);
/* Mark `n` pending bytes consumed; when nothing is left pending the buffer
 * rewinds, and its memory is released if it is larger than `keep` bytes. */
void wsk_buf_consume(wsk_buf_t *b, size_t n, size_t keep);
void wsk_buf_free(wsk_buf_t *b);
static inline size_t wsk_buf_pending(const wsk_buf_t *b) { return b->len - b->off; }

/* Source of random bytes: fill out[0..n), return 0 or a negative error.
 * Used for client masking keys, Sec-WebSocket-Key and backoff jitter. NULL
 * wherever one is accepted means libcrypto's RAND_bytes. */
typedef int (*wsk_random_fn)(void *ud, uint8_t *out, size_t n);
int wsk_random_default(void *ud, uint8_t *out, size_t n);

/* free() for memory the core hands to the caller (wsk_conn_output_take). */
void wsk_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
