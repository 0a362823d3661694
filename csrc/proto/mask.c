/* Payload masking (RFC 6455 5.3): XOR with a 4-byte key, 8 bytes a word at
 * a time. The key is rotated to the payload offset once, so a word-wide key
 * stays in phase: 8 is a multiple of 4. */
#include "wskit/frame.h"

#include <string.h>

/* memcpy keeps unaligned access defined; compilers turn it into one move. */
static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static inline void store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void wsk_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                   uint64_t offset) {
  size_t i = 0;
  unsigned k = (unsigned)(offset & 3);

  /* Head: bytes until dst is 8-aligned, so the stores below are aligned. */
  while (i < len && ((uintptr_t)(dst + i) & 7) != 0) {
    dst[i] = src[i] ^ mask[k];
    k = (k + 1) & 3;
    i++;
  }
  if (len - i >= 8) {
    uint8_t kb[8];
    for (unsigned j = 0; j < 8; j++) kb[j] = mask[(k + j) & 3];
    const uint64_t kw = load64(kb); /* byte order matches memory order */
    /* Four independent words per round: simple enough for the vectoriser. */
    for (; len - i >= 32; i += 32) {
      uint64_t a = load64(src + i), b = load64(src + i + 8);
      uint64_t c = load64(src + i + 16), d = load64(src + i + 24);
      store64(dst + i, a ^ kw);
      store64(dst + i + 8, b ^ kw);
      store64(dst + i + 16, c ^ kw);
      store64(dst + i + 24, d ^ kw);
    }
    for (; len - i >= 8; i += 8) store64(dst + i, load64(src + i) ^ kw);
  }
  /* Tail: k is still in phase since whole words advanced it by 0 mod 4. */
  for (; i < len; i++) {
    dst[i] = src[i] ^ mask[k];
    k = (k + 1) & 3;
  }
}

void wsk_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset) {
  wsk_mask_copy(data, data, len, mask, offset);
}
