/* The WebSocket opening handshake (RFC 6455 section 4) for both roles,
 * plus ws:// / wss:// URL parsing. Built on http.h and deflate.h. */
#ifndef WSKIT_HANDSHAKE_H
#define WSKIT_HANDSHAKE_H

#include "common.h"
#include "http.h"
#include "deflate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- URLs ---- */

typedef struct wsk_url {
  int secure;          /* 1 for wss:// */
  char host[256];      /* host name or IP literal, without brackets */
  int ipv6;            /* host is an IPv6 literal */
  unsigned port;       /* explicit or default (80 / 443) */
  int port_explicit;
  char resource[4096]; /* path and query, "/" when empty; no fragment; spaces
                          and non-ASCII bytes percent-encoded */
  char userinfo[512];  /* "user:password" as in the URL (percent-decoded), may be empty */
} wsk_url_t;

/* Parse a ws:// or wss:// URL. Returns 0 or WSK_EURL (other schemes,
 * fragments, bad or empty ports, over-long parts, control characters,
 * hosts other than letters/digits/"-._" or a bracketed IPv6 literal
 * without zone id; percent-decoded controls in the userinfo). The
 * userinfo ends at the last '@' of the authority. On error *out is zeroed. */
int wsk_url_parse(const char *url, wsk_url_t *out);

/* ---- keys ---- */

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
int wsk_accept_for_key(const char *key, size_t key_len, char out[29]);
/* A fresh Sec-WebSocket-Key (16 random bytes, base64): 24 chars + NUL. */
int wsk_key_generate(wsk_random_fn rnd, void *rnd_ud, char out[25]);
/* 1 if `key` is base64 of exactly 16 bytes. */
int wsk_key_valid(const char *key, size_t len);

/* base64 (RFC 4648, with padding). encode: out needs 4*ceil(n/3)+1 bytes;
 * returns the length written (NUL-terminated). decode: returns the decoded
 * length or WSK_EINVAL; out needs 3*(n/4) bytes. */
size_t wsk_base64_encode(const uint8_t *in, size_t n, char *out);
long wsk_base64_decode(const char *in, size_t n, uint8_t *out);

/* ---- client ---- */

typedef struct wsk_client_hs_opts {
  const char *host;          /* Host header name (no brackets for IPv6; added) */
  unsigned port;             /* 0 counts as the default port */
  int secure;                /* decides which port is the default one */
  const char *resource;      /* "/path?query", default "/" (NULL or "" too) */
  const char *origin;        /* NULL: no Origin header */
  const char *const *subprotocols; size_t nsubprotocols; /* distinct tokens,
                                each shorter than 128 bytes */
  const wsk_http_header_t *headers; size_t nheaders; /* extra headers; a
                                User-Agent here replaces the default one */
  const char *user_agent;    /* NULL: "wskit/VERSION"; "" : none */
  const char *authorization; /* NULL or a full Authorization value (e.g. from URL userinfo) */
  wsk_deflate_opts_t deflate;
} wsk_client_hs_opts_t;

/* Defaults: resource "/", port 80, deflate offered with client_max_window_bits. */
void wsk_client_hs_opts_init(wsk_client_hs_opts_t *o);

/* Append the GET request to `out`. `key` is the Sec-WebSocket-Key (see
 * wsk_key_generate). Rejects header names/values with CR, LF or NUL, names
 * that are not tokens, headers that the handshake owns (Host, Upgrade,
 * Connection, Sec-WebSocket-*, Content-Length, Transfer-Encoding), Origin /
 * Authorization / User-Agent headers when the option is set too, invalid
 * keys, subprotocols or deflate options (WSK_EINVAL). On error nothing is
 * appended. */
int wsk_client_request_build(const wsk_client_hs_opts_t *o, const char *key, wsk_buf_t *out);

typedef struct wsk_client_hs_result {
  int status;                     /* the response's status */
  char subprotocol[128];          /* chosen subprotocol, "" when none */
  wsk_deflate_params_t deflate;   /* .enabled when compression is on */
  const char *error;              /* static text when the response was refused */
} wsk_client_hs_result_t;

/* Validate the server's response head. Returns 0 when the handshake is
 * complete; WSK_EHANDSHAKE when the status is not 101 (result->status says
 * which; the caller may read a body) or the 101 response is invalid
 * (HTTP/1.0, Upgrade other than exactly "websocket", Connection without
 * upgrade, Accept, more than one subprotocol or one not offered, an
 * extension or parameter not offered, see wsk_deflate_check_response);
 * WSK_EINVAL for a request head, WSK_ENOMEM, WSK_ECRYPTO. */
