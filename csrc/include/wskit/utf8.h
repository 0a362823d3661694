/* Incremental UTF-8 validation (RFC 3629): rejects overlongs, surrogates,
 * code points above U+10FFFF and 5/6-byte forms, and fails as soon as the
 * bytes seen so far can no longer begin valid UTF-8, across any split. */
#ifndef WSKIT_UTF8_H
#define WSKIT_UTF8_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_utf8 {
  uint32_t state; /* 0: at a character boundary; opaque otherwise */
} wsk_utf8_t;

static inline void wsk_utf8_init(wsk_utf8_t *v) { v->state = 0; }

/* Validate the next piece (p may be NULL when n is 0). Returns 0 while the
 * input is still a valid prefix, WSK_EUTF8 once it cannot be; after that
 * the state stays failed. */
int wsk_utf8_feed(wsk_utf8_t *v, const uint8_t *p, size_t n);
/* 0 if everything fed ends on a character boundary, WSK_EUTF8 otherwise. */
int wsk_utf8_finish(const wsk_utf8_t *v);
/* Whole-buffer check: 0 or WSK_EUTF8. */
int wsk_utf8_validate(const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
