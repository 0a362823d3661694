/* The JSON channel protocol: strict parsing, every error path, the
 * builders (each round-tripped through the parser), JSON validation,
 * escaping and base64. */
#include "testlib.h"

#include <stdlib.h>
#include <wskit/chanproto.h>

#include "../../csrc/proto/json_internal.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static uint8_t scratch[1 << 16];
static wsk_chan_frame_t f;
static const char *why;

/* Parse from an exact-size heap copy so ASan sees any read past the end. */
static int parse_n(const char *s, size_t n) {
  char *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  uint8_t *scr = malloc(n ? n : 1); /* exactly the promised scratch size */
  int r = wsk_chan_parse(copy, n, scr, &f, &why);
  /* keep results readable after free: move them into static storage */
  static char keep[1 << 16];
  static uint8_t keep_scr[1 << 16];
  if (n <= sizeof keep) {
    memcpy(keep, copy, n);
    memcpy(keep_scr, scr, n);
#define FIX(field)                                                                  \
  if (f.field) {                                                                    \
    const char *p_ = (const char *)f.field;                                         \
    if (p_ >= copy && p_ <= copy + n) f.field = (void *)(keep + (p_ - copy));       \
    else if (p_ >= (char *)scr && p_ <= (char *)scr + n)                            \
      f.field = (void *)(keep_scr + (p_ - (char *)scr));                            \
  }
    FIX(channel) FIX(epoch) FIX(reason) FIX(payload) FIX(id) FIX(code) FIX(message)
#undef FIX
  }
  free(copy);
  free(scr);
  return r;
}
static int parse(const char *s) { return parse_n(s, strlen(s)); }

#define EQ(ptr, len, lit) (len == sizeof(lit) - 1 && memcmp(ptr, lit, len) == 0)
#define CHECK_EQ(ptr, len, lit) CHECK(EQ(ptr, len, lit))
#define BAD(json, text)                           \
  do {                                            \
    CHECK_INT(parse(json), WSK_EPROTO);           \
    CHECK(why != NULL);                           \
    if (strcmp(why, text) != 0) TL_FAIL("why = \"%s\", expected \"%s\" for %s", why, text, json); \
  } while (0)

/* ---- JSON validation ---- */

TEST(json_valid_accepts_rfc8259_values) {
  const char *ok[] = { "0", "-0", "1.5", "-1.5e10", "1E+2", "1e-2", "true", "false", "null",
                       "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"",
                       "[]", "{}", " [1, 2 ,3] ", "{\"a\":{\"b\":[null]}}", "\t\r\n\"x\"\n",
                       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "123456789012345678901234567890" };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!wsk_json_valid(ok[i], strlen(ok[i]))) TL_FAIL("refused %s", ok[i]);
}

TEST(json_valid_refuses_everything_else) {
  const char *bad[] = { "", " ", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN",
                        "Infinity", "tru", "nul", "True", "[1,]", "[,1]", "{\"a\":1,}",
                        "{\"a\"}", "{a:1}", "{\"a\" 1}", "{1:2}", "[1 2]", "\"abc", "'a'",
                        "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\uD800\"", "\"\\uDC00\"",
                        "\"\\uD800\\u0041\"", "\"\\uD800x\"", "\"\t\"", "\"\x01\"",
                        "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xff\"",
                        "[1] [2]", "1 2", "[", "]", "{", "}", "\"a\"\"b\"", "[1]x" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (wsk_json_valid(bad[i], strlen(bad[i]))) TL_FAIL("accepted %s", bad[i]);
  CHECK(!wsk_json_valid(S("1\0")));
  CHECK(!wsk_json_valid(NULL, 0));
}

static char *nest(int depth, char open, char close) {
  char *s = malloc((size_t)depth * 2 + 1);
  for (int i = 0; i < depth; i++) {
    s[i] = open;
    s[depth * 2 - 1 - i] = close;
  }
  s[depth * 2] = 0;
  return s;
}

TEST(json_depth_64_ok_65_refused) {
  char *a = nest(64, '[', ']');
  CHECK(wsk_json_valid(a, strlen(a)));
  free(a);
  a = nest(65, '[', ']');
  CHECK(!wsk_json_valid(a, strlen(a)));
  free(a);
  /* objects count the same */
  char buf[1024] = "";
  for (int i = 0; i < 64; i++) strcat(buf, "{\"a\":");
  strcat(buf, "1");
  for (int i = 0; i < 64; i++) strcat(buf, "}");
  CHECK(wsk_json_valid(buf, strlen(buf)));
  char buf2[1024] = "{\"a\":";
  strcat(buf2, buf);
  strcat(buf2, "}");
  CHECK(!wsk_json_valid(buf2, strlen(buf2)));
  /* 100000 deep is refused without running out of stack */
  a = nest(100000, '[', ']');
  CHECK(!wsk_json_valid(a, strlen(a)));
  free(a);
}

TEST(json_string_unescapes) {
  uint8_t out[64];
  size_t n, end;
  const char *s = "\"a\\n\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\\"\\\\\\/\\u0000\"tail";
  CHECK_INT(wsk_json_string(s, strlen(s), 0, out, &n, &end), 0);
  CHECK_MEM(out, "a\nA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\\/\0", 16);
  CHECK_INT(n, 16);
  CHECK_INT(end, strlen(s) - 4);
  /* U+10FFFF, the last code point, as a pair */
  CHECK_INT(wsk_json_string(S("\"\\uDBFF\\uDFFF\""), 0, out, &n, &end), 0);
  CHECK_INT(n, 4);
  CHECK_MEM(out, "\xf4\x8f\xbf\xbf", 4);
  /* lone and reversed surrogates */
  CHECK_INT(wsk_json_string(S("\"\\uDFFF\\uDBFF\""), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\uD83D\""), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\uD83D\\uD83D\""), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\uD83D\\n\""), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\uD83D\\"), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\"), 0, out, &n, &end), -1);
  CHECK_INT(wsk_json_string(S("\"\\u00"), 0, out, &n, &end), -1);
}

