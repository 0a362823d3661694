/* HTTP/1.1 head parsing and building for the WebSocket opening handshake.
 *
 * The parser is incremental (feed any split of the bytes), bounded (line
 * size, total size, header count), strict (no obs-fold, bare CR, NUL, space
 * before the colon, missing Host on requests, duplicated single-valued
 * headers) and linear in its input. It stops at the end of the head: bytes
 * after the blank line are not consumed, so a caller hands them to the
 * frame parser (e.g. frames that arrive together with a 101 response).
 *
 * Exactly what it accepts:
 *   - lines end in CRLF or a bare LF (RFC 9112 2.2 lets recipients accept
 *     LF); a CR not followed by LF is an error anywhere;
 *   - no NUL or other control character except HTAB; obs-text (0x80-0xFF)
 *     only in header values and the reason phrase;
 *   - request line: token SP target SP "HTTP/1.x", single spaces, the target
 *     printable ASCII (0x21-0x7E); no empty line before it;
 *   - status line: "HTTP/1.x" SP 3-digit code 100..599 [SP reason];
 *   - any version other than HTTP/1.x is a 400;
 *   - header names are tokens, the colon follows the name at once; values
 *     lose surrounding SP/HTAB;
 *   - single-valued headers: Host, Content-Length, Sec-WebSocket-Key and
 *     Sec-WebSocket-Accept in both kinds, and in requests also
 *     Sec-WebSocket-Version and Origin (responses may repeat the version
 *     list, RFC 6455 4.4); requests need Host; Content-Length must be
 *     digits. */
#ifndef WSKIT_HTTP_H
#define WSKIT_HTTP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { WSK_HTTP_REQUEST = 0, WSK_HTTP_RESPONSE = 1 } wsk_http_kind_t;

/* A field of 0 means its default. Crossing a limit is a 431. */
typedef struct wsk_http_limits {
  size_t max_line;    /* longest request/status/header line without its line
                         end, default 8192 */
  size_t max_head;    /* whole head including the blank line, default 16384 */
  size_t max_headers; /* number of header fields, default 128 */
} wsk_http_limits_t;

void wsk_http_limits_init(wsk_http_limits_t *l);

/* Parsed headers are NUL-terminated at their lengths. Headers the caller
 * passes to a builder may give 0 for a length to mean "NUL-terminated". */
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
  const char *method;  /* requests: "GET" ... ("" in responses) */
  const char *target;  /* requests: request-target, e.g. "/chat?x=1" ("" in responses) */
  int version_minor;   /* HTTP/1.<minor> */
  int status;          /* responses: 3-digit status code (0 in requests) */
  const char *reason;  /* responses: reason phrase (may be empty; "" in requests) */
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
 * should answer with (400, 431 for size/count limits with WSK_E2BIG, 500
 * with WSK_ENOMEM) and wsk_http_parser_error() describes the problem; the
 * error is sticky: later feeds return it again until a reset. Once done,
 * feeds consume nothing and return 0. wsk_http_parser_head() is NULL until
 * the head is done; status is 0 and the error text "" while there is no
 * error. */
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
 *   token [ "/" token ] *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )
 * as in Connection, Upgrade ("name/version"), Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions. Empty list elements are skipped. Names and
 * values are not NUL-terminated: use the lengths. */
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
 * value) and the params point there; each at its own offset, so the params
 * of earlier elements stay valid. With scratch NULL a quoted value is the
 * raw text between the quotes, escapes not undone. */
int wsk_http_list_next(const char *value, size_t len, size_t *pos, wsk_http_element_t *el,
                       char *scratch);
/* 1 if the list value contains `token` (case-insensitive), 0 if not,
 * WSK_EHTTP if malformed anywhere. Parameters are ignored. */
int wsk_http_list_has(const char *value, size_t len, const char *token);

/* Build a response head: status line (status 100..999) with the standard
 * reason phrase (or `reason` when not NULL), the given headers ("Name:
 * value" pairs in `headers`, `nheaders` of them, may be 0), Content-Length
 * for `body` except in 1xx and 204 responses (which take no body:
 * WSK_EINVAL if body_len > 0), the blank line and the body. Header names
 * must be tokens and values and the reason free of CR, LF and NUL;
 * Content-Length and Transfer-Encoding may not be passed (WSK_EINVAL). On
 * error nothing is appended to `out`. */
int wsk_http_response_build(wsk_buf_t *out, int status, const char *reason,
                            const wsk_http_header_t *headers, size_t nheaders,
                            const void *body, size_t body_len);
/* Standard reason phrase, "Unknown" for unknown codes. */
const char *wsk_http_reason(int status);

/* Append a request target for logs with the values of credential-like
 * query parameters replaced by "***" (names compared case-insensitively:
 * token, access_token, id_token, refresh_token, auth, authorization, key,
 * api_key, apikey, password, passwd, secret, jwt, session, sessionid, sig,
 * signature, ticket). The rest is copied as is. */
int wsk_http_redact_target(wsk_buf_t *out, const char *target, size_t len);

#ifdef __cplusplus
}
#endif
#endif
