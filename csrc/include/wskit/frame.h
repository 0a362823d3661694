/* RFC 6455 section 5 frame headers and masking. Stateless: the rules
 * that need the connection's context (masking direction, RSV1 with a
 * negotiated extension, continuation order) are checked by wsk_conn. */
#ifndef WSKIT_FRAME_H
#define WSKIT_FRAME_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_FRAME_MAX_HEADER 14

typedef struct wsk_frame_header {
  unsigned fin : 1;
  unsigned rsv1 : 1;
  unsigned rsv2 : 1;
  unsigned rsv3 : 1;
  unsigned masked : 1;
  unsigned opcode : 4;
  uint8_t mask[4];
  uint64_t len;        /* payload length */
  size_t header_len;   /* bytes of header, 2..14 */
} wsk_frame_header_t;

/* 1 for CLOSE/PING/PONG. */
static inline int wsk_opcode_is_control(unsigned op) { return (op & 0x8) != 0; }

/* Decode a header from p[0..n). Returns the header length (> 0) with *h
 * filled, 0 when more bytes are needed, or WSK_EPROTO with *close_code set
 * (1002) for: reserved opcode, control frame with fin=0 or len > 125,
 * non-minimal length encoding, 64-bit length with the top bit set.
 * Each rule is checked as soon as the bytes deciding it are present, so a
 * bad header may fail before it is complete. Never reads past p[n-1];
 * *h is written only on success; close_code may be NULL. */
int wsk_frame_header_decode(const uint8_t *p, size_t n, wsk_frame_header_t *h,
                            uint16_t *close_code);

/* Encode a header into out (WSK_FRAME_MAX_HEADER bytes) using the shortest
 * length form. `mask` NULL for an unmasked frame. `len` must be < 2^63.
 * Returns the header length. */
size_t wsk_frame_header_encode(uint8_t *out, int fin, int rsv1, unsigned opcode, uint64_t len,
                               const uint8_t *mask);

/* XOR data[0..len) in place with the 4-byte key, starting at key position
 * `offset` (the payload offset of data[0] within the frame, so a payload
 * may be unmasked in pieces). Works a machine word (or more) at a time. */
void wsk_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);
/* The same, from src to dst (they may be equal but must not otherwise overlap). */
void wsk_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                   uint64_t offset);

#ifdef __cplusplus
}
#endif
#endif
