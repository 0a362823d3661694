/* HTTP/1.1 head parsing and building for the WebSocket opening handshake.
 *
 * The parser is incremental (feed any split of the bytes), bounded (line
 * size, total size, header count), strict (no obs-fold, bare CR, NUL, space
 * before the colon, missing Host on requests, duplicated single-valued
 * headers) and linear in its input. It stops at the end of the head: bytes
 * after the blank line are not consumed, so a caller hands them to the
 * frame parser (e.g. frames that arrive together with a 101 response). */
#ifndef WSKIT_HTTP_H
#define WSKIT_HTTP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { WSK_HTTP_REQUEST = 0, WSK_HTTP_RESPONSE = 1 } wsk_http_kind_t;

typedef struct wsk_http_limits {
  size_t max_line;    /* longest request/status/header line, default 8192 */
  size_t max_head;    /* whole head including the blank line, default 16384 */
  size_t max_headers; /* number of header fields, default 128 */
} wsk_http_limits_t;

void wsk_http_limits_init(wsk_http_limits_t *l);

typedef struct wsk_http_header {
  const char *name;  /* NUL-terminated, as received (compare case-insensitively) */
  size_t name_len;
  const char *value; /* NUL-terminated, leading/trailing whitespace removed */
  size_t value_len;
} wsk_http_header_t;

/* A parsed head. All strings point into memory owned by the parser and stay
 * valid until wsk_http_parser_reset()/wsk_http_parser_free(). */
typedef struct wsk_http_head {
  wsk_http_kind_t kind;
  const char *method;  /* requests: "GET" ... */
  const char *target;  /* requests: request-target, e.g. "/chat?x=1" */
  int version_minor;   /* HTTP/1.<minor> */
  int status;          /* responses: 3-digit status code */
  const char *reason;  /* responses: reason phrase (may be empty) */
  size_t nheaders;
  wsk_http_header_t *headers;
} wsk_http_head_t;

typedef struct wsk_http_parser wsk_http_parser_t;

/* Allocate a parser for a request or a response head. `limits` may be NULL
 * for the defaults. Returns NULL when out of memory. */
wsk_http_parser_t *wsk_http_parser_new(wsk_http_kind_t kind, const wsk_http_limits_t *limits);
void wsk_http_parser_free(wsk_http_parser_t *p);
/* Forget the parsed head and start over (same kind and limits). */
void wsk_http_parser_reset(wsk_http_parser_t *p);

/* Feed bytes. Returns the number of bytes consumed (>= 0), or a negative
 * error (WSK_EHTTP, WSK_E2BIG, WSK_ENOMEM). When the head is complete,
 * wsk_http_parser_done() is 1 and the bytes after it were not consumed.
 * After an error, wsk_http_parser_status() says which HTTP status a server
 * should answer with (400, or 431 for size/count limits) and
 * wsk_http_parser_error() describes the problem. */
long wsk_http_parser_feed(wsk_http_parser_t *p, const uint8_t *data, size_t len);
int wsk_http_parser_done(const wsk_http_parser_t *p);
const wsk_http_head_t *wsk_http_parser_head(const wsk_http_parser_t *p);
int wsk_http_parser_status(const wsk_http_parser_t *p);
const char *wsk_http_parser_error(const wsk_http_parser_t *p);

/* First header named `name` (case-insensitive), or NULL. */
const wsk_http_header_t *wsk_http_head_find(const wsk_http_head_t *h, const char *name);
/* Number of headers named `name`. */
size_t wsk_http_head_count(const wsk_http_head_t *h, const char *name);
/* Content-Length of the head: >= 0, -1 when absent, WSK_EHTTP when malformed. */
long long wsk_http_head_content_length(const wsk_http_head_t *h);

/* Case-insensitive ASCII comparison of a[0..alen) and the C string b. */
int wsk_http_ieq(const char *a, size_t alen, const char *b);

/* Comma-separated lists (RFC 9110 5.6.1) of elements of the form
 *   token *( OWS ";" OWS token [ "=" ( token / quoted-string ) ] )
 * as in Connection, Upgrade, Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions. Empty list elements are skipped. */
typedef struct wsk_http_param {
  const char *name;
  size_t name_len;
  const char *value;  /* NULL when the parameter has no value */
  size_t value_len;   /* quoted strings are unquoted into the caller's scratch */
} wsk_http_param_t;

#define WSK_HTTP_MAX_PARAMS 16

typedef struct wsk_http_element {
  const char *token;
  size_t token_len;
  size_t nparams;
  wsk_http_param_t params[WSK_HTTP_MAX_PARAMS];
} wsk_http_element_t;

/* Iterate over the elements of a list value. Initialise *pos to 0; each
 * call parses the next element into *el and returns 1, 0 at the end of the
 * list, or WSK_EHTTP when the value is malformed (including more than
 * WSK_HTTP_MAX_PARAMS parameters). Unquoted values of quoted-string
 * parameters are written to `scratch` (which must be at least as long as the
 * value) and the params point there. */
int wsk_http_list_next(const char *value, size_t len, size_t *pos, wsk_http_element_t *el,
                       char *scratch);
/* 1 if the list value contains `token` (case-insensitive), 0 if not,
 * WSK_EHTTP if malformed. Parameters are ignored. */
int wsk_http_list_has(const char *value, size_t len, const char *token);

/* Build a response head: status line with the standard reason phrase (or
 * `reason` when not NULL), the given headers ("Name: value" pairs in
 * `headers`, `nheaders` of them, may be 0), Content-Length for `body` when
 * body_len > 0 or status is not 101, the blank line and the body. Header
 * names and values are checked for CR, LF and NUL (WSK_EINVAL). */
int wsk_http_response_build(wsk_buf_t *out, int status, const char *reason,
                            const wsk_http_header_t *headers, size_t nheaders,
                            const void *body, size_t body_len);
/* Standard reason phrase, "Unknown" for unknown codes. */
const char *wsk_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif
