/* permessage-deflate negotiation (RFC 7692 5 and 7.1). */
#include "testlib.h"
#include "wskit/deflate.h"

#include <stdlib.h>
#include <string.h>

/* Negotiate one or two header values with server opts `s`. */
static int neg2(const wsk_deflate_opts_t *s, const char *v1, const char *v2, wsk_deflate_params_t *out) {
  const char *vals[2] = { v1, v2 };
  size_t lens[2] = { strlen(v1), v2 ? strlen(v2) : 0 };
  return wsk_deflate_negotiate(s, vals, lens, v2 ? 2 : 1, out);
}

static int neg(const char *v, wsk_deflate_params_t *out) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  return neg2(&s, v, NULL, out);
}

static int check2(const wsk_deflate_opts_t *offer, const char *v1, const char *v2, wsk_deflate_params_t *out) {
  const char *vals[2] = { v1, v2 };
  size_t lens[2] = { strlen(v1), v2 ? strlen(v2) : 0 };
  return wsk_deflate_check_response(offer, vals, lens, v2 ? 2 : 1, out);
}

static int check(const char *v, wsk_deflate_params_t *out) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  return check2(&o, v, NULL, out);
}

/* The response value for params, NUL-terminated (static storage). */
static const char *response(const wsk_deflate_params_t *p) {
  static char s[256];
  wsk_buf_t b = { 0 };
  if (wsk_deflate_response_build(p, &b) < 0) return "(error)";
  snprintf(s, sizeof s, "%.*s", (int)b.len, (const char *)b.data);
  wsk_buf_free(&b);
  return s;
}

static const char *offer(const wsk_deflate_opts_t *o) {
  static char s[256];
  wsk_buf_t b = { 0 };
  if (wsk_deflate_offer_build(o, &b) < 0) return "(error)";
  snprintf(s, sizeof s, "%.*s", (int)b.len, (const char *)b.data);
  wsk_buf_free(&b);
  return s;
}

#define CHECK_PARAMS(p, en, snct, cnct, sbits, cbits)          \
  do {                                                         \
    CHECK_INT((p).enabled, en);                                \
    CHECK_INT((p).server_no_context_takeover, snct);           \
    CHECK_INT((p).client_no_context_takeover, cnct);           \
    CHECK_INT((p).server_max_window_bits, sbits);              \
    CHECK_INT((p).client_max_window_bits, cbits);              \
  } while (0)

TEST(opts_init_defaults) {
  wsk_deflate_opts_t o;
  memset(&o, 0x55, sizeof o);
  wsk_deflate_opts_init(&o);
  CHECK_INT(o.enabled, 1);
  CHECK_INT(o.server_no_context_takeover, 0);
  CHECK_INT(o.client_no_context_takeover, 0);
  CHECK_INT(o.server_max_window_bits, 0);
  CHECK_INT(o.client_max_window_bits, 0);
  CHECK_INT(o.level, 6);
  CHECK_INT(o.mem_level, 8);
  CHECK_INT(o.threshold, 128);
}

TEST(offer_default_is_bare_client_max_window_bits) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  CHECK_STR(offer(&o), "permessage-deflate; client_max_window_bits");
}

TEST(offer_with_every_parameter) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.server_no_context_takeover = o.client_no_context_takeover = 1;
  o.server_max_window_bits = 10;
  o.client_max_window_bits = 12;
  CHECK_STR(offer(&o), "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                       "server_max_window_bits=10; client_max_window_bits=12");
}

TEST(offer_rejects_bad_bits) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.server_max_window_bits = 16;
  CHECK_STR(offer(&o), "(error)");
  o.server_max_window_bits = 0;
  o.client_max_window_bits = 7;
  CHECK_STR(offer(&o), "(error)");
}

/* RFC 7692 5.1: the plain offer, accepted with all defaults. */
TEST(negotiate_rfc7692_plain_offer) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 15, 15);
  CHECK_STR(response(&p), "permessage-deflate");
}

/* RFC 7692 5.2: the first offer asks for server_max_window_bits=10; the
 * server accepts it, answering with the parameter. */
TEST(negotiate_rfc7692_two_offers_first_accepted) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
                "permessage-deflate; client_max_window_bits", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 10, 15);
  CHECK_STR(response(&p), "permessage-deflate; server_max_window_bits=10");
}