TEST(json_append_string_escapes_and_round_trips) {
  wsk_buf_t b = { 0 };
  uint8_t raw[256];
  for (int i = 0; i < 128; i++) raw[i] = (uint8_t)i;
  memcpy(raw + 128, "\xc3\xa9\xf0\x9f\x98\x80", 6);
  CHECK_INT(wsk_json_append_string(&b, raw, 134), 0);
  CHECK(wsk_json_valid((char *)b.data, b.len));
  CHECK(memchr(b.data, '\n', b.len) == NULL);
  uint8_t out[1024];
  size_t n, end;
  CHECK_INT(wsk_json_string((char *)b.data, b.len, 0, out, &n, &end), 0);
  CHECK_INT(n, 134);
  CHECK_MEM(out, raw, 134);
  CHECK_INT(end, b.len);
  wsk_buf_free(&b);
  CHECK_INT(wsk_json_append_string(&b, S("a\"b\\c\x01\n")), 0);
  CHECK_EQ(b.data, b.len, "\"a\\\"b\\\\c\\u0001\\n\"");
  wsk_buf_free(&b);
  CHECK_INT(wsk_json_append_string(&b, "", 0), 0);
  CHECK_EQ(b.data, b.len, "\"\"");
  wsk_buf_free(&b);
}

TEST(base64_round_trips_every_length) {
  uint8_t raw[300], dec[300];
  for (int i = 0; i < 300; i++) raw[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n < 300; n++) {
    wsk_buf_t b = { 0 };
    CHECK_INT(wsk_base64_append(&b, raw, n), 0);
    CHECK_INT(b.len, (n + 2) / 3 * 4);
    CHECK_INT(wsk_base64_decode_strict((char *)b.data, b.len, dec), (long)n);
    CHECK(n == 0 || memcmp(dec, raw, n) == 0);
    /* in place */
    CHECK_INT(wsk_base64_decode_strict((char *)b.data, b.len, b.data), (long)n);
    CHECK(n == 0 || memcmp(b.data, raw, n) == 0);
    wsk_buf_free(&b);
  }
}

TEST(base64_decode_is_strict) {
  uint8_t out[16];
  CHECK_INT(wsk_base64_decode_strict(S("aGk="), out), 2);
  CHECK_MEM(out, "hi", 2);
  CHECK_INT(wsk_base64_decode_strict(S("aGk"), out), WSK_EINVAL);    /* unpadded */
  CHECK_INT(wsk_base64_decode_strict(S("aGl="), out), WSK_EINVAL);   /* stray low bits */
  CHECK_INT(wsk_base64_decode_strict(S("aR=="), out), WSK_EINVAL);
  CHECK_INT(wsk_base64_decode_strict(S("a===" ), out), WSK_EINVAL);
  CHECK_INT(wsk_base64_decode_strict(S("aG=k"), out), WSK_EINVAL);
  CHECK_INT(wsk_base64_decode_strict(S("aGk=aGk="), out), WSK_EINVAL); /* '=' inside */
  CHECK_INT(wsk_base64_decode_strict(S("aG k"), out), WSK_EINVAL);
  CHECK_INT(wsk_base64_decode_strict(S("aGk-"), out), WSK_EINVAL);   /* url alphabet */
}

/* ---- parsing: client -> server ---- */

TEST(parse_subscribe_minimal_and_full) {
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"news\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBE);
  CHECK_EQ(f.channel, f.channel_len, "news");
  CHECK_INT(f.has_since, 0);
  CHECK(f.epoch == NULL);
  CHECK(f.id == NULL);
  CHECK(why == NULL);
  CHECK_INT(parse(" { \"id\" : 7 , \"epoch\":\"ep-1\", \"since\" : 42,\"channel\":\"a/b\","
                  "\"type\":\"subscribe\" } \n"), 0);
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBE);
  CHECK_EQ(f.channel, f.channel_len, "a/b");
  CHECK_INT(f.has_since, 1);
  CHECK_INT(f.since, 42);
  CHECK_EQ(f.epoch, f.epoch_len, "ep-1");
  CHECK_EQ(f.id, f.id_len, "7");
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"x\",\"since\":0,\"id\":\"req \\\"1\\\"\"}"), 0);
  CHECK_INT(f.has_since, 1);
  CHECK_INT(f.since, 0);
  CHECK_EQ(f.id, f.id_len, "\"req \\\"1\\\"\""); /* raw JSON, escapes kept */
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"x\",\"id\":-1.5e3}"), 0);
  CHECK_EQ(f.id, f.id_len, "-1.5e3");
}

TEST(parse_unescapes_channel_and_keys) {
  CHECK_INT(parse("{\"\\u0074ype\":\"sub\\u0073cribe\",\"ch\\u0061nnel\":\"caf\\u00e9 \\ud83d\\ude00\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBE);
  CHECK_EQ(f.channel, f.channel_len, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  /* raw UTF-8 too */
  CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"\xe2\x82\xac\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_UNSUBSCRIBE);
  CHECK_EQ(f.channel, f.channel_len, "\xe2\x82\xac");
}

TEST(parse_publish_kinds) {
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"hi\\nthere\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_PUBLISH);
  CHECK_INT(f.kind, WSK_PAYLOAD_TEXT);
  CHECK_EQ(f.payload, f.payload_len, "hi\nthere");
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"AAEC/w==\",\"binary\":true}"), 0);
  CHECK_INT(f.kind, WSK_PAYLOAD_BINARY);
  CHECK_INT(f.payload_len, 4);
  CHECK_MEM(f.payload, "\x00\x01\x02\xff", 4);
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"AAEC/w==\",\"binary\":false}"), 0);
  CHECK_INT(f.kind, WSK_PAYLOAD_TEXT);
  CHECK_EQ(f.payload, f.payload_len, "AAEC/w==");
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\": {\"a\" : [1, \"\\u00e9\"]} ,\"id\":1}"), 0);
  CHECK_INT(f.kind, WSK_PAYLOAD_JSON);
  CHECK_EQ(f.payload, f.payload_len, "{\"a\" : [1, \"\\u00e9\"]}"); /* exact text */
  const char *scalars[] = { "null", "true", "false", "0", "-2.5e-3", "[]" };
  for (size_t i = 0; i < 6; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "{\"type\":\"publish\",\"channel\":\"c\",\"data\":%s}", scalars[i]);
    CHECK_INT(parse(buf), 0);
    CHECK_INT(f.kind, WSK_PAYLOAD_JSON);
    CHECK(f.payload_len == strlen(scalars[i]) && memcmp(f.payload, scalars[i], f.payload_len) == 0);
  }
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\"}"), 0);
  CHECK_INT(f.kind, WSK_PAYLOAD_TEXT);
  CHECK_INT(f.payload_len, 0);
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\",\"binary\":true}"), 0);
  CHECK_INT(f.kind, WSK_PAYLOAD_BINARY);
  CHECK_INT(f.payload_len, 0);
  /* base64 written with escapes is still base64 */
  CHECK_INT(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\\u0061Gk=\",\"binary\":true}"), 0);
  CHECK_EQ(f.payload, f.payload_len, "hi");
}

TEST(parse_unknown_keys_ignored_even_duplicated) {
  CHECK_INT(parse("{\"type\":\"unsubscribe\",\"x\":1,\"x\":[{\"y\":null}],\"channel\":\"c\",\"Type\":5}"), 0);
  CHECK_INT(f.type, WSK_CHAN_UNSUBSCRIBE);
  /* known keys that this type does not use are ignored, whatever their type */
  CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"c\",\"seq\":\"x\",\"data\":1}"), 0);
  /* a long key is simply unknown */
  CHECK_INT(parse("{\"type\":\"unsubscribe\",\"channel\":\"c\","
                  "\"\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\\u0074\":1}"), 0);
}

/* ---- parsing: server -> client ---- */

TEST(parse_server_frames) {
  CHECK_INT(parse("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e1\",\"seq\":12,\"recovered\":true,\"id\":\"a\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBED);
  CHECK_EQ(f.epoch, f.epoch_len, "e1");
  CHECK_INT(f.seq, 12);
  CHECK_INT(f.recovered, 1);
  CHECK_EQ(f.id, f.id_len, "\"a\"");
  CHECK_INT(parse("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"\",\"seq\":0,\"recovered\":false}"), 0);
  CHECK_INT(f.recovered, 0);
  CHECK_INT(f.epoch_len, 0);
  CHECK_INT(parse("{\"type\":\"message\",\"channel\":\"c\",\"seq\":3,\"epoch\":\"e\",\"data\":[1]}"), 0);
  CHECK_INT(f.type, WSK_CHAN_MESSAGE);
  CHECK_INT(f.seq, 3);
  CHECK_INT(f.kind, WSK_PAYLOAD_JSON);
  CHECK_EQ(f.payload, f.payload_len, "[1]");
  CHECK_INT(parse("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":4,\"to\":9,\"reason\":\"expired\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_GAP);
  CHECK_INT(f.from, 4);
  CHECK_INT(f.to, 9);
  CHECK_EQ(f.reason, f.reason_len, "expired");
  CHECK_INT(parse("{\"type\":\"unsubscribed\",\"channel\":\"c\",\"id\":2}"), 0);
  CHECK_INT(f.type, WSK_CHAN_UNSUBSCRIBED);
  CHECK_INT(parse("{\"type\":\"published\",\"channel\":\"c\",\"seq\":77,\"id\":2}"), 0);
  CHECK_INT(f.type, WSK_CHAN_PUBLISHED);
  CHECK_INT(f.seq, 77);
  CHECK_INT(parse("{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"no \\\"way\\\"\"}"), 0);
  CHECK_INT(f.type, WSK_CHAN_ERROR);
  CHECK_EQ(f.code, f.code_len, "forbidden");
  CHECK_EQ(f.message, f.message_len, "no \"way\"");
  CHECK(f.channel == NULL);
  CHECK_INT(parse("{\"type\":\"error\",\"code\":\"x\",\"message\":\"\",\"channel\":\"c\",\"id\":1}"), 0);
  CHECK_EQ(f.channel, f.channel_len, "c");
}

/* ---- every error path ---- */

TEST(parse_refuses_non_json_and_non_objects) {
  BAD("", "empty message");
  BAD("   ", "empty message");
  BAD("[1]", "not a JSON object");
  BAD("\"subscribe\"", "not a JSON object");
  BAD("42", "not a JSON object");
  BAD("null", "not a JSON object");
  BAD("[1", "not JSON");
  BAD("{", "not JSON");
  BAD("{\"type\"", "not JSON");
  BAD("{\"type\":}", "not JSON");
  BAD("{\"type\":\"subscribe\",}", "not JSON");
  BAD("{\"type\":\"subscribe\" \"channel\":\"c\"}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\"} x", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\"}{}", "not JSON");
  BAD("{type:\"subscribe\"}", "not JSON");
  BAD("{\"type\":'subscribe'}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"x\":[1,}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"x\":\"\\uD800\"}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"\xff\"}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\tb\"}", "not JSON");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"x\":01}", "not JSON");
  CHECK_INT(parse_n(S("{\"type\":\"subscribe\",\"channel\":\"c\"}\0")), WSK_EPROTO);
  CHECK_INT(wsk_chan_parse(NULL, 0, scratch, &f, &why), WSK_EPROTO);
  CHECK_INT(wsk_chan_parse(S("x"), scratch, &f, NULL), WSK_EPROTO); /* why may be NULL */
}

TEST(parse_refuses_deep_nesting_in_unknown_keys) {
  char buf[512];
  char *a = nest(63, '[', ']'); /* 63 inside the top object: depth 64 */
  snprintf(buf, sizeof buf, "{\"type\":\"unsubscribe\",\"channel\":\"c\",\"x\":%s}", a);
  CHECK_INT(parse(buf), 0);
  free(a);
  a = nest(64, '[', ']');
  snprintf(buf, sizeof buf, "{\"type\":\"unsubscribe\",\"channel\":\"c\",\"x\":%s}", a);
  BAD(buf, "not JSON");
  free(a);
}

TEST(parse_refuses_duplicate_known_keys) {
  BAD("{\"type\":\"subscribe\",\"type\":\"subscribe\",\"channel\":\"c\"}", "duplicate key");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\",\"channel\":\"b\"}", "duplicate key");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\",\"ch\\u0061nnel\":\"b\"}", "duplicate key");
  /* even keys the type does not use */
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\",\"seq\":1,\"seq\":2}", "duplicate key");
  BAD("{\"type\":\"publish\",\"channel\":\"a\",\"data\":1,\"data\":2}", "duplicate key");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\",\"id\":1,\"id\":1}", "duplicate key");
}

TEST(parse_refuses_bad_type) {
  BAD("{}", "missing type");
  BAD("{\"channel\":\"c\"}", "missing type");
  BAD("{\"type\":1,\"channel\":\"c\"}", "type must be a string");
  BAD("{\"type\":null,\"channel\":\"c\"}", "type must be a string");
  BAD("{\"type\":\"Subscribe\",\"channel\":\"c\"}", "unknown type");
  BAD("{\"type\":\"subscribe \",\"channel\":\"c\"}", "unknown type");
  BAD("{\"type\":\"\",\"channel\":\"c\"}", "unknown type");
  BAD("{\"type\":\"subscribe\\u0000\",\"channel\":\"c\"}", "unknown type");
}

TEST(parse_refuses_bad_channel) {
  BAD("{\"type\":\"subscribe\"}", "missing channel");
  BAD("{\"type\":\"unsubscribe\"}", "missing channel");
  BAD("{\"type\":\"publish\",\"data\":1}", "missing channel");
  BAD("{\"type\":\"subscribed\",\"epoch\":\"e\",\"seq\":1,\"recovered\":true}", "missing channel");
  BAD("{\"type\":\"message\",\"epoch\":\"e\",\"seq\":1,\"data\":1}", "missing channel");
  BAD("{\"type\":\"gap\",\"epoch\":\"e\",\"from\":1,\"to\":1,\"reason\":\"r\"}", "missing channel");
  BAD("{\"type\":\"unsubscribed\"}", "missing channel");
  BAD("{\"type\":\"published\",\"seq\":1}", "missing channel");
  BAD("{\"type\":\"subscribe\",\"channel\":\"\"}", "empty channel");
  BAD("{\"type\":\"subscribe\",\"channel\":5}", "channel must be a string");
  BAD("{\"type\":\"subscribe\",\"channel\":[\"c\"]}", "channel must be a string");
  BAD("{\"type\":\"error\",\"code\":\"c\",\"message\":\"m\",\"channel\":null}", "channel must be a string");
}

TEST(parse_channel_length_limit_1024) {
  char buf[4096], name[2048];
  memset(name, 'x', sizeof name);
  snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"%.*s\"}", 1024, name);
  CHECK_INT(parse(buf), 0);
  CHECK_INT(f.channel_len, 1024);
  snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"%.*s\"}", 1025, name);
  BAD(buf, "channel too long");
  /* the limit is on unescaped bytes: 1024 two-byte characters are too long */
  char *p = buf + sprintf(buf, "{\"type\":\"subscribe\",\"channel\":\"");
  for (int i = 0; i < 512; i++) p += sprintf(p, "\xc3\xa9");
  sprintf(p, "\"}");
  CHECK_INT(parse(buf), 0);
  CHECK_INT(f.channel_len, 1024);
  p = buf + sprintf(buf, "{\"type\":\"subscribe\",\"channel\":\"x");
  for (int i = 0; i < 512; i++) p += sprintf(p, "\\u00e9");
  sprintf(p, "\"}");
  BAD(buf, "channel too long");
}

TEST(parse_epoch_limit_64) {
  char buf[512], ep[100];
  memset(ep, 'e', sizeof ep);
  snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":1,\"epoch\":\"%.*s\"}", 64, ep);
  CHECK_INT(parse(buf), 0);
  CHECK_INT(f.epoch_len, 64);
  snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":1,\"epoch\":\"%.*s\"}", 65, ep);
  BAD(buf, "epoch too long");
  snprintf(buf, sizeof buf, "{\"type\":\"message\",\"channel\":\"c\",\"seq\":1,\"epoch\":\"%.*s\",\"data\":1}", 65, ep);
  BAD(buf, "epoch too long");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"epoch\":5}", "epoch must be a string");
  BAD("{\"type\":\"subscribed\",\"channel\":\"c\",\"seq\":1,\"recovered\":true}", "missing epoch");
  BAD("{\"type\":\"message\",\"channel\":\"c\",\"seq\":1,\"data\":1}", "missing epoch");
  BAD("{\"type\":\"gap\",\"channel\":\"c\",\"from\":1,\"to\":1,\"reason\":\"r\"}", "missing epoch");
}

