/* The Redis backplane's C side: envelopes (build, parse, every malformed
 * form), tokens, origins, key names and the script constants. The scripts
 * themselves run in a real redis-server in tests/backplane. */
#include "testlib.h"

#include <stdlib.h>
#include <wskit/backplane.h>

#define S(lit) (lit), (sizeof(lit) - 1)

static const char *origin, *why;
static size_t origin_len;
static wsk_chan_msg_t m;

/* parse from an exact-size heap copy so ASan sees over-reads */
static int parse_n(const void *p, size_t n) {
  static uint8_t keep[8192];
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  int r = wsk_envelope_parse(copy, n, &origin, &origin_len, &m, &why);
  if (r == 0 && n <= sizeof keep) {
    memcpy(keep, copy, n);
    m.channel = (const char *)keep + ((const uint8_t *)m.channel - copy);
    m.epoch = (const char *)keep + ((const uint8_t *)m.epoch - copy);
    m.payload = keep + (m.payload - copy);
    origin = (const char *)keep + ((const uint8_t *)origin - copy);
  }
  free(copy);
  return r;
}

#define EQ(ptr, len, lit) ((len) == sizeof(lit) - 1 && memcmp((ptr), (lit), (len)) == 0)
#define BAD(lit, text)                                                                \
  do {                                                                                \
    CHECK_INT(parse_n(S(lit)), WSK_EPROTO);                                           \
    if (!why || strcmp(why, text) != 0) TL_FAIL("why = %s, expected %s", why ? why : "(null)", text); \
  } while (0)

TEST(envelope_build_exact_bytes) {
  wsk_buf_t b = { 0 };
  wsk_chan_msg_t msg = { "room 1", 6, 42, "e-1", 3, WSK_PAYLOAD_TEXT, (const uint8_t *)"hi\n", 3 };
  CHECK_INT(wsk_envelope_build(&b, "inst.A", &msg), 0);
  CHECK(EQ(b.data, b.len, "WSK1 t 42 e-1 inst.A 6\nroom 1hi\n"));
  wsk_buf_free(&b);
}

TEST(envelope_round_trip_every_kind) {
  uint8_t bin[256];
  for (int i = 0; i < 256; i++) bin[i] = (uint8_t)i;
  struct { wsk_payload_kind_t k; const void *p; size_t n; } cases[] = {
    { WSK_PAYLOAD_TEXT, "", 0 },
    { WSK_PAYLOAD_TEXT, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11 },
    { WSK_PAYLOAD_BINARY, bin, 256 },
    { WSK_PAYLOAD_BINARY, "", 0 },
    { WSK_PAYLOAD_JSON, "{\"a\":[1,2]}", 11 },
    { WSK_PAYLOAD_JSON, " null ", 6 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wsk_buf_t b = { 0 };
    wsk_chan_msg_t msg = { "a:b c", 5, UINT64_C(9007199254740991), "Ep:1_x", 6, cases[i].k,
                           cases[i].p, cases[i].n };
    CHECK_INT(wsk_envelope_build(&b, "o", &msg), 0);
    CHECK_INT(parse_n(b.data, b.len), 0);
    CHECK(why == NULL);
    CHECK(EQ(origin, origin_len, "o"));
    CHECK_INT(m.kind, cases[i].k);
    CHECK(m.seq == UINT64_C(9007199254740991));
    CHECK(EQ(m.epoch, m.epoch_len, "Ep:1_x"));
    CHECK(EQ(m.channel, m.channel_len, "a:b c"));
    CHECK_INT(m.payload_len, cases[i].n);
    CHECK(cases[i].n == 0 || memcmp(m.payload, cases[i].p, cases[i].n) == 0);
    wsk_buf_free(&b);
  }
}

TEST(envelope_channel_length_limit) {
  static char name[1025];
  memset(name, 'n', sizeof name);
  wsk_buf_t b = { 0 };
  wsk_chan_msg_t msg = { name, 1024, 1, "e", 1, WSK_PAYLOAD_TEXT, (const uint8_t *)"x", 1 };
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), 0);
  CHECK_INT(parse_n(b.data, b.len), 0);
  CHECK_INT(m.channel_len, 1024);
  wsk_buf_free(&b);
  msg.channel_len = 1025;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  /* by hand: 1025 is refused by the parser too */
  char env[1200];
  int n = snprintf(env, sizeof env, "WSK1 t 1 e o 1025\n%.*sx", 1025, name);
  CHECK_INT(parse_n(env, (size_t)n), WSK_EPROTO);
  CHECK_STR(why, "bad channel length");
}

