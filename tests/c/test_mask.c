/* Masking (RFC 6455 5.3) against a bytewise reference, at every key
 * offset, length and buffer alignment. */
#include "wskit/frame.h"
#include "testlib.h"

#include <stdint.h>

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void ref_mask(uint8_t *d, size_t n, const uint8_t k[4], uint64_t off) {
  for (size_t i = 0; i < n; i++) d[i] ^= k[(off + i) % 4];
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed * 131 + i * 17 + (i >> 3));
}

/* Guard bytes around the region must be untouched. */
#define GUARD 16

TEST(mask_matches_bytewise_reference_every_offset_length_alignment) {
  uint8_t got[GUARD + 64 + 16 + GUARD], want[sizeof got];
  static const uint64_t offsets[] = { 0, 1, 2, 3, 4, 5, 6, 7, 125, UINT64_C(0xFFFFFFFF),
                                      UINT64_C(0x100000001), UINT64_MAX };
  for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
    for (size_t align = 0; align < 16; align++)
      for (size_t len = 0; len <= 64; len++) {
        fill(got, sizeof got, (unsigned)(len + align));
        memcpy(want, got, sizeof got);
        wsk_mask(got + GUARD + align, len, key, offsets[o]);
        ref_mask(want + GUARD + align, len, key, offsets[o]);
        if (memcmp(got, want, sizeof got) != 0)
          TL_FAIL("offset %llu align %zu len %zu", (unsigned long long)offsets[o], align, len);
      }
}

TEST(mask_copy_matches_reference_with_independent_alignments) {
  uint8_t src[GUARD + 64 + 16 + GUARD], dst[sizeof src], want[sizeof src];
  for (uint64_t off = 0; off < 8; off++)
    for (size_t sa = 0; sa < 16; sa++)
      for (size_t da = 0; da < 16; da += 3)
        for (size_t len = 0; len <= 64; len++) {
          fill(src, sizeof src, (unsigned)(len * 7 + sa));
          memset(dst, 0xEE, sizeof dst);
          memcpy(want, dst, sizeof dst);
          memcpy(want + GUARD + da, src + GUARD + sa, len);
          ref_mask(want + GUARD + da, len, key, off);
          uint8_t src_before[sizeof src];
          memcpy(src_before, src, sizeof src);
          wsk_mask_copy(dst + GUARD + da, src + GUARD + sa, len, key, off);
          if (memcmp(dst, want, sizeof dst) != 0)
            TL_FAIL("offset %llu src align %zu dst align %zu len %zu", (unsigned long long)off,
                    sa, da, len);
          CHECK_MEM(src, src_before, sizeof src);
        }
}

TEST(mask_copy_in_place_equals_mask) {
  uint8_t a[300], b[300];
  for (uint64_t off = 0; off < 4; off++)
    for (size_t len = 0; len <= 280; len += 7) {
      fill(a, sizeof a, (unsigned)len);
      memcpy(b, a, sizeof a);
      wsk_mask_copy(a + 3, a + 3, len, key, off);
      wsk_mask(b + 3, len, key, off);
      CHECK_MEM(a, b, sizeof a);
    }
}

TEST(mask_twice_restores_the_data) {
  uint8_t a[1000], orig[1000];
  fill(a, sizeof a, 5);
  memcpy(orig, a, sizeof a);
  wsk_mask(a + 1, 997, key, 3);
  CHECK(memcmp(a, orig, sizeof a) != 0);
  wsk_mask(a + 1, 997, key, 3);
  CHECK_MEM(a, orig, sizeof a);
}

/* A payload unmasked in pieces, each at its payload offset, matches the
 * payload unmasked whole: how wsk_conn unmasks frames split across reads. */
TEST(mask_in_pieces_equals_mask_whole) {
  uint8_t whole[777], pieces[777];
  fill(whole, sizeof whole, 9);
  memcpy(pieces, whole, sizeof whole);
  wsk_mask(whole, sizeof whole, key, 0);
  for (size_t first = 0; first <= 40; first++) {
    memcpy(pieces, whole, sizeof whole);
    wsk_mask(pieces, sizeof pieces, key, 0); /* back to plain */
    size_t at = 0, step = first;
    while (at < sizeof pieces) {
      size_t k = step < sizeof pieces - at ? step : sizeof pieces - at;
      wsk_mask(pieces + at, k, key, at);
      at += k;
      step = step * 3 % 97 + 1;
    }
    CHECK_MEM(pieces, whole, sizeof whole);
  }
}

/* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d. */
TEST(mask_rfc6455_hello_example) {
  uint8_t p[5] = { 'H', 'e', 'l', 'l', 'o' };
  static const uint8_t masked[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
  wsk_mask(p, 5, key, 0);
  CHECK_MEM(p, masked, 5);
  uint8_t out[5];
  wsk_mask_copy(out, masked, 5, key, 0);
  CHECK_MEM(out, "Hello", 5);
}

TEST(mask_zero_length_touches_nothing) {
  uint8_t a[4] = { 1, 2, 3, 4 };
  wsk_mask(a, 0, key, 0);
  wsk_mask(NULL, 0, key, 0);
  wsk_mask_copy(NULL, NULL, 0, key, 1);
  CHECK_MEM(a, "\x01\x02\x03\x04", 4);
}

int main(void) {
  RUN(mask_matches_bytewise_reference_every_offset_length_alignment);
  RUN(mask_copy_matches_reference_with_independent_alignments);
  RUN(mask_copy_in_place_equals_mask);
  RUN(mask_twice_restores_the_data);
  RUN(mask_in_pieces_equals_mask_whole);
  RUN(mask_rfc6455_hello_example);
  RUN(mask_zero_length_touches_nothing);
  return test_summary();
}
