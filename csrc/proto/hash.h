/* Internal hashing helpers for the core's hash tables (rpc.c, channels.c).
 *
 * Keys can come from a peer (channel names a client asks for, request ids
 * in replies), so tables are keyed with a per-table random secret: a peer
 * that cannot see the secret cannot aim many keys at one bucket. */
#ifndef WSKIT_PROTO_HASH_H
#define WSKIT_PROTO_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wskit/common.h"

/* splitmix64's finaliser: a cheap bijective mix, every input bit reaches
 * every output bit. */
static inline uint64_t wsk_hash_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= UINT64_C(0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C(0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

static inline uint64_t wsk_hash_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define WSK_SIPROUND(v0, v1, v2, v3)                                             \
  do {                                                                           \
    v0 += v1; v1 = wsk_hash_rotl(v1, 13); v1 ^= v0; v0 = wsk_hash_rotl(v0, 32); \
    v2 += v3; v3 = wsk_hash_rotl(v3, 16); v3 ^= v2;                              \
    v0 += v3; v3 = wsk_hash_rotl(v3, 21); v3 ^= v0;                              \
    v2 += v1; v1 = wsk_hash_rotl(v1, 17); v1 ^= v2; v2 = wsk_hash_rotl(v2, 32); \
  } while (0)

static inline uint64_t wsk_hash_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* SipHash-2-4 (Aumasson & Bernstein) of n bytes under a 128-bit key. */
static inline uint64_t wsk_hash_bytes(const uint64_t key[2], const void *data, size_t n) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t v0 = key[0] ^ UINT64_C(0x736f6d6570736575);
  uint64_t v1 = key[1] ^ UINT64_C(0x646f72616e646f6d);
  uint64_t v2 = key[0] ^ UINT64_C(0x6c7967656e657261);
  uint64_t v3 = key[1] ^ UINT64_C(0x7465646279746573);
  size_t left = n;
  for (; left >= 8; left -= 8, p += 8) {
    uint64_t m = wsk_hash_le64(p);
    v3 ^= m;
    WSK_SIPROUND(v0, v1, v2, v3);
    WSK_SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = (uint64_t)n << 56;
  for (size_t i = 0; i < left; i++) b |= (uint64_t)p[i] << (8 * i);
  v3 ^= b;
  WSK_SIPROUND(v0, v1, v2, v3);
  WSK_SIPROUND(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; i++) WSK_SIPROUND(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

/* A fresh table secret. If libcrypto cannot give random bytes the tables
 * still work, only without flooding protection, so fall back to mixing
 * the table's address rather than failing the constructor. */
static inline void wsk_hash_key_init(uint64_t key[2], const void *table) {
  uint8_t r[16];
  if (wsk_random_default(NULL, r, sizeof r) == 0) {
    key[0] = wsk_hash_le64(r);
    key[1] = wsk_hash_le64(r + 8);
  } else {
    uint64_t a = (uint64_t)(uintptr_t)table;
    key[0] = wsk_hash_mix64(a ^ UINT64_C(0x9e3779b97f4a7c15));
    key[1] = wsk_hash_mix64(key[0] + a);
  }
}

#endif
