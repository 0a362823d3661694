/* libFuzzer: wsk_frame_header_decode never reads past n (the input sits
 * in an exact-size heap block), agrees with itself on every prefix, and
 * for valid headers encode(decode(x)) gives x back byte for byte. */
#include "wskit/frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *p = malloc(size ? size : 1);
  if (!p) return 0;
  memcpy(p, data, size);

  wsk_frame_header_t h;
  uint16_t code = 0;
  int r = wsk_frame_header_decode(p, size, &h, &code);
  if (r < 0) {
    if (r != WSK_EPROTO || code != WSK_CLOSE_PROTOCOL_ERROR) abort();
  } else if (r > 0) {
    if ((size_t)r > size || r < 2 || r > WSK_FRAME_MAX_HEADER || h.header_len != (size_t)r)
      abort();
    /* the stateless rules hold for anything accepted */
    if (h.opcode >= 3 && h.opcode != 8 && h.opcode != 9 && h.opcode != 10) abort();
    if (wsk_opcode_is_control(h.opcode) && (!h.fin || h.len > 125)) abort();
    if (h.len >> 63) abort();
    /* encode cannot express RSV2/RSV3: compare without them */
    uint8_t out[WSK_FRAME_MAX_HEADER];
    size_t m = wsk_frame_header_encode(out, h.fin, h.rsv1, h.opcode, h.len,
                                       h.masked ? h.mask : NULL);
    if (m != (size_t)r) abort();
    if (out[0] != (p[0] & ~0x30)) abort();
    if (memcmp(out + 1, p + 1, m - 1) != 0) abort();
  }
  /* every shorter prefix: 0, or the same failure (rules are decided early) */
  for (size_t k = 0; k < size && k < WSK_FRAME_MAX_HEADER; k++) {
    wsk_frame_header_t h2;
    uint16_t c2 = 0;
    int r2 = wsk_frame_header_decode(p, k, &h2, &c2);
    if (r > 0 && (size_t)r <= k) {
      if (r2 != r || h2.len != h.len || h2.opcode != h.opcode || h2.masked != h.masked)
        abort();
    } else if (r2 != 0) {
      if (r2 != WSK_EPROTO || r != WSK_EPROTO) abort();
    }
  }
  free(p);
  return 0;
}
