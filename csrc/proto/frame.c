/* RFC 6455 section 5.2 frame headers: the stateless rules only. Rules that
 * need connection context (mask direction, RSV bits with extensions,
 * continuation order) belong to wsk_conn. */
#include "wskit/frame.h"

#include <string.h>

static int frame_fail(uint16_t *close_code) {
  if (close_code) *close_code = WSK_CLOSE_PROTOCOL_ERROR;
  return WSK_EPROTO;
}

/* Opcodes 3-7 and 0xB-0xF are reserved (RFC 6455 5.2). */
static int opcode_reserved(unsigned op) { return (op >= 0x3 && op <= 0x7) || op >= 0xB; }

int wsk_frame_header_decode(const uint8_t *p, size_t n, wsk_frame_header_t *h,
                            uint16_t *close_code) {
  /* Each rule is checked as soon as the bytes deciding it are present, so a
   * bad header fails before the rest of it arrives. */
  if (n < 1) return 0;
  unsigned b0 = p[0];
  unsigned op = b0 & 0x0F;
  unsigned fin = b0 >> 7;
  if (opcode_reserved(op)) return frame_fail(close_code);
  if (wsk_opcode_is_control(op) && !fin) return frame_fail(close_code); /* 5.5 */
  if (n < 2) return 0;

  unsigned b1 = p[1];
  unsigned masked = b1 >> 7;
  unsigned len7 = b1 & 0x7F;
  if (wsk_opcode_is_control(op) && len7 > 125) return frame_fail(close_code); /* 5.5 */

  uint64_t len = len7;
  size_t hlen = 2;
  if (len7 == 126) {
    if (n < 4) return 0;
    len = ((uint64_t)p[2] << 8) | p[3];
    if (len < 126) return frame_fail(close_code); /* "minimal number of bytes" */
    hlen = 4;
  } else if (len7 == 127) {
    if (n >= 3 && (p[2] & 0x80)) return frame_fail(close_code); /* MSB must be 0 */
    if (n < 10) return 0;
    len = 0;
    for (int i = 2; i < 10; i++) len = (len << 8) | p[i];
    if (len <= 0xFFFF) return frame_fail(close_code);
    hlen = 10;
  }
  if (masked) hlen += 4;
  if (n < hlen) return 0;

  h->fin = fin;
  h->rsv1 = (b0 >> 6) & 1;
  h->rsv2 = (b0 >> 5) & 1;
  h->rsv3 = (b0 >> 4) & 1;
  h->opcode = op;
  h->masked = masked;
  if (masked)
    memcpy(h->mask, p + hlen - 4, 4);
  else
    memset(h->mask, 0, 4);
  h->len = len;
  h->header_len = hlen;
  return (int)hlen;
}

size_t wsk_frame_header_encode(uint8_t *out, int fin, int rsv1, unsigned opcode, uint64_t len,
                               const uint8_t *mask) {
  size_t i = 2;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
  } else if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    i = 4;
  } else {
    out[1] = 127;
    for (int k = 0; k < 8; k++) out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
    i = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + i, mask, 4);
    i += 4;
  }
  return i;
}