int wsk_client_response_check(const wsk_client_hs_opts_t *o, const char *key,
                              const wsk_http_head_t *head, wsk_client_hs_result_t *result);

/* ---- server ---- */

typedef struct wsk_server_hs_opts {
  const char *const *subprotocols; size_t nsubprotocols; /* supported, in our preference */
  const char *const *origins; size_t norigins; /* allowlist, compared case-insensitively;
                                                  a NULL entry admits requests with no
                                                  Origin; norigins 0 = any Origin (or none) */
  const char *const *hosts; size_t nhosts;     /* Host allowlist (DNS rebinding): an entry
                                                  without a port matches that host on any
                                                  port, one with a port only that; compared
                                                  case-insensitively; nhosts 0 = any Host */
  wsk_deflate_opts_t deflate;
} wsk_server_hs_opts_t;

void wsk_server_hs_opts_init(wsk_server_hs_opts_t *o);

typedef struct wsk_server_hs_request {
  int status;              /* 0: a valid upgrade; else the status to answer:
                              400 bad upgrade, 403 Origin or Host refused, 426 not an
                              upgrade or wrong version (answer with
                              Sec-WebSocket-Version: 13) */
  const char *error;       /* static text when status != 0 */
  int is_upgrade;          /* the request asks for a WebSocket upgrade */
  const char *key;         /* Sec-WebSocket-Key value (points into the head) */
  size_t key_len;
  const char *origin;      /* NULL when absent */
  const char *subprotocol; /* our default choice, NULL when none (points into opts) */
  wsk_deflate_params_t deflate; /* accepted compression (.enabled) */
} wsk_server_hs_request_t;

/* Validate a request head (GET, HTTP/1.1+, Host, Upgrade: websocket,
 * Connection lists upgrade, a 16-byte key, Version 13, Origin allowlist)
 * and choose the default subprotocol (the first the client lists that we
 * support, exact match) and compression. Fills *req; returns 0, WSK_EINVAL
 * for a response head or invalid deflate window bits, or WSK_ENOMEM. A refused request is not an error of
 * the call: see req->status. The first failing check decides, in this
 * order: HTTP/1.0 400; method not GET 400; Host missing or repeated 400;
 * no "websocket" in Upgrade 426 (is_upgrade 0); Connection without upgrade
 * 400; Sec-WebSocket-Version missing or not exactly "13" 426; key missing,
 * repeated or not 16 bytes 400; Origin repeated 400; Origin absent or not
 * in the allowlist (case-insensitive, whole origin) 403; Host not in the
 * hosts allowlist 403; malformed
 * Sec-WebSocket-Protocol or Sec-WebSocket-Extensions 400. key and origin
 * are filled whenever present, even when refused. */
int wsk_server_request_check(const wsk_server_hs_opts_t *o, const wsk_http_head_t *head,
                             wsk_server_hs_request_t *req);

/* 1 if a Host value (host NULL: the request had none) passes the hosts
 * allowlist of o (always 1 when nhosts is 0). wsk_server_request_check
 * applies it to upgrades; drivers apply it to the plain requests they
 * answer themselves (SSE). */
int wsk_server_host_allowed(const wsk_server_hs_opts_t *o, const char *host, size_t len);

/* 1 if the request offered `subprotocol` (exact match). */
int wsk_server_request_offers(const wsk_http_head_t *head, const char *subprotocol);

/* Append the 101 response: Accept for `key`, `subprotocol` (NULL or "":
 * none), permessage-deflate when deflate->enabled (may be NULL), and extra
 * headers. WSK_EINVAL for an invalid key or subprotocol, header names/values
 * as in wsk_http_response_build, or headers the handshake owns (Upgrade,
 * Connection, Sec-WebSocket-Accept/-Protocol/-Extensions, Content-Length,
 * Transfer-Encoding). On error nothing is appended. */
int wsk_server_response_build(const char *key, size_t key_len, const char *subprotocol,
                              const wsk_deflate_params_t *deflate,
                              const wsk_http_header_t *headers, size_t nheaders, wsk_buf_t *out);

/* Append a refusal: `status` (200..999) with `headers` and `body`; 426
 * responses get Upgrade: websocket and Sec-WebSocket-Version: 13 added and
 * "Connection: Upgrade, close" (RFC 9110 7.8), others Connection: close. A
 * body without a Content-Type header gets text/plain; charset=utf-8.
 * Connection, Content-Length, Transfer-Encoding (and for 426 Upgrade and
 * Sec-WebSocket-Version) may not be passed: WSK_EINVAL. On error nothing is
 * appended. */
int wsk_server_reject_build(int status, const wsk_http_header_t *headers, size_t nheaders,
                            const void *body, size_t body_len, wsk_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif
