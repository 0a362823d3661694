/* UTF-8 validation: RFC 3629 validity, fail-fast position, and identical
 * results whole, byte by byte and split at every point. */
#include "wskit/utf8.h"
#include "testlib.h"

#include <stdlib.h>

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Expectation for one input: the index of the byte on which a feed first
 * fails (-1: never), and whether the end is a character boundary. */
static void check_case(const uint8_t *p, size_t n, long fail_at, int complete) {
  /* Copy to an exact-size heap block so ASan sees any over-read. It is
   * freed on the next call, since a failed CHECK longjmps out. */
  static uint8_t *buf;
  int whole_ok = fail_at < 0 && complete;
  free(buf);
  buf = malloc(n ? n : 1);
  if (!buf) TL_FAIL("malloc");
  memcpy(buf, p, n);

  CHECK_INT(wsk_utf8_validate(buf, n), whole_ok ? 0 : WSK_EUTF8);

  /* byte by byte: the first failing feed is exactly at fail_at */
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  long failed = -1;
  for (size_t i = 0; i < n; i++) {
    int r = wsk_utf8_feed(&v, buf + i, 1);
    if (r != 0) {
      CHECK_INT(r, WSK_EUTF8);
      if (failed < 0) failed = (long)i;
    } else {
      CHECK(failed < 0); /* once failed, stays failed */
    }
  }
  CHECK_INT(failed, fail_at);
  CHECK_INT(wsk_utf8_finish(&v), whole_ok ? 0 : WSK_EUTF8);

  /* split at every point, including the empty pieces */
  for (size_t s = 0; s <= n; s++) {
    wsk_utf8_init(&v);
    int r1 = wsk_utf8_feed(&v, buf, s);
    CHECK_INT(r1, (fail_at >= 0 && fail_at < (long)s) ? WSK_EUTF8 : 0);
    int r2 = wsk_utf8_feed(&v, buf + s, n - s);
    CHECK_INT(r2, fail_at >= 0 ? WSK_EUTF8 : 0);
    CHECK_INT(wsk_utf8_finish(&v), whole_ok ? 0 : WSK_EUTF8);
  }
}

static void valid(const uint8_t *p, size_t n) { check_case(p, n, -1, 1); }
static void fails_at(const uint8_t *p, size_t n, long at) { check_case(p, n, at, 0); }
static void truncated(const uint8_t *p, size_t n) { check_case(p, n, -1, 0); }

/* "κόσμε", the Autobahn/Markus Kuhn sample. */
#define KOSME "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

TEST(utf8_empty_is_valid) {
  valid(S(""));
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  CHECK_INT(wsk_utf8_feed(&v, NULL, 0), 0);
  CHECK_INT(wsk_utf8_finish(&v), 0);
}

TEST(utf8_ascii_is_valid) {
  valid(S("Hello, world"));
  valid(S("\x00\x01\x7f"));
  uint8_t all[128];
  for (int i = 0; i < 128; i++) all[i] = (uint8_t)i;
  valid(all, sizeof all);
}

TEST(utf8_multibyte_text_is_valid) {
  valid(S(KOSME));
  valid(S("Gr\xc3\xbc\xc3\x9f Gott, \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
          "\xe4\xbd\xa0\xe5\xa5\xbd, \xf0\x9f\x98\x80!"));
}

TEST(utf8_length_boundaries_are_valid) {
  valid(S("\xc2\x80"));         /* U+0080 first 2-byte */
  valid(S("\xdf\xbf"));         /* U+07FF last 2-byte */
  valid(S("\xe0\xa0\x80"));     /* U+0800 first 3-byte */
  valid(S("\xef\xbf\xbf"));     /* U+FFFF */
  valid(S("\xf0\x90\x80\x80")); /* U+10000 first 4-byte */
  valid(S("\xf4\x8f\xbf\xbf")); /* U+10FFFF last code point */
}

TEST(utf8_surrogate_neighbours_are_valid) {
  valid(S("\xed\x9f\xbf")); /* U+D7FF */
  valid(S("\xee\x80\x80")); /* U+E000 */
}

TEST(utf8_noncharacters_are_valid) {
  valid(S("\xef\xbf\xbe"));     /* U+FFFE */
  valid(S("\xef\xb7\x90"));     /* U+FDD0 */
  valid(S("\xf4\x8f\xbf\xbe")); /* U+10FFFE */
}

TEST(utf8_surrogates_are_invalid) {
  fails_at(S("\xed\xa0\x80"), 1); /* U+D800 */
  fails_at(S("\xed\xad\xbf"), 1); /* U+DB7F */
  fails_at(S("\xed\xae\x80"), 1); /* U+DB80 */
  fails_at(S("\xed\xaf\xbf"), 1); /* U+DBFF */
  fails_at(S("\xed\xb0\x80"), 1); /* U+DC00 */
  fails_at(S("\xed\xbe\x80"), 1); /* U+DF80 */
  fails_at(S("\xed\xbf\xbf"), 1); /* U+DFFF */
  fails_at(S("\xed\xa0\x80\xed\xb0\x80"), 1); /* a pair is still invalid */
  fails_at(S("\xed\xaf\xbf\xed\xbf\xbf"), 1);
}

TEST(utf8_two_byte_overlongs_are_invalid) {
  fails_at(S("\xc0\x80"), 0); /* U+0000 */
  fails_at(S("\xc0\xaf"), 0); /* '/' */
  fails_at(S("\xc1\xbf"), 0); /* U+007F */
  for (int b = 0xC0; b <= 0xC1; b++) {
    uint8_t x = (uint8_t)b;
    fails_at(&x, 1, 0);
  }
}

TEST(utf8_three_byte_overlongs_are_invalid) {
  fails_at(S("\xe0\x80\x80"), 1); /* U+0000 */
  fails_at(S("\xe0\x80\xaf"), 1); /* '/' */
  fails_at(S("\xe0\x9f\xbf"), 1); /* U+07FF */
}

TEST(utf8_four_byte_overlongs_are_invalid) {
  fails_at(S("\xf0\x80\x80\x80"), 1); /* U+0000 */
  fails_at(S("\xf0\x80\x80\xaf"), 1); /* '/' */
  fails_at(S("\xf0\x8f\xbf\xbf"), 1); /* U+FFFF */
}

TEST(utf8_above_max_code_point_is_invalid) {
  fails_at(S("\xf4\x90\x80\x80"), 1); /* U+110000 */
  fails_at(S("\xf4\xbf\xbf\xbf"), 1);
  fails_at(S("\xf5\x80\x80\x80"), 0);
  fails_at(S("\xf7\xbf\xbf\xbf"), 0); /* U+1FFFFF */
}

TEST(utf8_lead_bytes_f5_to_ff_are_invalid) {
  for (int b = 0xF5; b <= 0xFF; b++) {
    uint8_t x[4] = { (uint8_t)b, 0x80, 0x80, 0x80 };
    fails_at(x, 1, 0);
    fails_at(x, 4, 0);
  }
}

TEST(utf8_five_and_six_byte_forms_are_invalid) {
  fails_at(S("\xf8\x88\x80\x80\x80"), 0);     /* U+200000 */
  fails_at(S("\xfb\xbf\xbf\xbf\xbf"), 0);     /* U+3FFFFFF */
  fails_at(S("\xfc\x84\x80\x80\x80\x80"), 0); /* U+4000000 */
  fails_at(S("\xfd\xbf\xbf\xbf\xbf\xbf"), 0); /* U+7FFFFFFF */
  fails_at(S("\xfe\xfe\xff\xff"), 0);
}

TEST(utf8_lone_continuation_bytes_are_invalid) {
  for (int b = 0x80; b <= 0xBF; b++) {
    uint8_t x[3] = { 'a', (uint8_t)b, 'b' };
    fails_at(x + 1, 1, 0);
    fails_at(x, 3, 1);
  }
  fails_at(S("\xc2\x80\x80"), 2);             /* one too many after 2-byte */
  fails_at(S("\xe2\x82\xac\xbf"), 3);         /* after 3-byte */
  fails_at(S("\xf0\x9f\x98\x80\x80"), 4);     /* after 4-byte */
  fails_at(S(KOSME "\x80"), 11);
}

