/* The CONNECTING state of wsk_conn: the client's request and the
 * server's answer, driven by the handshake module. */
#include "conn_internal.h"

#include <stdlib.h>
#include <string.h>

int wsk__hs_start(wsk_conn_t *c, const wsk_conn_opts_t *o) {
  wsk_hs_t *hs = calloc(1, sizeof *hs);
  if (!hs) return WSK_ENOMEM;
  c->hs = hs;
  hs->copts = o->client;
  hs->sopts = o->server;
  hs->parser = wsk_http_parser_new(c->role == WSK_ROLE_CLIENT ? WSK_HTTP_RESPONSE : WSK_HTTP_REQUEST,
                                   &o->http);
  if (!hs->parser) return WSK_ENOMEM;
  if (c->role == WSK_ROLE_SERVER) return 0;
  if (!o->client.host || !*o->client.host) return WSK_EINVAL;
  int r = wsk_key_generate(c->rnd, c->rnd_ud, hs->key);
  if (r < 0) return r;
  return wsk_client_request_build(&hs->copts, hs->key, &c->out);
}

static size_t avail(const wsk_conn_t *c) { return c->in ? c->in_len - c->in_off : 0; }

/* Feed the head parser; 1 when the head is complete, 0 for more, -1 failed. */
static int parse_head(wsk_conn_t *c) {
  wsk_hs_t *hs = c->hs;
  size_t n = avail(c);
  if (n == 0) return 0;
  long used = wsk_http_parser_feed(hs->parser, c->in + c->in_off, n);
  if (used < 0) return -1;
  c->in_off += (size_t)used;
  return wsk_http_parser_done(hs->parser);
}

static int server_next(wsk_conn_t *c, wsk_event_t *ev) {
  wsk_hs_t *hs = c->hs;
  if (hs->request_emitted) return 0; /* waiting for accept or reject */
  int r = parse_head(c);
  if (r < 0) {
    int status = wsk_http_parser_status(hs->parser);
    wsk__conn_set_error(c, "bad HTTP request: %s", wsk_http_parser_error(hs->parser));
    const char *body = wsk_http_reason(status);
    wsk_server_reject_build(status, NULL, 0, body, strlen(body), &c->out);
    hs->answered = 1;
    wsk__conn_go_closed(c);
    return 0;
  }
  if (r == 0) return 0;
  const wsk_http_head_t *head = wsk_http_parser_head(hs->parser);
  if (wsk_server_request_check(&hs->sopts, head, &hs->req) < 0) {
    wsk_conn_abort(c, "out of memory");
    return 0;
  }
  hs->request_emitted = 1;
  ev->type = WSK_EV_REQUEST;
  ev->head = head;
  ev->status = hs->req.status;
  return 1;
}

static int emit_rejected(wsk_conn_t *c, wsk_event_t *ev) {
  wsk_hs_t *hs = c->hs;
  ev->type = WSK_EV_REJECTED;
  ev->status = hs->rej_status;
  ev->head = wsk_http_parser_head(hs->parser);
  ev->data = hs->body.data;
  ev->len = wsk_buf_pending(&hs->body);
  hs->rejected = 0;
  hs->answered = 1;
  wsk__conn_go_closed(c); /* CLOSED follows; hs (and the head) live until then */
  return 1;
}

/* Read the body of a refusal: Content-Length bytes, or up to EOF. */
static int client_body(wsk_conn_t *c, wsk_event_t *ev) {
  wsk_hs_t *hs = c->hs;
  size_t n = avail(c);
  if (n > hs->body_left) n = hs->body_left;
  if (n) {
    if (wsk_buf_append(&hs->body, c->in + c->in_off, n) < 0) {
      wsk_conn_abort(c, "out of memory");
      return 0;
    }
    c->in_off += n;
    hs->body_left -= n;
  }
  if (hs->body_left == 0 || c->eof) return emit_rejected(c, ev);
  return 0;
}