TEST(envelope_build_refuses_bad_input) {
  wsk_buf_t b = { 0 };
  wsk_chan_msg_t msg = { "c", 1, 1, "e", 1, WSK_PAYLOAD_TEXT, (const uint8_t *)"x", 1 };
  CHECK_INT(wsk_buf_append_str(&b, "keep"), 0);
  CHECK_INT(wsk_envelope_build(&b, "bad origin", &msg), WSK_EINVAL);
  CHECK_INT(wsk_envelope_build(&b, "", &msg), WSK_EINVAL);
  CHECK_INT(wsk_envelope_build(&b, NULL, &msg), WSK_EINVAL);
  msg.seq = 0;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.seq = UINT64_C(1) << 53;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.seq = 1;
  msg.epoch_len = 0;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.epoch = "e/";
  msg.epoch_len = 2;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.epoch = "e";
  msg.epoch_len = 1;
  msg.channel_len = 0;
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.channel_len = 1;
  msg.kind = (wsk_payload_kind_t)'x';
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  msg.kind = WSK_PAYLOAD_TEXT;
  msg.payload = (const uint8_t *)"\xc3";
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EUTF8);
  msg.kind = WSK_PAYLOAD_JSON;
  msg.payload = (const uint8_t *)"{";
  CHECK_INT(wsk_envelope_build(&b, "o", &msg), WSK_EINVAL);
  CHECK(EQ(b.data, b.len, "keep"));
  wsk_buf_free(&b);
}

TEST(envelope_parse_refuses_every_malformed_form) {
  BAD("", "not a WSK1 envelope");
  BAD("WSK1", "not a WSK1 envelope");
  BAD("WSK2 t 1 e o 1\nc", "not a WSK1 envelope");
  BAD("wsk1 t 1 e o 1\nc", "not a WSK1 envelope");
  BAD("WSK1 x 1 e o 1\nc", "bad kind");
  BAD("WSK1 tt 1 e o 1\nc", "bad kind");
  BAD("WSK1 t", "bad kind");
  BAD("WSK1 t 0 e o 1\nc", "bad seq");
  BAD("WSK1 t 1 e o 1\n\n", "control character in channel");
  BAD("WSK1 t 1 e o 2\na\x7fpayload", "control character in channel");
  BAD("WSK1 t 01 e o 1\nc", "bad seq");
  BAD("WSK1 t -1 e o 1\nc", "bad seq");
  BAD("WSK1 t  1 e o 1\nc", "bad seq");
  BAD("WSK1 t 1x e o 1\nc", "bad seq");
  BAD("WSK1 t 9007199254740992 e o 1\nc", "bad seq");
  BAD("WSK1 t 99999999999999999999999 e o 1\nc", "bad seq");
  BAD("WSK1 t 1", "bad seq");
  BAD("WSK1 t 1  o 1\nc", "bad epoch");
  BAD("WSK1 t 1 e/x o 1\nc", "bad epoch");
  BAD("WSK1 t 1 e", "bad epoch");
  BAD("WSK1 t 1 e  1\nc", "bad origin");
  BAD("WSK1 t 1 e o\n1\nc", "bad origin");
  BAD("WSK1 t 1 e o 0\n", "bad channel length");
  BAD("WSK1 t 1 e o 01\nc", "bad channel length");
  BAD("WSK1 t 1 e o 1", "bad channel length");
  BAD("WSK1 t 1 e o 1 \nc", "bad channel length");
  BAD("WSK1 t 1 e o 1\r\nc", "bad channel length");
  BAD("WSK1 t 1 e o 2\nc", "truncated channel");
  BAD("WSK1 t 1 e o 1\nc\xff", "text payload is not UTF-8");
  BAD("WSK1 t 1 e o 1\nc\xed\xa0\x80", "text payload is not UTF-8");
  BAD("WSK1 j 1 e o 1\nc", "JSON payload is not valid JSON");
  BAD("WSK1 j 1 e o 1\nc{\"a\":}", "JSON payload is not valid JSON");
  /* binary takes anything, including nothing */
  CHECK_INT(parse_n(S("WSK1 b 1 e o 1\nc\xff\x00")), 0);
  CHECK_INT(m.payload_len, 2);
  CHECK_INT(parse_n(S("WSK1 b 1 e o 1\nc")), 0);
  CHECK_INT(m.payload_len, 0);
  /* why and outputs may be NULL */
  CHECK_INT(wsk_envelope_parse((const uint8_t *)"x", 1, NULL, NULL, NULL, NULL), WSK_EPROTO);
  CHECK_INT(wsk_envelope_parse((const uint8_t *)S("WSK1 t 1 e o 1\nc"), NULL, NULL, NULL, NULL), 0);
}

