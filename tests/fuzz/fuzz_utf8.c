/* libFuzzer: wsk_utf8_validate and the incremental API against a plain
 * reference. Input: byte 0 picks a split point, the rest is the text.
 * Checked: whole validation; feeding the two pieces (the first feed fails
 * exactly when the failing byte is in the first piece); feeding byte by
 * byte fails on exactly the reference's first impossible byte; finish. */
#include "wskit/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sequence length from the lead byte's bit pattern alone (RFC 3629
 * section 3): 0 for bytes that can never start a character. */
static unsigned ref_seq_len(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 0;
}

/* Whether the first k of len bytes (lead and k-1 continuation bytes) can
 * still be completed into a valid character. The missing bytes are the
 * low bits of the code point, so the completions cover exactly the range
 * [bits..000000, bits..111111]; a completion exists if that range meets
 * the valid code points of this length: [min, 10FFFF] minus D800..DFFF. */
static int ref_completable(const uint8_t *s, unsigned k, unsigned len) {
  static const uint32_t minimum[5] = { 0, 0, 0x80, 0x800, 0x10000 };
  static const uint8_t lead_bits[5] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
  uint32_t cp = s[0] & lead_bits[len];
  for (unsigned i = 1; i < k; i++) cp = (cp << 6) | (s[i] & 0x3F);
  uint32_t lo = cp << (6 * (len - k));
  uint32_t hi = lo | ((UINT32_C(1) << (6 * (len - k))) - 1);
  if (lo < minimum[len]) lo = minimum[len];
  if (hi > 0x10FFFF) hi = 0x10FFFF;
  if (lo > hi) return 0;
  if (lo >= 0xD800 && hi <= 0xDFFF) return 0; /* only surrogates left */
  return 1;
}

/* Index of the first byte after which the input can no longer be a prefix
 * of valid UTF-8, or n if there is none; *complete tells whether a valid
 * input ends on a character boundary. */
static size_t ref_first_bad(const uint8_t *p, size_t n, int *complete) {
  size_t i = 0;
  *complete = 1;
  while (i < n) {
    unsigned len = ref_seq_len(p[i]);
    if (len == 0) return i;
    for (unsigned k = 1; k <= len; k++) {
      if (i + k > n) {
        *complete = 0;
        return n;
      }
      if (k > 1 && (p[i + k - 1] & 0xC0) != 0x80) return i + k - 1;
      if (!ref_completable(p + i, k, len)) return i + k - 1;
    }
    i += len;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n = size - 1;
  size_t split = n ? data[0] % (n + 1) : 0;
  /* exact-size copy so ASan sees any read past n */
  uint8_t *p = malloc(n ? n : 1);
  if (!p) return 0;
  memcpy(p, data + 1, n);

  int complete;
  size_t bad = ref_first_bad(p, n, &complete);
  int ok = bad == n && complete;

  if ((wsk_utf8_validate(p, n) == 0) != ok) abort();

  wsk_utf8_t v;
  wsk_utf8_init(&v);
  int r1 = wsk_utf8_feed(&v, p, split);
  if ((r1 == WSK_EUTF8) != (bad < split) || (r1 != 0 && r1 != WSK_EUTF8)) abort();
  int r2 = wsk_utf8_feed(&v, p + split, n - split);
  if ((r2 == WSK_EUTF8) != (bad < n) || (r2 != 0 && r2 != WSK_EUTF8)) abort();
  if ((wsk_utf8_finish(&v) == 0) != ok) abort();

  wsk_utf8_init(&v);
  size_t first_fail = n;
  for (size_t i = 0; i < n; i++) {
    int r = wsk_utf8_feed(&v, p + i, 1);
    if (r != 0 && first_fail == n) first_fail = i;
    if (r == 0 && first_fail != n) abort(); /* failure must be sticky */
  }
  if (first_fail != bad) abort();
  if ((wsk_utf8_finish(&v) == 0) != ok) abort();

  free(p);
  return 0;
}