static int client_next(wsk_conn_t *c, wsk_event_t *ev) {
  wsk_hs_t *hs = c->hs;
  if (hs->answered) return 0;
  if (hs->rejected) return client_body(c, ev);
  int r = parse_head(c);
  if (r < 0) {
    wsk__conn_set_error(c, "bad HTTP response: %s", wsk_http_parser_error(hs->parser));
    hs->answered = 1;
    wsk__conn_go_closed(c);
    return 0;
  }
  if (r == 0) return 0;
  const wsk_http_head_t *head = wsk_http_parser_head(hs->parser);
  wsk_client_hs_result_t res;
  memset(&res, 0, sizeof res);
  if (wsk_client_response_check(&hs->copts, hs->key, head, &res) == 0) {
    hs->answered = 1;
    wsk__conn_opened(c, res.subprotocol, &res.deflate);
    c->hs_release = 1; /* the head stays valid until the next call */
    ev->type = WSK_EV_OPEN;
    ev->head = head;
    return 1;
  }
  hs->rej_status = head->status;
  if (head->status == 101) {
    wsk__conn_set_error(c, "invalid handshake response: %s", res.error ? res.error : "rejected");
    return emit_rejected(c, ev);
  }
  wsk__conn_set_error(c, "server refused the WebSocket handshake with HTTP %d", head->status);
  long long cl = wsk_http_head_content_length(head);
  hs->rejected = 1;
  if (cl >= 0) {
    hs->body_left = (size_t)(cl < WSK_REJECT_BODY_MAX ? cl : WSK_REJECT_BODY_MAX);
  } else if (cl == -1 && !wsk_http_head_find(head, "Transfer-Encoding")) {
    hs->body_left = WSK_REJECT_BODY_MAX; /* body runs to EOF */
    hs->body_until_eof = 1;
  } else {
    hs->body_left = 0; /* chunked or malformed: no body for the caller */
  }
  return client_body(c, ev);
}

int wsk__hs_next_event(wsk_conn_t *c, wsk_event_t *ev) {
  if (!c->hs) return 0;
  return c->role == WSK_ROLE_SERVER ? server_next(c, ev) : client_next(c, ev);
}

static wsk_hs_t *pending_request(wsk_conn_t *c) {
  if (c->role != WSK_ROLE_SERVER || c->state != WSK_STATE_CONNECTING || !c->hs) return NULL;
  if (!c->hs->request_emitted || c->hs->answered) return NULL;
  return c->hs;
}

int wsk_conn_accept(wsk_conn_t *c, const wsk_accept_t *a) {
  wsk_hs_t *hs = pending_request(c);
  if (!hs || hs->req.status != 0) return WSK_ESTATE;
  const char *sp = hs->req.subprotocol;
  if (a && a->subprotocol) {
    if (!*a->subprotocol)
      sp = NULL;
    else if (!wsk_server_request_offers(wsk_http_parser_head(hs->parser), a->subprotocol))
      return WSK_EINVAL;
    else
      sp = a->subprotocol;
  }
  int r = wsk_server_response_build(hs->req.key, hs->req.key_len, sp, &hs->req.deflate,
                                    a ? a->headers : NULL, a ? a->nheaders : 0, &c->out);
  if (r < 0) return r;
  hs->answered = 1;
  wsk__conn_opened(c, sp, &hs->req.deflate);
  wsk__hs_free(hs);
  c->hs = NULL;
  c->open_pending = c->state == WSK_STATE_OPEN;
  return 0;
}

int wsk_conn_reject(wsk_conn_t *c, int status, const wsk_http_header_t *headers, size_t nheaders,
                    const void *body, size_t body_len) {
  wsk_hs_t *hs = pending_request(c);
  if (!hs) return WSK_ESTATE;
  if (status == 0) {
    status = hs->req.status ? hs->req.status : 403;
    if (!body) {
      body = hs->req.error ? hs->req.error : wsk_http_reason(status);
      body_len = strlen(body);
    }
  }
  if (status < 100 || status > 999 || status == 101) return WSK_EINVAL;
  int r = wsk_server_reject_build(status, headers, nheaders, body, body_len, &c->out);
  if (r < 0) return r;
  hs->answered = 1;
  if (status >= 400) {
    if (hs->req.error && status == hs->req.status)
      wsk__conn_set_error(c, "refused the handshake with HTTP %d: %s", status, hs->req.error);
    else
      wsk__conn_set_error(c, "refused the handshake with HTTP %d", status);
  }
  wsk__conn_go_closed(c);
  return 0;
}