TEST(envelope_token_64_ok_65_refused) {
  char env[300], tok[70];
  memset(tok, 'a', sizeof tok);
  int n = snprintf(env, sizeof env, "WSK1 t 1 %.*s %.*s 1\nc", 64, tok, 64, tok);
  CHECK_INT(parse_n(env, (size_t)n), 0);
  CHECK_INT(m.epoch_len, 64);
  CHECK_INT(origin_len, 64);
  n = snprintf(env, sizeof env, "WSK1 t 1 %.*s o 1\nc", 65, tok);
  CHECK_INT(parse_n(env, (size_t)n), WSK_EPROTO);
  CHECK_STR(why, "bad epoch");
  n = snprintf(env, sizeof env, "WSK1 t 1 e %.*s 1\nc", 65, tok);
  CHECK_INT(parse_n(env, (size_t)n), WSK_EPROTO);
  CHECK_STR(why, "bad origin");
}

TEST(token_valid_charset) {
  CHECK(wsk_backplane_token_valid(S("AZaz09._:-")));
  CHECK(!wsk_backplane_token_valid("", 0));
  CHECK(!wsk_backplane_token_valid(NULL, 3));
  const char *bad = " /\n\t\"+=@#\x80";
  for (size_t i = 0; i < strlen(bad); i++) {
    char t[3] = { 'a', bad[i], 0 };
    CHECK(!wsk_backplane_token_valid(t, 2));
  }
  CHECK(!wsk_backplane_token_valid(S("a\0b")));
}

static int fixed_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(0xA0 + i * 0x11);
  return 0;
}
static int failing_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  (void)out;
  (void)n;
  return WSK_ECRYPTO;
}

TEST(new_origin_is_16_hex) {
  char o[17];
  CHECK_INT(wsk_backplane_new_origin(fixed_random, NULL, o), 0);
  CHECK_STR(o, "a0b1c2d3e4f50617");
  char o2[17];
  CHECK_INT(wsk_backplane_new_origin(NULL, NULL, o), 0);
  CHECK_INT(wsk_backplane_new_origin(NULL, NULL, o2), 0);
  CHECK_INT(strlen(o), 16);
  CHECK(wsk_backplane_token_valid(o, 16));
  for (int i = 0; i < 16; i++) CHECK((o[i] >= '0' && o[i] <= '9') || (o[i] >= 'a' && o[i] <= 'f'));
  CHECK(strcmp(o, o2) != 0);
  CHECK_INT(wsk_backplane_new_origin(failing_random, NULL, o), WSK_ECRYPTO);
}