TEST(parse_integers_2_pow_53_boundary) {
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":9007199254740991}"), 0);
  CHECK(f.since == UINT64_C(9007199254740991));
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":9007199254740992}",
      "since must be an integer in [0, 2^53)");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":99999999999999999999999}",
      "since must be an integer in [0, 2^53)");
  CHECK_INT(parse("{\"type\":\"published\",\"channel\":\"c\",\"seq\":9007199254740991}"), 0);
  CHECK(f.seq == UINT64_C(9007199254740991));
  BAD("{\"type\":\"published\",\"channel\":\"c\",\"seq\":9007199254740992}",
      "seq must be an integer in [0, 2^53)");
  const char *bad[] = { "-1", "1.0", "1e3", "-0", "\"1\"", "true", "null", "[1]", "0.5" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":%s}", bad[i]);
    BAD(buf, "since must be an integer in [0, 2^53)");
    snprintf(buf, sizeof buf, "{\"type\":\"message\",\"channel\":\"c\",\"epoch\":\"e\",\"seq\":%s,\"data\":1}", bad[i]);
    BAD(buf, "seq must be an integer in [0, 2^53)");
    snprintf(buf, sizeof buf, "{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":%s,\"to\":1,\"reason\":\"r\"}", bad[i]);
    BAD(buf, "from must be an integer in [0, 2^53)");
    snprintf(buf, sizeof buf, "{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":1,\"to\":%s,\"reason\":\"r\"}", bad[i]);
    BAD(buf, "to must be an integer in [0, 2^53)");
  }
}

TEST(parse_refuses_missing_and_ill_typed_fields) {
  BAD("{\"type\":\"publish\",\"channel\":\"c\"}", "missing data");
  BAD("{\"type\":\"message\",\"channel\":\"c\",\"epoch\":\"e\",\"seq\":1}", "missing data");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"binary\":1}", "binary must be a boolean");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"binary\":\"true\"}", "binary must be a boolean");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":[1],\"binary\":true}", "binary data must be a base64 string");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"a\",\"binary\":true}", "binary data is not base64");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"aGk\",\"binary\":true}", "binary data is not base64");
  BAD("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"aG k=\",\"binary\":true}", "binary data is not base64");
  BAD("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e\",\"recovered\":true}", "missing seq");
  BAD("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e\",\"seq\":1}", "missing recovered");
  BAD("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e\",\"seq\":1,\"recovered\":1}", "recovered must be a boolean");
  BAD("{\"type\":\"message\",\"channel\":\"c\",\"epoch\":\"e\",\"data\":1}", "missing seq");
  BAD("{\"type\":\"published\",\"channel\":\"c\"}", "missing seq");
  BAD("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"to\":1,\"reason\":\"r\"}", "missing from");
  BAD("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":1,\"reason\":\"r\"}", "missing to");
  BAD("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":1,\"to\":2}", "missing reason");
  BAD("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e\",\"from\":1,\"to\":2,\"reason\":3}", "reason must be a string");
  BAD("{\"type\":\"error\",\"message\":\"m\"}", "missing code");
  BAD("{\"type\":\"error\",\"code\":\"c\"}", "missing message");
  BAD("{\"type\":\"error\",\"code\":1,\"message\":\"m\"}", "code must be a string");
  BAD("{\"type\":\"error\",\"code\":\"c\",\"message\":{}}", "message must be a string");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":{}}", "id must be a number or a string");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":[1]}", "id must be a number or a string");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":null}", "id must be a number or a string");
  BAD("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":true}", "id must be a number or a string");
}

TEST(parse_failure_clears_frame) {
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":-1}"), WSK_EPROTO);
  CHECK(f.channel == NULL);
  CHECK_INT(f.type, 0);
}

TEST(parse_scratch_len_is_enough_when_everything_is_escaped) {
  /* every known string field escaped as \uXXXX: the unescaped bytes of all
   * of them still fit len bytes (parse_n gives exactly len of scratch) */
  char buf[2048];
  char *p = buf + sprintf(buf, "{\"type\":\"message\",\"channel\":\"");
  for (int i = 0; i < 100; i++) p += sprintf(p, "\\ud83d\\ude00");
  p += sprintf(p, "\",\"epoch\":\"\\u0065\\u0065\",\"seq\":1,\"data\":\"");
  for (int i = 0; i < 50; i++) p += sprintf(p, "\\u20ac\\n");
  sprintf(p, "\"}");
  CHECK_INT(parse(buf), 0);
  CHECK_INT(f.channel_len, 400);
  CHECK_INT(f.payload_len, 200);
  CHECK_EQ(f.epoch, f.epoch_len, "ee");
}

/* ---- builders, each round-tripped through the parser ---- */

static wsk_buf_t b;
static int built(int r) {
  if (r != 0) return r;
  return parse_n((const char *)b.data, b.len);
}
#define CHECK_BUILT(lit) CHECK_EQ(b.data, b.len, lit)