/* Every proper prefix of a valid sequence is an incomplete, not a wrong,
 * input; followed by any non-continuation byte it fails on that byte. */
TEST(utf8_truncated_sequences_are_incomplete_at_every_boundary) {
  static const char *const seqs[] = {
    "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xe1\x80\x80", "\xed\x9f\xbf", "\xef\xbf\xbf",
    "\xf0\x90\x80\x80", "\xf1\x80\x80\x80", "\xf4\x8f\xbf\xbf",
  };
  for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
    const uint8_t *q = (const uint8_t *)seqs[i];
    size_t len = strlen(seqs[i]);
    for (size_t k = 1; k < len; k++) {
      uint8_t buf[16];
      memcpy(buf, "ab", 2);
      memcpy(buf + 2, q, k);
      truncated(buf, 2 + k);
      buf[2 + k] = 'z';
      fails_at(buf, 3 + k, (long)(2 + k));
      buf[2 + k] = 0xC2; /* a new lead byte instead of a continuation */
      fails_at(buf, 3 + k, (long)(2 + k));
    }
  }
  truncated(S(KOSME "\xce"));
}

/* Autobahn case 6.4.x: fail on the first impossible byte, not at the end
 * of the sequence or message. */
TEST(utf8_fails_fast_on_first_impossible_byte) {
  /* KOSME is 11 bytes */
  fails_at(S(KOSME "\xed\xa0\x80" "edited"), 12);
  fails_at(S(KOSME "\xf4\x90\x80\x80" "edited"), 12);
  fails_at(S(KOSME "\xf5" "edited"), 11);
  fails_at(S(KOSME "\xc0\x80" "edited"), 11);

  /* the same, as a feed sequence: nothing wrong until the A0 arrives */
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  CHECK_INT(wsk_utf8_feed(&v, S(KOSME)), 0);
  CHECK_INT(wsk_utf8_feed(&v, S("\xed")), 0);
  CHECK_INT(wsk_utf8_feed(&v, S("\xa0")), WSK_EUTF8);
  CHECK_INT(wsk_utf8_feed(&v, S("\x80")), WSK_EUTF8);
  CHECK_INT(wsk_utf8_feed(&v, S("abc")), WSK_EUTF8);
}

TEST(utf8_failure_is_sticky) {
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  CHECK_INT(wsk_utf8_feed(&v, S("\xff")), WSK_EUTF8);
  CHECK_INT(wsk_utf8_feed(&v, S("valid ascii")), WSK_EUTF8);
  CHECK_INT(wsk_utf8_feed(&v, NULL, 0), WSK_EUTF8);
  CHECK_INT(wsk_utf8_finish(&v), WSK_EUTF8);
}

TEST(utf8_finish_reports_incomplete_trailing_sequence) {
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  CHECK_INT(wsk_utf8_feed(&v, S("abc\xf0\x9f\x98")), 0);
  CHECK_INT(wsk_utf8_finish(&v), WSK_EUTF8);
  CHECK_INT(wsk_utf8_feed(&v, S("\x80")), 0);
  CHECK_INT(wsk_utf8_finish(&v), 0);
}

/* Long inputs exercise the 16-byte ASCII path and the DFA chunks: a bad
 * byte at every position of a long buffer is found, and carries across
 * the ASCII path's block edges. */