TEST(keys_and_channel_of) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_META, S("news")), 0);
  CHECK(EQ(b.data, b.len, "wskit:meta:news"));
  b.len = 0;
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_HIST, S("a:b")), 0);
  CHECK(EQ(b.data, b.len, "wskit:hist:a:b"));
  b.len = 0;
  CHECK_INT(wsk_backplane_key(&b, "app1:", WSK_KEY_MSG, S("x")), 0);
  CHECK(EQ(b.data, b.len, "app1:msg:x"));
  b.len = 0;
  CHECK_INT(wsk_backplane_key(&b, "", WSK_KEY_MSG, S("x")), 0);
  CHECK(EQ(b.data, b.len, "msg:x"));
  b.len = 0;
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_MSG, "", 0), WSK_EINVAL);
  CHECK_INT(wsk_backplane_key(&b, NULL, (wsk_backplane_key_t)3, S("x")), WSK_EINVAL);
  /* control characters: a name is part of the key */
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_META, S("a\0b")), WSK_EINVAL);
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_META, S("a\nb")), WSK_EINVAL);
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_META, S("\x7f")), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  static char big[1025];
  memset(big, 'b', sizeof big);
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_MSG, big, 1025), WSK_EINVAL);
  CHECK_INT(wsk_backplane_key(&b, NULL, WSK_KEY_MSG, big, 1024), 0);
  CHECK_INT(b.len, 1024 + 10);
  wsk_buf_free(&b);

  const char *ch;
  size_t n;
  CHECK_INT(wsk_backplane_channel_of(NULL, S("wskit:msg:news"), &ch, &n), 1);
  CHECK_INT(wsk_backplane_channel_of(NULL, S("wskit:msg:ne\x1fws"), &ch, &n), 0);
  CHECK(EQ(ch, n, "news"));
  CHECK_INT(wsk_backplane_channel_of("app1:", S("app1:msg:a:msg:b"), &ch, &n), 1);
  CHECK(EQ(ch, n, "a:msg:b"));
  CHECK_INT(wsk_backplane_channel_of(NULL, S("wskit:msg:"), &ch, &n), 0);
  CHECK_INT(wsk_backplane_channel_of(NULL, S("wskit:meta:news"), &ch, &n), 0);
  CHECK_INT(wsk_backplane_channel_of(NULL, S("other:msg:news"), &ch, &n), 0);
  CHECK_INT(wsk_backplane_channel_of(NULL, S("wskit:ms"), &ch, &n), 0);
  CHECK_INT(wsk_backplane_channel_of(NULL, NULL, 0, &ch, &n), 0);
}

TEST(scripts_are_present) {
  CHECK(strstr(WSK_REDIS_PUBLISH_SCRIPT, "HINCRBY") != NULL);
  CHECK(strstr(WSK_REDIS_PUBLISH_SCRIPT, "XADD") != NULL);
  CHECK(strstr(WSK_REDIS_PUBLISH_SCRIPT, "PUBLISH") != NULL);
  CHECK(strstr(WSK_REDIS_PUBLISH_SCRIPT, "'WSK1 '") != NULL);
  CHECK(strstr(WSK_REDIS_RECOVER_SCRIPT, "XRANGE") != NULL);
  /* no number ever goes into a string through tostring (1e+15 risk) */
  CHECK(strstr(WSK_REDIS_PUBLISH_SCRIPT, "tostring") == NULL);
  CHECK(strstr(WSK_REDIS_RECOVER_SCRIPT, "tostring") == NULL);
}

int main(void) {
  RUN(envelope_build_exact_bytes);
  RUN(envelope_round_trip_every_kind);
  RUN(envelope_channel_length_limit);
  RUN(envelope_build_refuses_bad_input);
  RUN(envelope_parse_refuses_every_malformed_form);
  RUN(envelope_token_64_ok_65_refused);
  RUN(token_valid_charset);
  RUN(new_origin_is_16_hex);
  RUN(keys_and_channel_of);
  RUN(scripts_are_present);
  return test_summary();
}