TEST(build_subscribe) {
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_subscribe(&b, S("news"), 0, 0, NULL, 0, NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"subscribe\",\"channel\":\"news\"}");
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBE);
  CHECK_INT(f.has_since, 0);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_subscribe(&b, S("n\"e"), 1, 9007199254740991ULL, S("ep"), S("\"x\""))), 0);
  CHECK_BUILT("{\"type\":\"subscribe\",\"channel\":\"n\\\"e\",\"since\":9007199254740991,\"epoch\":\"ep\",\"id\":\"x\"}");
  CHECK_EQ(f.channel, f.channel_len, "n\"e");
  CHECK(f.since == 9007199254740991ULL);
  CHECK_EQ(f.id, f.id_len, "\"x\"");
  b.len = 0;
  CHECK_INT(wsk_chan_build_subscribe(&b, S("c"), 1, 9007199254740992ULL, NULL, 0, NULL, 0), WSK_EINVAL);
  CHECK_INT(b.len, 0); /* nothing half-written */
  wsk_buf_free(&b);
}

TEST(build_unsubscribe_unsubscribed_published) {
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_unsubscribe(&b, S("c"), S("3"))), 0);
  CHECK_BUILT("{\"type\":\"unsubscribe\",\"channel\":\"c\",\"id\":3}");
  CHECK_INT(f.type, WSK_CHAN_UNSUBSCRIBE);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_unsubscribed(&b, S("c"), NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"unsubscribed\",\"channel\":\"c\"}");
  CHECK_INT(f.type, WSK_CHAN_UNSUBSCRIBED);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_published(&b, S("c"), 5, S("\"p1\""))), 0);
  CHECK_BUILT("{\"type\":\"published\",\"channel\":\"c\",\"seq\":5,\"id\":\"p1\"}");
  CHECK_INT(f.type, WSK_CHAN_PUBLISHED);
  CHECK_INT(f.seq, 5);
  wsk_buf_free(&b);
}

TEST(build_subscribed_and_gap) {
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_subscribed(&b, S("c"), S("e1"), 10, 1, S("1"))), 0);
  CHECK_BUILT("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e1\",\"seq\":10,\"recovered\":true,\"id\":1}");
  CHECK_INT(f.recovered, 1);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_subscribed(&b, S("c"), S("e1"), 0, 0, NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"e1\",\"seq\":0,\"recovered\":false}");
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_gap(&b, S("c"), S("e1"), 3, 7, "expired")), 0);
  CHECK_BUILT("{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"e1\",\"from\":3,\"to\":7,\"reason\":\"expired\"}");
  CHECK_INT(f.from, 3);
  CHECK_INT(f.to, 7);
  CHECK_EQ(f.reason, f.reason_len, "expired");
  b.len = 0;
  CHECK_INT(wsk_chan_build_gap(&b, S("c"), S("e1"), 3, 7, NULL), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

TEST(build_message_every_kind) {
  wsk_chan_msg_t m = { "chan", 4, 42, "ep", 2, WSK_PAYLOAD_TEXT, (const uint8_t *)"h\xc3\xa9\n\"", 5 };
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_message(&b, &m)), 0);
  CHECK_BUILT("{\"type\":\"message\",\"channel\":\"chan\",\"seq\":42,\"epoch\":\"ep\",\"data\":\"h\xc3\xa9\\n\\\"\"}");
  CHECK_INT(f.kind, WSK_PAYLOAD_TEXT);
  CHECK_EQ(f.payload, f.payload_len, "h\xc3\xa9\n\"");
  uint8_t bin[256];
  for (int i = 0; i < 256; i++) bin[i] = (uint8_t)(255 - i);
  for (size_t n = 0; n <= 256; n += 1) {
    m.kind = WSK_PAYLOAD_BINARY;
    m.payload = bin;
    m.payload_len = n;
    b.len = 0;
    CHECK_INT(built(wsk_chan_build_message(&b, &m)), 0);
    CHECK_INT(f.kind, WSK_PAYLOAD_BINARY);
    CHECK_INT(f.payload_len, n);
    CHECK(n == 0 || memcmp(f.payload, bin, n) == 0);
  }
  m.kind = WSK_PAYLOAD_BINARY;
  m.payload = (const uint8_t *)"\x00\xff";
  m.payload_len = 2;
  b.len = 0;
  CHECK_INT(wsk_chan_build_message(&b, &m), 0);
  CHECK_BUILT("{\"type\":\"message\",\"channel\":\"chan\",\"seq\":42,\"epoch\":\"ep\",\"data\":\"AP8=\",\"binary\":true}");
  m.kind = WSK_PAYLOAD_JSON;
  m.payload = (const uint8_t *)" \n{\"a\": [1, 2]}\t ";
  m.payload_len = strlen((const char *)m.payload);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_message(&b, &m)), 0);
  CHECK_BUILT("{\"type\":\"message\",\"channel\":\"chan\",\"seq\":42,\"epoch\":\"ep\",\"data\":{\"a\": [1, 2]}}");
  CHECK_INT(f.kind, WSK_PAYLOAD_JSON);
  CHECK_EQ(f.payload, f.payload_len, "{\"a\": [1, 2]}");
  wsk_buf_free(&b);
}

TEST(build_publish_ignores_seq_and_epoch) {
  wsk_chan_msg_t m = { "c", 1, 99, "zz", 2, WSK_PAYLOAD_JSON, (const uint8_t *)"null", 4 };
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_publish(&b, &m, S("\"r\""))), 0);
  CHECK_BUILT("{\"type\":\"publish\",\"channel\":\"c\",\"data\":null,\"id\":\"r\"}");
  CHECK_INT(f.type, WSK_CHAN_PUBLISH);
  CHECK_INT(f.kind, WSK_PAYLOAD_JSON);
  m.kind = WSK_PAYLOAD_BINARY;
  m.payload = (const uint8_t *)"hi";
  m.payload_len = 2;
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_publish(&b, &m, NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"aGk=\",\"binary\":true}");
  CHECK_EQ(f.payload, f.payload_len, "hi");
  wsk_buf_free(&b);
}

