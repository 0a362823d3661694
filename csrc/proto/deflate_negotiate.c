/* permessage-deflate negotiation (RFC 7692 5 and 7.1): the client's offer,
 * the server's choice among offers and its response, and the client's
 * check of that response. The codec itself is in deflate_codec.c. */
#include "wskit/deflate.h"
#include "wskit/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsk_deflate_opts_init(wsk_deflate_opts_t *o) {
  o->enabled = 1;
  o->server_no_context_takeover = 0;
  o->client_no_context_takeover = 0;
  o->server_max_window_bits = 0;
  o->client_max_window_bits = 0;
  o->level = 6;
  o->mem_level = 8;
  o->threshold = 128;
}

static int bits_ok(int b) { return b >= 8 && b <= 15; }
static int bits_or_0(int b) { return b == 0 || bits_ok(b); }
static int min_int(int a, int b) { return a < b ? a : b; }

/* RFC 7692 7.1.2: the value is 8..15 written without leading zeros. */
static int parse_bits(const char *s, size_t n) {
  if (n == 1 && (s[0] == '8' || s[0] == '9')) return s[0] - '0';
  if (n == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '5') return 10 + s[1] - '0';
  return -1;
}

/* The parameters of one permessage-deflate element. */
typedef struct pmd {
  int snct, cnct;
  int smwb; /* 0 absent, else 8..15 */
  int cmwb; /* -1 absent, 0 present without value, else 8..15 */
} pmd_t;

/* Read the params of an element. A response must give client_max_window_bits
 * a value; an offer may leave it bare. Returns 1, or 0 when the element
 * has an unknown, repeated or invalid parameter. */
static int read_params(const wsk_http_element_t *el, int response, pmd_t *p) {
  memset(p, 0, sizeof *p);
  p->cmwb = -1;
  int seen_smwb = 0;
  for (size_t i = 0; i < el->nparams; i++) {
    const wsk_http_param_t *prm = &el->params[i];
    if (wsk_http_ieq(prm->name, prm->name_len, "server_no_context_takeover")) {
      if (p->snct || prm->value) return 0;
      p->snct = 1;
    } else if (wsk_http_ieq(prm->name, prm->name_len, "client_no_context_takeover")) {
      if (p->cnct || prm->value) return 0;
      p->cnct = 1;
    } else if (wsk_http_ieq(prm->name, prm->name_len, "server_max_window_bits")) {
      if (seen_smwb || !prm->value) return 0;
      seen_smwb = 1;
      if ((p->smwb = parse_bits(prm->value, prm->value_len)) < 0) return 0;
    } else if (wsk_http_ieq(prm->name, prm->name_len, "client_max_window_bits")) {
      if (p->cmwb >= 0) return 0;
      if (!prm->value) {
        if (response) return 0;
        p->cmwb = 0;
      } else if ((p->cmwb = parse_bits(prm->value, prm->value_len)) < 0) {
        return 0;
      }
    } else {
      return 0;
    }
  }
  return 1;
}

static void params_off(wsk_deflate_params_t *out) {
  memset(out, 0, sizeof *out);
  out->server_max_window_bits = out->client_max_window_bits = 15;
}

static int append_param(wsk_buf_t *out, const char *name, int bits) {
  char tmp[64];
  if (bits) snprintf(tmp, sizeof tmp, "; %s=%d", name, bits);
  else snprintf(tmp, sizeof tmp, "; %s", name);
  return wsk_buf_append_str(out, tmp) < 0 ? WSK_ENOMEM : 0;
}

int wsk_deflate_offer_build(const wsk_deflate_opts_t *o, wsk_buf_t *out) {
  if (!bits_or_0(o->server_max_window_bits) || !bits_or_0(o->client_max_window_bits))
    return WSK_EINVAL;
  size_t mark = out->len;
  /* client_max_window_bits is always offered: our inflater takes any
   * window, so the server may limit the window we compress with. */
  int r = wsk_buf_append_str(out, "permessage-deflate") < 0 ? WSK_ENOMEM : 0;
  if (!r && o->server_no_context_takeover) r = append_param(out, "server_no_context_takeover", 0);
  if (!r && o->client_no_context_takeover) r = append_param(out, "client_no_context_takeover", 0);
  if (!r && o->server_max_window_bits)
    r = append_param(out, "server_max_window_bits", o->server_max_window_bits);
  if (!r) r = append_param(out, "client_max_window_bits", o->client_max_window_bits);
  if (r < 0) out->len = mark;
  return r;
}

int wsk_deflate_response_build(const wsk_deflate_params_t *p, wsk_buf_t *out) {
  if (!p->enabled || !bits_ok(p->server_max_window_bits) || !bits_ok(p->client_max_window_bits))
    return WSK_EINVAL;
  size_t mark = out->len;
  int r = wsk_buf_append_str(out, "permessage-deflate") < 0 ? WSK_ENOMEM : 0;
  if (!r && p->server_no_context_takeover) r = append_param(out, "server_no_context_takeover", 0);
  if (!r && p->client_no_context_takeover) r = append_param(out, "client_no_context_takeover", 0);
  /* 15 is the default, so it goes unsaid unless the offer asked for it. */
  if (!r && (p->server_max_window_bits < 15 || p->server_bits_asked))
    r = append_param(out, "server_max_window_bits", p->server_max_window_bits);
  if (!r && p->client_max_window_bits < 15)
    r = append_param(out, "client_max_window_bits", p->client_max_window_bits);
  if (r < 0) out->len = mark;
  return r;
}

