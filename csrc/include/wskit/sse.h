/* Server-Sent Events (WHATWG HTML, "Server-sent events"), both sides.
 * A server streams one channel per request; an event's id is
 * "<epoch>:<seq>" so that a reconnecting EventSource's Last-Event-ID
 * resumes from the channel's history (hub.h). docs/sse.md. */
#ifndef WSKIT_SSE_H
#define WSKIT_SSE_H

#include "http.h"
#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- server ---- */

/* Append the response head: 200, Content-Type: text/event-stream,
 * Cache-Control: no-cache, X-Accel-Buffering: no (so proxies do not
 * buffer), Connection: close (the body ends when the stream does), then
 * extra headers (validated as in wsk_http_response_build). */
int wsk_sse_head(wsk_buf_t *out, const wsk_http_header_t *headers, size_t nheaders);
/* Append one event: "id:" when id_len > 0, "event:" when event_len > 0,
 * one "data:" line per line of data (split at CR, LF and CRLF; an empty
 * data gives one empty data line), then the blank line. WSK_EINVAL when id
 * or event contain CR, LF or NUL (id) / CR or LF (event). */
int wsk_sse_event(wsk_buf_t *out, const char *id, size_t id_len, const char *event,
                  size_t event_len, const void *data, size_t len);
/* "retry: <ms>\n\n" */
int wsk_sse_retry(wsk_buf_t *out, uint32_t ms);
/* A comment line, the heartbeat proxies and clients ignore: ":" text "\n\n"
 * (text may be NULL; CR/LF in it give WSK_EINVAL). */
int wsk_sse_comment(wsk_buf_t *out, const char *text);

/* The SSE form of a hub output, the same in every driver: MESSAGE -> an
 * event with id "<epoch>:<seq>" and the payload as data (text and JSON as
 * they are, binary in base64); GAP -> "event: gap" with o->json as data
 * and id "<epoch>:<to>", so a reconnecting reader resumes after what is
 * gone; SUBSCRIBED -> nothing. Returns the bytes appended or a negative
 * error. */
int wsk_sse_hub_event(wsk_buf_t *out, const wsk_hub_out_t *o);

/* Event ids: "<epoch>:<seq>". format returns the length written (out must
 * hold WSK_SSE_MAX_ID bytes, NUL included) or WSK_EINVAL for a bad epoch. */
#define WSK_SSE_MAX_ID 96
int wsk_sse_format_id(char *out, const char *epoch, size_t epoch_len, uint64_t seq);
/* Returns 0, or WSK_EINVAL when s is not "<token>:<decimal seq>". */
int wsk_sse_parse_id(const char *s, size_t len, const char **epoch, size_t *epoch_len,
                     uint64_t *seq);

/* ---- client: the event stream parser ---- */

typedef struct wsk_sse_parser wsk_sse_parser_t;

typedef struct wsk_sse_event {
  const char *type; size_t type_len;  /* "message" when the stream gave none */
  const char *data; size_t data_len;  /* lines joined with LF, no trailing LF */
  const char *id; size_t id_len;      /* the last event id in force (may be empty) */
  int64_t retry_ms;                   /* a retry field seen since the last event, else -1 */
} wsk_sse_event_t;

/* max_event bounds one event's buffered bytes (0 = 1 MiB); chunked = the
 * body uses HTTP/1.1 chunked transfer coding (as nginx sends it), which
 * the parser removes. NULL when out of memory. */
wsk_sse_parser_t *wsk_sse_parser_new(size_t max_event, int chunked);
void wsk_sse_parser_free(wsk_sse_parser_t *p);
/* Feed body bytes (copied). WSK_E2BIG over max_event, WSK_EPROTO for bad
 * chunk framing; the parser is then unusable. */
int wsk_sse_parser_feed(wsk_sse_parser_t *p, const void *data, size_t len);
/* Next complete event: 1 and *ev (valid until the next call), 0 when none.
 * Events with no data line are not dispatched (as in the spec), but their
 * id and retry take effect. A leading UTF-8 BOM is skipped. */
int wsk_sse_parser_next(wsk_sse_parser_t *p, wsk_sse_event_t *ev);
/* 1 once a chunked body has ended (the zero-length chunk). */
int wsk_sse_parser_done(const wsk_sse_parser_t *p);

#ifdef __cplusplus
}
#endif
#endif