TEST(utf8_long_inputs_find_errors_at_every_position) {
  enum { N = 200 };
  uint8_t buf[N];
  for (size_t pos = 0; pos < N; pos++) {
    memset(buf, 'x', N);
    buf[pos] = 0xFF;
    CHECK_INT(wsk_utf8_validate(buf, N), WSK_EUTF8);
    memset(buf, 'x', N);
    if (pos + 3 <= N) {
      memcpy(buf + pos, "\xe2\x82\xac", 3); /* a valid euro sign straddling blocks */
      CHECK_INT(wsk_utf8_validate(buf, N), 0);
      buf[pos + 1] = 'x';
      CHECK_INT(wsk_utf8_validate(buf, N), WSK_EUTF8);
    }
  }
  /* mixed text repeated past the DFA chunk size, then broken at the end */
  uint8_t big[4096];
  size_t n = 0;
  static const char unit[] = "a\xce\xba\xd0\x96\xe4\xbd\xa0\xf0\x9f\x98\x80 ";
  while (n + sizeof unit - 1 <= sizeof big) {
    memcpy(big + n, unit, sizeof unit - 1);
    n += sizeof unit - 1;
  }
  check_case(big, n, -1, 1);
  big[n - 2] = 0x80; /* the emoji's last byte becomes... still a continuation */
  CHECK_INT(wsk_utf8_validate(big, n), 0);
  big[n - 3] = 0x20; /* the emoji's third byte becomes a space */
  CHECK_INT(wsk_utf8_validate(big, n), WSK_EUTF8);
}

/* A deliberately plain reference: decode one character at a time and
 * check its value; it does not know about partial input. */
static int ref_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t c = p[i], len, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (n - i < len) return 0;
    for (uint32_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return 0;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

TEST(utf8_matches_reference_on_all_one_and_two_byte_inputs) {
  for (int a = 0; a < 256; a++) {
    uint8_t x[2] = { (uint8_t)a, 0 };
    CHECK_INT(wsk_utf8_validate(x, 1) == 0, ref_valid(x, 1));
    for (int b = 0; b < 256; b++) {
      x[1] = (uint8_t)b;
      CHECK_INT(wsk_utf8_validate(x, 2) == 0, ref_valid(x, 2));
    }
  }
}

/* All three-byte inputs led by a non-ASCII byte, and all four-byte inputs
 * led by E0..F4 with the last byte in 7F..C0 (the continuation edges). */
TEST(utf8_matches_reference_on_three_and_four_byte_inputs) {
  for (int a = 0x80; a < 256; a++)
    for (int b = 0; b < 256; b++)
      for (int c = 0; c < 256; c++) {
        uint8_t x[3] = { (uint8_t)a, (uint8_t)b, (uint8_t)c };
        if ((wsk_utf8_validate(x, 3) == 0) != ref_valid(x, 3))
          TL_FAIL("%02x %02x %02x", a, b, c);
      }
  static const uint8_t last[] = { 0x7F, 0x80, 0xBF, 0xC0 };
  for (int a = 0xE0; a <= 0xF4; a++)
    for (int b = 0; b < 256; b++)
      for (int c = 0; c < 256; c++)
        for (size_t d = 0; d < sizeof last; d++) {
          uint8_t x[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, last[d] };
          if ((wsk_utf8_validate(x, 4) == 0) != ref_valid(x, 4))
            TL_FAIL("%02x %02x %02x %02x", a, b, c, last[d]);
        }
}

int main(void) {
  RUN(utf8_empty_is_valid);
  RUN(utf8_ascii_is_valid);
  RUN(utf8_multibyte_text_is_valid);
  RUN(utf8_length_boundaries_are_valid);
  RUN(utf8_surrogate_neighbours_are_valid);
  RUN(utf8_noncharacters_are_valid);
  RUN(utf8_surrogates_are_invalid);
  RUN(utf8_two_byte_overlongs_are_invalid);
  RUN(utf8_three_byte_overlongs_are_invalid);
  RUN(utf8_four_byte_overlongs_are_invalid);
  RUN(utf8_above_max_code_point_is_invalid);
  RUN(utf8_lead_bytes_f5_to_ff_are_invalid);
  RUN(utf8_five_and_six_byte_forms_are_invalid);
  RUN(utf8_lone_continuation_bytes_are_invalid);
  RUN(utf8_truncated_sequences_are_incomplete_at_every_boundary);
  RUN(utf8_fails_fast_on_first_impossible_byte);
  RUN(utf8_failure_is_sticky);
  RUN(utf8_finish_reports_incomplete_trailing_sequence);
  RUN(utf8_long_inputs_find_errors_at_every_position);
  RUN(utf8_matches_reference_on_all_one_and_two_byte_inputs);
  RUN(utf8_matches_reference_on_three_and_four_byte_inputs);
  return test_summary();
}
