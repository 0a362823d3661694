/* Server-Sent Events on the server's port: GET <sse_path>?channel=NAME
 * becomes a text/event-stream fed by the hub like any subscriber. The
 * connection's core stays parked at the request (never answered); the
 * stream's bytes go to the socket directly and its timer beats the
 * heartbeat. Formatting (head, events, ids) is the core's (sse.h). */
#include "uv_internal.h"

#include <stdlib.h>
#include <string.h>

/* Copy a request value (header or query) into a new string; NULL when
 * absent. *len (may be NULL) gets its length, a decoded %00 included. */
static char *value(const wsk_uv_request_t *r, int header, const char *name, size_t *len) {
  char small[256];
  long n = header ? wsk_uv_request_header(r, name, small, sizeof small)
                  : wsk_uv_request_query(r, name, small, sizeof small);
  if (n < 0) return NULL;
  if (len) *len = (size_t)n;
  if ((size_t)n < sizeof small) return wsk__uv_dup_n(small, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if (!big) return NULL;
  if (header)
    wsk_uv_request_header(r, name, big, (size_t)n + 1);
  else
    wsk_uv_request_query(r, name, big, (size_t)n + 1);
  return big;
}

int wsk__uv_sse_prepare(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  if (!wsk__uv_extra(c)) return 503;
  wsk__uv_sse_free(c);
  size_t n = 0;
  c->x->sse_channel = value(r, 0, "channel", &n);
  if (!c->x->sse_channel || !n || n > WSK_CHANNEL_MAX_NAME) return 400;
  /* the protocol refuses names with control characters (a %00 included,
   * which would also cut the C string short): so does the stream */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)c->x->sse_channel[i] < 0x20 || c->x->sse_channel[i] == 0x7f) return 400;
  c->x->sse_last = value(r, 1, "Last-Event-ID", NULL);
  if (!c->x->sse_last) c->x->sse_last = value(r, 0, "lastEventId", NULL);
  return 0;
}

void wsk__uv_sse_free(wsk_uv_conn_t *c) {
  if (!c->x) return;
  free(c->x->sse_channel);
  free(c->x->sse_last);
  c->x->sse_channel = c->x->sse_last = NULL;
}

static void end_stream(wsk_uv_conn_t *c, const char *why) {
  if (c->ws && wsk_conn_state(c->ws) != WSK_STATE_CLOSED) wsk_conn_abort(c->ws, why);
}

void wsk__uv_sse_write(wsk_uv_conn_t *c, const void *data, size_t len) {
  if (!(c->flags & WSK_UVF_SSE_ON) || !c->ws || (c->flags & WSK_UVF_CLOSED)) return;
  /* a stream that cannot keep up ends; EventSource comes back with its
   * Last-Event-ID and gets the rest from the history */
  size_t lim = wsk__uv_hub_limit(c);
  if (lim && wsk_uv_conn_buffered(c) > lim) {
    end_stream(c, "event stream too slow");
    return;
  }
  wsk__uv_conn_write_raw(c, data, len);
}

void wsk__uv_sse_timer(wsk_uv_conn_t *c) {
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  if (wsk_sse_comment(&b, NULL) == 0) wsk__uv_sse_write(c, b.data + b.off, wsk_buf_pending(&b));
  wsk_buf_free(&b);
}

static void heartbeat_cb(uv_timer_t *t) {
  wsk_uv_conn_t *c = t->data;
  if (c->flags & (WSK_UVF_ENDED | WSK_UVF_CLOSED)) return;
  wsk__uv_enter(c);
  wsk__uv_sse_timer(c);
  wsk__uv_leave(c);
}

/* Called inside an enter/leave section of c. */
int wsk__uv_sse_accept(wsk_uv_conn_t *c) {
  wsk_uv_server_t *s = (wsk_uv_server_t *)c->owner;
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  if ((c->flags & WSK_UVF_SSE_ON) || !c->x || !c->x->sse_channel) return WSK_ESTATE;
  const char *ch = c->x->sse_channel;
  if (!wsk__uv_authorize(c, "subscribe", ch, strlen(ch))) {
    static const char body[] = "not allowed to subscribe\n";
    return wsk_conn_reject(c->ws, 403, NULL, 0, body, sizeof body - 1);
  }
  if (s->backplane && !wsk_uv_server_backplane_up(s)) {
    static const char body[] = "the backplane is unavailable\n";
    return wsk_conn_reject(c->ws, 503, NULL, 0, body, sizeof body - 1);
  }
  /* resume: "<epoch>:<seq>" from Last-Event-ID; anything else is "from now" */
  const char *epoch = NULL;
  size_t epoch_len = 0;
  uint64_t seq = 0;
  int has_since = c->x->sse_last &&
                  wsk_sse_parse_id(c->x->sse_last, strlen(c->x->sse_last), &epoch, &epoch_len,
                                   &seq) == 0;
  wsk_buf_t b;
  memset(&b, 0, sizeof b);
  int r = wsk_sse_head(&b, NULL, 0);
  if (r == 0) r = wsk_sse_retry(&b, s->o.sse_retry_ms);
  if (r < 0) {
    wsk_buf_free(&b);
    return r;
  }
  c->flags |= WSK_UVF_SSE_ON;
  if (uv_is_active((uv_handle_t *)&c->timer)) uv_timer_stop(&c->timer); /* no core deadlines now */
  wsk__uv_conn_write_raw(c, b.data + b.off, wsk_buf_pending(&b));
  wsk_buf_free(&b);
  /* the epoch string lives in sse_last: subscribe copies what it keeps */
  r = wsk__uv_hub_subscribe(c, ch, strlen(ch), has_since, seq, epoch, epoch_len, NULL, 0);
  if (r < 0) {
    end_stream(c, "cannot subscribe the event stream");
    return r;
  }
  uint64_t hb = s->o.sse_heartbeat_ms;
  if (hb && c->ws && !(c->flags & WSK_UVF_CLOSED)) uv_timer_start(&c->timer, heartbeat_cb, hb, hb);
  return 0;
}