/* RFC 7692 7.1.2.2: a server that wants a smaller client window answers
 * an offer with the bare client_max_window_bits with a value. */
TEST(negotiate_limits_client_window_when_offered) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  s.client_max_window_bits = 10;
  wsk_deflate_params_t p;
  CHECK_INT(neg2(&s, "permessage-deflate; client_max_window_bits", NULL, &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 15, 10);
  CHECK_STR(response(&p), "permessage-deflate; client_max_window_bits=10");
  /* Not offered: the server must not send it. */
  CHECK_INT(neg2(&s, "permessage-deflate", NULL, &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 15, 15);
  CHECK_STR(response(&p), "permessage-deflate");
}

TEST(negotiate_echoes_client_window_value) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; client_max_window_bits=12", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 15, 12);
  CHECK_STR(response(&p), "permessage-deflate; client_max_window_bits=12");
}

TEST(negotiate_window_bits_8) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 8, 8);
  CHECK_STR(response(&p), "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8");
}

TEST(negotiate_server_window_is_min_of_asked_and_ours) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  s.server_max_window_bits = 11;
  wsk_deflate_params_t p;
  CHECK_INT(neg2(&s, "permessage-deflate; server_max_window_bits=13", NULL, &p), 1);
  CHECK_INT(p.server_max_window_bits, 11);
  CHECK_INT(neg2(&s, "permessage-deflate; server_max_window_bits=9", NULL, &p), 1);
  CHECK_INT(p.server_max_window_bits, 9);
  /* RFC 7692 7.1.2.1 lets the server state it unasked. */
  CHECK_INT(neg2(&s, "permessage-deflate", NULL, &p), 1);
  CHECK_INT(p.server_max_window_bits, 11);
  CHECK_STR(response(&p), "permessage-deflate; server_max_window_bits=11");
}

TEST(negotiate_answers_server_window_15_when_asked) {
  /* RFC 7692 7.1.2.1: accepting an offer with server_max_window_bits
   * means naming it in the response, even at the default 15. */
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; server_max_window_bits=15", &p), 1);
  CHECK_INT(p.server_max_window_bits, 15);
  CHECK_STR(response(&p), "permessage-deflate; server_max_window_bits=15");
  CHECK_INT(neg("permessage-deflate", &p), 1);
  CHECK_STR(response(&p), "permessage-deflate");
}

TEST(negotiate_context_takeover) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; server_no_context_takeover; client_no_context_takeover", &p), 1);
  CHECK_PARAMS(p, 1, 1, 1, 15, 15);
  CHECK_STR(response(&p), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  s.server_no_context_takeover = s.client_no_context_takeover = 1;
  CHECK_INT(neg2(&s, "permessage-deflate", NULL, &p), 1);
  CHECK_PARAMS(p, 1, 1, 1, 15, 15);
}

TEST(negotiate_declined_offers_fall_through) {
  const char *declined[] = {
    "permessage-deflate; foo",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; client_max_window_bits=abc",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_no_context_takeover=\"\"",
  };
  for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
    wsk_deflate_params_t p;
    char v[256];
    if (neg(declined[i], &p) != 0) TL_FAIL("accepted %s", declined[i]);
    CHECK_PARAMS(p, 0, 0, 0, 15, 15);
    snprintf(v, sizeof v, "%s, permessage-deflate; client_max_window_bits=9", declined[i]);
    if (neg(v, &p) != 1) TL_FAIL("no fall-through after %s", declined[i]);
    CHECK_PARAMS(p, 1, 0, 0, 15, 9);
  }
}

TEST(negotiate_accepts_quoted_values) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"1\\1\"", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 10, 11);
}

TEST(negotiate_skips_other_extensions_and_uses_later_headers) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  wsk_deflate_params_t p;
  CHECK_INT(neg2(&s, "x-webkit-deflate-frame, foo; bar=1", "permessage-deflate; server_max_window_bits=12", &p), 1);
  CHECK_INT(p.server_max_window_bits, 12);
  CHECK_INT(neg2(&s, "permessage-deflate; server_max_window_bits=9", "permessage-deflate", &p), 1);
  CHECK_INT(p.server_max_window_bits, 9);
  CHECK_INT(neg2(&s, "foo", "bar", &p), 0);
}