/* Scratch for unquoting values: on the stack when small. */
typedef struct scratch {
  char *p;
  char small[256];
} scratch_t;

static char *scratch_get(scratch_t *s, size_t len) {
  if (s->p && s->p != s->small) free(s->p);
  s->p = len <= sizeof s->small ? s->small : malloc(len);
  return s->p;
}

static void scratch_free(scratch_t *s) {
  if (s->p && s->p != s->small) free(s->p);
  s->p = NULL;
}

/* The server's answer to one acceptable offer. */
static void accept_offer(const wsk_deflate_opts_t *s, const pmd_t *off, wsk_deflate_params_t *out) {
  int our_s = s->server_max_window_bits ? s->server_max_window_bits : 15;
  int our_c = s->client_max_window_bits ? s->client_max_window_bits : 15;
  out->enabled = 1;
  out->server_no_context_takeover = off->snct || s->server_no_context_takeover;
  out->client_no_context_takeover = off->cnct || s->client_no_context_takeover;
  out->server_max_window_bits = off->smwb ? min_int(off->smwb, our_s) : our_s;
  out->server_bits_asked = off->smwb != 0;
  /* We may only limit the client's window if it offered the parameter
   * (RFC 7692 7.1.2.2); its own value is echoed as the client will keep
   * to it anyway. */
  if (off->cmwb >= 0) out->client_max_window_bits = min_int(off->cmwb ? off->cmwb : 15, our_c);
  else out->client_max_window_bits = 15;
}

int wsk_deflate_negotiate(const wsk_deflate_opts_t *server, const char *const *values,
                          const size_t *lens, size_t nvalues, wsk_deflate_params_t *out) {
  params_off(out);
  if (!bits_or_0(server->server_max_window_bits) || !bits_or_0(server->client_max_window_bits))
    return WSK_EINVAL;
  if (!server->enabled) return 0;
  scratch_t sc = { NULL, { 0 } };
  int accepted = 0, r = 0;
  /* Every value is parsed to the end: a malformed header is a 400 even
   * when an earlier offer was acceptable. */
  for (size_t v = 0; v < nvalues && r >= 0; v++) {
    char *scratch = scratch_get(&sc, lens[v]);
    if (!scratch) {
      r = WSK_ENOMEM;
      break;
    }
    size_t pos = 0;
    wsk_http_element_t el;
    while ((r = wsk_http_list_next(values[v], lens[v], &pos, &el, scratch)) == 1) {
      pmd_t off;
      if (accepted || !wsk_http_ieq(el.token, el.token_len, "permessage-deflate")) continue;
      if (!read_params(&el, 0, &off)) continue; /* declined: try the next offer */
      accept_offer(server, &off, out);
      accepted = 1;
    }
  }
  scratch_free(&sc);
  if (r < 0) {
    params_off(out);
    return r;
  }
  return accepted;
}

/* Why a response is refused, or NULL when it is a valid answer to `offer`. */
static const char *check_one(const wsk_deflate_opts_t *offer, const wsk_http_element_t *el,
                             wsk_deflate_params_t *out) {
  pmd_t rsp;
  if (!wsk_http_ieq(el->token, el->token_len, "permessage-deflate")) return "extension not offered";
  if (!read_params(el, 1, &rsp)) return "invalid permessage-deflate parameters";
  int asked_s = offer->server_max_window_bits;
  if (rsp.smwb && asked_s && rsp.smwb > asked_s) return "server_max_window_bits above the offer";
  /* Accepting an offer with server_max_window_bits means answering with
   * it (7.1.2.1); a 15 left unsaid is accepted since it changes nothing. */
  if (!rsp.smwb && asked_s && asked_s < 15) return "server_max_window_bits not accepted";
  if (offer->server_no_context_takeover && !rsp.snct) return "server_no_context_takeover not accepted";
  int our_c = offer->client_max_window_bits ? offer->client_max_window_bits : 15;
  out->enabled = 1;
  out->server_no_context_takeover = rsp.snct;
  out->client_no_context_takeover = rsp.cnct || offer->client_no_context_takeover;
  out->server_max_window_bits = rsp.smwb ? rsp.smwb : 15;
  out->server_bits_asked = asked_s != 0;
  /* We compress with the smaller of the server's limit and our own offer. */
  out->client_max_window_bits = min_int(rsp.cmwb > 0 ? rsp.cmwb : 15, our_c);
  return NULL;
}

int wsk_deflate_check_response(const wsk_deflate_opts_t *offer, const char *const *values,
                               const size_t *lens, size_t nvalues, wsk_deflate_params_t *out) {
  params_off(out);
  scratch_t sc = { NULL, { 0 } };
  int found = 0, r = 0;
  for (size_t v = 0; v < nvalues && r >= 0; v++) {
    char *scratch = scratch_get(&sc, lens[v]);
    if (!scratch) {
      r = WSK_ENOMEM;
      break;
    }
    size_t pos = 0;
    wsk_http_element_t el;
    while ((r = wsk_http_list_next(values[v], lens[v], &pos, &el, scratch)) == 1) {
      /* Anything when we offered nothing, or a second answer, is invalid. */
      if (!offer->enabled || found || check_one(offer, &el, out)) {
        r = WSK_EHANDSHAKE;
        break;
      }
      found = 1;
    }
  }
  scratch_free(&sc);
  if (r < 0) {
    params_off(out);
    return r == WSK_ENOMEM ? r : WSK_EHANDSHAKE;
  }
  return found;
}