TEST(build_error) {
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_error(&b, "forbidden", "not \"allowed\"", "c", 1, S("4"))), 0);
  CHECK_BUILT("{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"not \\\"allowed\\\"\",\"channel\":\"c\",\"id\":4}");
  CHECK_EQ(f.code, f.code_len, "forbidden");
  CHECK_EQ(f.message, f.message_len, "not \"allowed\"");
  CHECK_EQ(f.channel, f.channel_len, "c");
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_error(&b, "bad_request", "x", NULL, 0, NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"x\"}");
  CHECK(f.channel == NULL);
  b.len = 0;
  CHECK_INT(built(wsk_chan_build_error(&b, "unavailable", NULL, NULL, 0, NULL, 0)), 0);
  CHECK_BUILT("{\"type\":\"error\",\"code\":\"unavailable\",\"message\":\"\"}");
  b.len = 0;
  CHECK_INT(wsk_chan_build_error(&b, NULL, "m", NULL, 0, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_error(&b, "c", "bad \xff", NULL, 0, NULL, 0), WSK_EUTF8);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

TEST(build_refuses_bad_input_and_leaves_buffer_alone) {
  wsk_chan_msg_t m = { "c", 1, 1, "e", 1, WSK_PAYLOAD_TEXT, (const uint8_t *)"\xc3", 1 };
  CHECK_INT(wsk_buf_append_str(&b, "keep"), 0);
  b.len = 4;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EUTF8);
  m.payload = (const uint8_t *)"\xed\xa0\x80"; /* surrogate */
  m.payload_len = 3;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EUTF8);
  m.kind = WSK_PAYLOAD_JSON;
  m.payload = (const uint8_t *)"{a:1}";
  m.payload_len = 5;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  m.payload_len = 0;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL); /* empty is not JSON */
  m.kind = (wsk_payload_kind_t)'x';
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  m.kind = WSK_PAYLOAD_TEXT;
  m.payload = (const uint8_t *)"ok";
  m.payload_len = 2;
  m.seq = UINT64_C(1) << 53;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  m.seq = 1;
  m.epoch_len = 65;
  m.epoch = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  m.epoch_len = 64;
  CHECK_INT(wsk_chan_build_message(&b, &m), 0);
  b.len = 4;
  m.channel_len = 0;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  static char big[1025];
  memset(big, 'c', sizeof big);
  m.channel = big;
  m.channel_len = 1025;
  CHECK_INT(wsk_chan_build_message(&b, &m), WSK_EINVAL);
  m.channel_len = 1024;
  CHECK_INT(wsk_chan_build_message(&b, &m), 0);
  b.len = 4;
  CHECK_INT(wsk_chan_build_subscribe(&b, S("c\xff"), 0, 0, NULL, 0, NULL, 0), WSK_EUTF8);
  CHECK_INT(wsk_chan_build_subscribe(&b, S("c"), 0, 0, NULL, 0, S("{}")), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_subscribe(&b, S("c"), 0, 0, NULL, 0, S("1 2")), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_subscribe(&b, S("c"), 0, 0, NULL, 0, S("true")), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_published(&b, NULL, 0, 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(b.len, 4);
  CHECK_MEM(b.data, "keep", 4);
  wsk_buf_free(&b);
}

/* ---- refusals: an error that answers the refused request ---- */

static int refusal(wsk_buf_t *ob, const char *req, size_t n) {
  ob->len = 0;
  char *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
  memcpy(copy, req, n);
  int r = wsk_chan_build_refusal(ob, "rate_limited", "slow down", copy, n);
  free(copy);
  return r;
}

TEST(build_refusal_copies_id_and_channel) {
  wsk_buf_t rb = { 0 };
  CHECK_INT(refusal(&rb, S("{\"type\":\"publish\",\"channel\":\"a\\u00e9\",\"data\":1,\"id\":7}")), 0);
  CHECK_EQ(rb.data, rb.len, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\","
                          "\"channel\":\"a\xc3\xa9\",\"id\":7}");
  CHECK_INT(refusal(&rb, S("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":\"x-1\"}")), 0);
  CHECK_EQ(rb.data, rb.len, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\","
                          "\"channel\":\"c\",\"id\":\"x-1\"}");
  /* no id: only the channel */
  CHECK_INT(refusal(&rb, S("{\"type\":\"unsubscribe\",\"channel\":\"c\"}")), 0);
  CHECK_EQ(rb.data, rb.len, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\","
                          "\"channel\":\"c\"}");
  CHECK_INT(parse_n((char *)rb.data, rb.len), 0);
  CHECK_INT(f.type, WSK_CHAN_ERROR);
  CHECK_EQ(f.channel, f.channel_len, "c");
  wsk_buf_free(&rb);
}

TEST(build_refusal_of_unparsable_request_has_neither) {
  wsk_buf_t rb = { 0 };
  const char *plain = "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\"}";
  const char *bad[] = { "not json", "[1]", "{\"type\":\"nope\",\"id\":1}",
                        "{\"type\":\"subscribe\",\"id\":1}", /* no channel */
                        "{\"type\":\"publish\",\"channel\":\"c\",\"id\":2}", /* no data */
                        "{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":[1]}" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_INT(refusal(&rb, bad[i], strlen(bad[i])), 0);
    if (!EQ(rb.data, rb.len, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\"}"))
      TL_FAIL("for %s: %.*s", bad[i], (int)rb.len, (char *)rb.data);
  }
  CHECK_INT(refusal(&rb, "", 0), 0);
  CHECK(rb.len == strlen(plain) && memcmp(rb.data, plain, rb.len) == 0);
  rb.len = 0;
  CHECK_INT(wsk_chan_build_refusal(&rb, "rate_limited", "slow down", NULL, 5), 0);
  CHECK(rb.len == strlen(plain) && memcmp(rb.data, plain, rb.len) == 0);
  /* a bad code is refused and leaves the buffer as it was */
  rb.len = 0;
  CHECK_INT(wsk_buf_append(&rb, "x", 1), 0);
  CHECK_INT(wsk_chan_build_refusal(&rb, NULL, "m", S("{\"type\":\"unsubscribe\",\"channel\":\"c\"}")),
            WSK_EINVAL);
  CHECK_INT(rb.len, 1);
  wsk_buf_free(&rb);
}

