/* Incremental UTF-8 validation (RFC 3629 section 4 syntax).
 *
 * A shift-based DFA: each state is a bit offset (a multiple of 6) into a
 * 64-bit row selected by the input byte, and the next state is
 * row[byte] >> state. The row load does not depend on the state, so the
 * loop-carried chain is a single shift per byte. Pure ASCII is skipped 16
 * bytes at a time while at a character boundary. */
#include "wskit/utf8.h"

#include <string.h>

/* States. ACC = 0 is the character boundary the header promises. */
enum {
  ACC = 0,  /* boundary */
  REJ = 6,  /* failed, sticky */
  S1 = 12,  /* need 1 more continuation byte 80..BF */
  S2 = 18,  /* need 2 more */
  S3 = 24,  /* need 3 more */
  SE0 = 30, /* after E0: A0..BF, else overlong */
  SED = 36, /* after ED: 80..9F, else surrogate */
  SF0 = 42, /* after F0: 90..BF, else overlong */
  SF4 = 48  /* after F4: 80..8F, else above U+10FFFF */
};

/* The next state from each state for one byte class; REJ stays REJ. */
#define ROW(acc, s1, s2, s3, e0, ed, f0, f4)                                   \
  (((uint64_t)(acc) << ACC) | ((uint64_t)REJ << REJ) | ((uint64_t)(s1) << S1) | \
   ((uint64_t)(s2) << S2) | ((uint64_t)(s3) << S3) | ((uint64_t)(e0) << SE0) |  \
   ((uint64_t)(ed) << SED) | ((uint64_t)(f0) << SF0) | ((uint64_t)(f4) << SF4))

#define R_ASCII ROW(ACC, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_C80 ROW(REJ, ACC, S1, S2, REJ, S1, REJ, S2) /* 80..8F */
#define R_C90 ROW(REJ, ACC, S1, S2, REJ, S1, S2, REJ) /* 90..9F */
#define R_CA0 ROW(REJ, ACC, S1, S2, S1, REJ, S2, REJ) /* A0..BF */
#define R_BAD ROW(REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_L2 ROW(S1, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_E0 ROW(SE0, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_L3 ROW(S2, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_ED ROW(SED, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_F0 ROW(SF0, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_L4 ROW(S3, REJ, REJ, REJ, REJ, REJ, REJ, REJ)
#define R_F4 ROW(SF4, REJ, REJ, REJ, REJ, REJ, REJ, REJ)

#define X2(r) r, r
#define X4(r) X2(r), X2(r)
#define X8(r) X4(r), X4(r)
#define X16(r) X8(r), X8(r)
#define X32(r) X16(r), X16(r)
#define X64(r) X32(r), X32(r)

static const uint64_t utf8_row[] = {
  X64(R_ASCII), X64(R_ASCII),               /* 00..7F */
  X16(R_C80), X16(R_C90), X32(R_CA0),       /* 80..BF */
  X2(R_BAD),                                /* C0 C1: always overlong */
  X16(R_L2), X8(R_L2), X4(R_L2), X2(R_L2),  /* C2..DF */
  R_E0, X8(R_L3), X4(R_L3), R_ED, X2(R_L3), /* E0, E1..EC, ED, EE..EF */
  R_F0, X2(R_L4), R_L4, R_F4,               /* F0, F1..F3, F4 */
  X8(R_BAD), X2(R_BAD), R_BAD               /* F5..FF: above U+10FFFF, 5/6-byte forms */
};
/* A short table would silently zero-fill, i.e. accept anything. */
typedef char wsk_utf8_row_count_check[(sizeof utf8_row / sizeof utf8_row[0] == 256) ? 1 : -1];

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

#define HIGH_BITS UINT64_C(0x8080808080808080)
/* DFA chunk between failure and ASCII fast-path checks. */
#define DFA_CHUNK 32

int wsk_utf8_feed(wsk_utf8_t *v, const uint8_t *p, size_t n) {
  uint64_t s = v->state;
  size_t i = 0;
  if (s == REJ) return WSK_EUTF8;
  while (i < n) {
    if (s == ACC) {
      while (n - i >= 16 && ((load64(p + i) | load64(p + i + 8)) & HIGH_BITS) == 0) i += 16;
      if (i == n) break;
    }
    size_t end = n - i < DFA_CHUNK ? n : i + DFA_CHUNK;
    /* Unrolled by hand: with one byte per iteration the loop bookkeeping,
     * not the shift chain, is the bottleneck. Shift counts are taken mod 64
     * by the hardware, but C needs the & 63; compilers fold it away. */
    for (; end - i >= 8; i += 8) {
      s = utf8_row[p[i]] >> (s & 63);
      s = utf8_row[p[i + 1]] >> (s & 63);
      s = utf8_row[p[i + 2]] >> (s & 63);
      s = utf8_row[p[i + 3]] >> (s & 63);
      s = utf8_row[p[i + 4]] >> (s & 63);
      s = utf8_row[p[i + 5]] >> (s & 63);
      s = utf8_row[p[i + 6]] >> (s & 63);
      s = utf8_row[p[i + 7]] >> (s & 63);
    }
    for (; i < end; i++) s = utf8_row[p[i]] >> (s & 63);
    s &= 63;
    if (s == REJ) break;
  }
  v->state = (uint32_t)s;
  return s == REJ ? WSK_EUTF8 : 0;
}

int wsk_utf8_finish(const wsk_utf8_t *v) { return v->state == ACC ? 0 : WSK_EUTF8; }

int wsk_utf8_validate(const uint8_t *p, size_t n) {
  wsk_utf8_t v;
  wsk_utf8_init(&v);
  if (wsk_utf8_feed(&v, p, n) != 0) return WSK_EUTF8;
  return wsk_utf8_finish(&v);
}
