/* libFuzzer: header list parsing and permessage-deflate negotiation.
 * Input: byte 0 picks server and client options, the rest is split at
 * '\n' into Sec-WebSocket-Extensions values.
 * Checked: the list iterator always advances and stays in bounds, and
 * parameters point inside the value or the scratch; negotiate's answer,
 * when there is one, is a response that our client check accepts with the
 * same parameters; every accepted parameter set is in range. */
#include "wskit/deflate.h"
#include "wskit/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 8

static void params_in_range(const wsk_deflate_params_t *p) {
  if (!p->enabled) {
    if (p->server_no_context_takeover || p->client_no_context_takeover ||
        p->server_max_window_bits != 15 || p->client_max_window_bits != 15)
      abort();
    return;
  }
  if (p->server_max_window_bits < 8 || p->server_max_window_bits > 15 ||
      p->client_max_window_bits < 8 || p->client_max_window_bits > 15)
    abort();
}

static int inside(const char *p, size_t n, const char *base, size_t len) {
  return p >= base && p + n <= base + len;
}

static void walk_list(const char *v, size_t len) {
  char *scratch = malloc(len ? len : 1);
  wsk_http_element_t el;
  size_t pos = 0, last = 0;
  int r, n = 0;
  while ((r = wsk_http_list_next(v, len, &pos, &el, scratch)) == 1) {
    if (pos <= last && n > 0) abort();
    if (pos > len || !inside(el.token, el.token_len, v, len) || el.token_len == 0) abort();
    if (el.nparams > WSK_HTTP_MAX_PARAMS) abort();
    for (size_t i = 0; i < el.nparams; i++) {
      const wsk_http_param_t *prm = &el.params[i];
      if (!inside(prm->name, prm->name_len, v, len) || prm->name_len == 0) abort();
      if (prm->value && !inside(prm->value, prm->value_len, v, len) &&
          !inside(prm->value, prm->value_len, scratch, len))
        abort();
    }
    last = pos;
    n++;
  }
  if (r != 0 && r != WSK_EHTTP) abort();
  /* list_has agrees with the iterator on malformed input. */
  int has = wsk_http_list_has(v, len, "permessage-deflate");
  if ((r == WSK_EHTTP) != (has == WSK_EHTTP)) abort();
  free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned ctl = data[0];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  const char *vals[MAXV];
  size_t lens[MAXV], n = 0, start = 0;
  for (size_t i = 0; i <= len && n < MAXV; i++) {
    if (i == len || text[i] == '\n') {
      vals[n] = text + start;
      lens[n++] = i - start;
      start = i + 1;
    }
  }
  for (size_t i = 0; i < n; i++) walk_list(vals[i], lens[i]);

  wsk_deflate_opts_t server;
  wsk_deflate_opts_init(&server);
  server.server_no_context_takeover = ctl & 1;
  server.client_no_context_takeover = (ctl >> 1) & 1;
  server.server_max_window_bits = (ctl & 4) ? 8 + (int)((ctl >> 3) & 7) : 0;
  server.client_max_window_bits = (ctl & 64) ? 9 + (int)((ctl >> 3) & 3) : 0;
  wsk_deflate_params_t sp;
  int r = wsk_deflate_negotiate(&server, vals, lens, n, &sp);
  if (r != 0 && r != 1 && r != WSK_EHTTP) abort();
  params_in_range(&sp);
  if (r == 1) {
    if (!sp.enabled) abort();
    if (server.server_no_context_takeover && !sp.server_no_context_takeover) abort();
    if (server.server_max_window_bits && sp.server_max_window_bits > server.server_max_window_bits) abort();
    wsk_buf_t b = { 0 };
    if (wsk_deflate_response_build(&sp, &b) < 0) abort();
    const char *rv = (const char *)b.data;
    size_t rl = b.len;
    /* A client that offered only the bare client_max_window_bits accepts
     * any valid answer. */
    wsk_deflate_opts_t any;
    wsk_deflate_opts_init(&any);
    wsk_deflate_params_t cp;
    if (wsk_deflate_check_response(&any, &rv, &rl, 1, &cp) != 1) abort();
    cp.server_bits_asked = sp.server_bits_asked; /* how it was asked, not what was agreed */
    if (memcmp(&cp, &sp, sizeof cp) != 0) abort();
    wsk_buf_free(&b);
  } else if (sp.enabled) {
    abort();
  }

  /* The same values as a server's answer to a client offer. */
  wsk_deflate_opts_t offer;
  wsk_deflate_opts_init(&offer);
  offer.enabled = !(ctl & 128) || (ctl & 1);
  offer.server_no_context_takeover = (ctl >> 2) & 1;
  offer.server_max_window_bits = (ctl & 8) ? 8 + (int)((ctl >> 4) & 7) : 0;
  offer.client_max_window_bits = (ctl & 16) ? 9 : 0;
  wsk_deflate_params_t cp;
  r = wsk_deflate_check_response(&offer, vals, lens, n, &cp);
  if (r != 0 && r != 1 && r != WSK_EHANDSHAKE) abort();
  params_in_range(&cp);
  if (r == 1) {
    if (!offer.enabled || !cp.enabled) abort();
    if (offer.server_max_window_bits && cp.server_max_window_bits > offer.server_max_window_bits) abort();
    if (offer.client_max_window_bits && cp.client_max_window_bits > offer.client_max_window_bits) abort();
    if (offer.server_no_context_takeover && !cp.server_no_context_takeover) abort();
  } else if (cp.enabled) {
    abort();
  }
  return 0;
}