TEST(build_refusal_of_a_large_request) {
  /* 1 MiB of payload: the scratch is sized to the request */
  size_t big = 1 << 20;
  char *req = malloc(big + 100);
  int n = sprintf(req, "{\"type\":\"publish\",\"channel\":\"big\",\"id\":3,\"data\":\"");
  memset(req + n, 'a', big);
  memcpy(req + n + big, "\"}", 2);
  wsk_buf_t rb = { 0 };
  CHECK_INT(refusal(&rb, req, (size_t)n + big + 2), 0);
  CHECK_EQ(rb.data, rb.len, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\","
                          "\"channel\":\"big\",\"id\":3}");
  free(req);
  wsk_buf_free(&rb);
}

TEST(channel_control_characters_refused) {
  /* escaped NUL, escaped and raw DEL, every escaped C0 byte, in every frame */
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\\u0000b\"}", "control character in channel");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\\u007f\"}", "control character in channel");
  BAD("{\"type\":\"subscribe\",\"channel\":\"a\x7f\"}", "control character in channel");
  BAD("{\"type\":\"unsubscribe\",\"channel\":\"\\n\"}", "control character in channel");
  BAD("{\"type\":\"publish\",\"channel\":\"a\\r\",\"data\":1}", "control character in channel");
  BAD("{\"type\":\"error\",\"code\":\"c\",\"message\":\"m\",\"channel\":\"\\t\"}",
      "control character in channel");
  char buf[96];
  for (int c = 0; c < 0x20; c++) {
    snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"channel\":\"x\\u%04x\"}", c);
    if (parse(buf) != WSK_EPROTO) TL_FAIL("accepted %s", buf);
  }
  /* the neighbours are fine: space, '~', U+0080 (two bytes, >= 0x80) */
  CHECK_INT(parse("{\"type\":\"subscribe\",\"channel\":\" ~\\u0080\"}"), 0);
  CHECK_EQ(f.channel, f.channel_len, " ~\xc2\x80");
  /* the builders refuse what the parser would */
  wsk_buf_t cb = { 0 };
  CHECK_INT(wsk_chan_build_subscribe(&cb, S("a\0b"), 0, 0, NULL, 0, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_unsubscribe(&cb, S("a\x7f"), NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_unsubscribed(&cb, S("\x1f"), NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_published(&cb, S("a\n"), 1, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_error(&cb, "c", "m", S("a\r"), NULL, 0), WSK_EINVAL);
  wsk_chan_msg_t m = { "a\tb", 3, 1, "e", 1, WSK_PAYLOAD_TEXT, (const uint8_t *)"x", 1 };
  CHECK_INT(wsk_chan_build_message(&cb, &m), WSK_EINVAL);
  CHECK_INT(wsk_chan_build_publish(&cb, &m, NULL, 0), WSK_EINVAL);
  CHECK_INT(cb.len, 0);
  CHECK_INT(wsk_chan_build_unsubscribe(&cb, S(" ~\xc2\x80"), NULL, 0), 0);
  wsk_buf_free(&cb);
}

int main(void) {
  RUN(json_valid_accepts_rfc8259_values);
  RUN(json_valid_refuses_everything_else);
  RUN(json_depth_64_ok_65_refused);
  RUN(json_string_unescapes);
  RUN(json_append_string_escapes_and_round_trips);
  RUN(base64_round_trips_every_length);
  RUN(base64_decode_is_strict);
  RUN(parse_subscribe_minimal_and_full);
  RUN(parse_unescapes_channel_and_keys);
  RUN(parse_publish_kinds);
  RUN(parse_unknown_keys_ignored_even_duplicated);
  RUN(parse_server_frames);
  RUN(parse_refuses_non_json_and_non_objects);
  RUN(parse_refuses_deep_nesting_in_unknown_keys);
  RUN(parse_refuses_duplicate_known_keys);
  RUN(parse_refuses_bad_type);
  RUN(parse_refuses_bad_channel);
  RUN(parse_channel_length_limit_1024);
  RUN(channel_control_characters_refused);
  RUN(parse_epoch_limit_64);
  RUN(parse_integers_2_pow_53_boundary);
  RUN(parse_refuses_missing_and_ill_typed_fields);
  RUN(parse_failure_clears_frame);
  RUN(parse_scratch_len_is_enough_when_everything_is_escaped);
  RUN(build_subscribe);
  RUN(build_unsubscribe_unsubscribed_published);
  RUN(build_subscribed_and_gap);
  RUN(build_message_every_kind);
  RUN(build_publish_ignores_seq_and_epoch);
  RUN(build_error);
  RUN(build_refuses_bad_input_and_leaves_buffer_alone);
  RUN(build_refusal_copies_id_and_channel);
  RUN(build_refusal_of_unparsable_request_has_neither);
  RUN(build_refusal_of_a_large_request);
  return test_summary();
}