TEST(negotiate_malformed_header_is_an_error) {
  wsk_deflate_params_t p;
  CHECK_INT(neg("permessage-deflate; client_max_window_bits=\"10", &p), WSK_EHTTP);
  CHECK_INT(neg("permessage-deflate, x y", &p), WSK_EHTTP);
  CHECK_PARAMS(p, 0, 0, 0, 15, 15);
  CHECK_INT(neg(";", &p), WSK_EHTTP);
}

TEST(negotiate_disabled_server_accepts_nothing) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  s.enabled = 0;
  wsk_deflate_params_t p;
  CHECK_INT(neg2(&s, "permessage-deflate", NULL, &p), 0);
  CHECK(!p.enabled);
}

TEST(negotiate_no_values) {
  wsk_deflate_opts_t s;
  wsk_deflate_opts_init(&s);
  wsk_deflate_params_t p;
  CHECK_INT(wsk_deflate_negotiate(&s, NULL, NULL, 0, &p), 0);
  CHECK_PARAMS(p, 0, 0, 0, 15, 15);
}

TEST(negotiate_long_value_with_quotes) {
  size_t n = 5000;
  char *v = malloc(n + 64);
  strcpy(v, "foo; x=\"");
  size_t l = strlen(v);
  memset(v + l, 'a', n);
  strcpy(v + l + n, "\", permessage-deflate; client_max_window_bits=\"9\"");
  wsk_deflate_params_t p;
  int r = neg(v, &p);
  free(v);
  CHECK_INT(r, 1);
  CHECK_INT(p.client_max_window_bits, 9);
}

TEST(response_build_rejects_bad_params) {
  wsk_deflate_params_t p = { 0, 0, 0, 15, 15, 0 };
  CHECK_STR(response(&p), "(error)");
  p.enabled = 1;
  p.server_max_window_bits = 16;
  CHECK_STR(response(&p), "(error)");
}

/* ---- client side ---- */

TEST(check_accepts_valid_responses) {
  wsk_deflate_params_t p;
  CHECK_INT(check("permessage-deflate", &p), 1);
  CHECK_PARAMS(p, 1, 0, 0, 15, 15);
  CHECK_INT(check("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                  "server_max_window_bits=8; client_max_window_bits=10", &p), 1);
  CHECK_PARAMS(p, 1, 1, 1, 8, 10);
  CHECK_INT(check("PerMessage-Deflate; Server_Max_Window_Bits=\"9\"", &p), 1);
  CHECK_INT(p.server_max_window_bits, 9);
}

TEST(check_no_extension_means_off) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  wsk_deflate_params_t p;
  CHECK_INT(wsk_deflate_check_response(&o, NULL, NULL, 0, &p), 0);
  CHECK_PARAMS(p, 0, 0, 0, 15, 15);
}

TEST(check_rejects_invalid_responses) {
  const char *bad[] = {
    "x-foo",
    "permessage-deflate, permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    "permessage-deflate; unknown",
    "permessage-deflate; server_no_context_takeover=x",
    "permessage-deflate; ",
    "permessage-deflate, x-foo",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_deflate_params_t p;
    if (check(bad[i], &p) != WSK_EHANDSHAKE) TL_FAIL("accepted %s", bad[i]);
    CHECK(!p.enabled);
  }
}

TEST(check_rejects_two_elements_across_headers) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  wsk_deflate_params_t p;
  CHECK_INT(check2(&o, "permessage-deflate", "permessage-deflate", &p), WSK_EHANDSHAKE);
}

TEST(check_rejects_extension_when_none_offered) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.enabled = 0;
  wsk_deflate_params_t p;
  CHECK_INT(check2(&o, "permessage-deflate", NULL, &p), WSK_EHANDSHAKE);
}

TEST(check_server_window_must_not_exceed_request) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.server_max_window_bits = 10;
  wsk_deflate_params_t p;
  CHECK_INT(check2(&o, "permessage-deflate; server_max_window_bits=10", NULL, &p), 1);
  CHECK_INT(check2(&o, "permessage-deflate; server_max_window_bits=9", NULL, &p), 1);
  CHECK_INT(p.server_max_window_bits, 9);
  CHECK_INT(check2(&o, "permessage-deflate; server_max_window_bits=11", NULL, &p), WSK_EHANDSHAKE);
  /* Asked for and ignored: the offer was not accepted as made. */
  CHECK_INT(check2(&o, "permessage-deflate", NULL, &p), WSK_EHANDSHAKE);
  /* 15 is the default, which a server may leave unsaid. */
  o.server_max_window_bits = 15;
  CHECK_INT(check2(&o, "permessage-deflate", NULL, &p), 1);
  CHECK_INT(p.server_max_window_bits, 15);
}

TEST(check_requested_server_no_context_takeover_must_be_accepted) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.server_no_context_takeover = 1;
  wsk_deflate_params_t p;
  CHECK_INT(check2(&o, "permessage-deflate", NULL, &p), WSK_EHANDSHAKE);
  CHECK_INT(check2(&o, "permessage-deflate; server_no_context_takeover", NULL, &p), 1);
  CHECK_INT(p.server_no_context_takeover, 1);
}

TEST(check_client_window_uses_smaller_of_offer_and_answer) {
  wsk_deflate_opts_t o;
  wsk_deflate_opts_init(&o);
  o.client_max_window_bits = 11;
  o.client_no_context_takeover = 1;
  wsk_deflate_params_t p;
  CHECK_INT(check2(&o, "permessage-deflate", NULL, &p), 1);
  CHECK_PARAMS(p, 1, 0, 1, 15, 11);
  CHECK_INT(check2(&o, "permessage-deflate; client_max_window_bits=9", NULL, &p), 1);
  CHECK_INT(p.client_max_window_bits, 9);
  CHECK_INT(check2(&o, "permessage-deflate; client_max_window_bits=13", NULL, &p), 1);
  CHECK_INT(p.client_max_window_bits, 11);
}

/* Every server answer our negotiation produces passes our client check
 * with the same parameters. */
TEST(negotiate_response_check_round_trip) {
  const char *offers[] = {
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
  };
  wsk_deflate_opts_t client[4];
  for (int i = 0; i < 4; i++) wsk_deflate_opts_init(&client[i]);
  client[1].server_no_context_takeover = 1;
  client[2].server_max_window_bits = 8;
  client[3].client_no_context_takeover = 1;
  client[3].client_max_window_bits = 9;
  for (int sbits = 0; sbits <= 15; sbits += sbits ? 1 : 8) {
    for (int i = 0; i < 4; i++) {
      wsk_deflate_opts_t s;
      wsk_deflate_opts_init(&s);
      s.server_max_window_bits = sbits;
      s.client_max_window_bits = sbits ? 23 - sbits : 0;
      CHECK_STR(offer(&client[i]), offers[i]);
      wsk_deflate_params_t sp, cp;
      CHECK_INT(neg2(&s, offers[i], NULL, &sp), 1);
      CHECK_INT(check2(&client[i], response(&sp), NULL, &cp), 1);
      CHECK_MEM(&sp, &cp, sizeof sp);
    }
  }
}

int main(void) {
  RUN(opts_init_defaults);
  RUN(offer_default_is_bare_client_max_window_bits);
  RUN(offer_with_every_parameter);
  RUN(offer_rejects_bad_bits);
  RUN(negotiate_rfc7692_plain_offer);
  RUN(negotiate_rfc7692_two_offers_first_accepted);
  RUN(negotiate_limits_client_window_when_offered);
  RUN(negotiate_echoes_client_window_value);
  RUN(negotiate_window_bits_8);
  RUN(negotiate_server_window_is_min_of_asked_and_ours);
  RUN(negotiate_answers_server_window_15_when_asked);
  RUN(negotiate_context_takeover);
  RUN(negotiate_declined_offers_fall_through);
  RUN(negotiate_accepts_quoted_values);
  RUN(negotiate_skips_other_extensions_and_uses_later_headers);
  RUN(negotiate_malformed_header_is_an_error);
  RUN(negotiate_disabled_server_accepts_nothing);
  RUN(negotiate_no_values);
  RUN(negotiate_long_value_with_quotes);
  RUN(response_build_rejects_bad_params);
  RUN(check_accepts_valid_responses);
  RUN(check_no_extension_means_off);
  RUN(check_rejects_invalid_responses);
  RUN(check_rejects_two_elements_across_headers);
  RUN(check_rejects_extension_when_none_offered);
  RUN(check_server_window_must_not_exceed_request);
  RUN(check_requested_server_no_context_takeover_must_be_accepted);
  RUN(check_client_window_uses_smaller_of_offer_and_answer);
  RUN(negotiate_response_check_round_trip);
  return test_summary();
}
