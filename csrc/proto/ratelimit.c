/* Token bucket and per-address connection counter (ratelimit.h). */
#include "wskit/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* Token counts are doubles; a tiny slack keeps 0.1 * 10 from missing 1.0. */
#define EPS 1e-9

void wsk_bucket_init(wsk_bucket_t *b, double rate, double burst, int64_t now_ms) {
  b->rate = rate > 0 ? rate : 0;
  if (!(burst > 0)) burst = b->rate > 1 ? b->rate : 1;
  b->burst = burst;
  b->tokens = burst;
  b->last_ms = now_ms;
}

static double refilled(const wsk_bucket_t *b, int64_t now_ms) {
  if (now_ms <= b->last_ms) return b->tokens; /* clocks that step back add nothing */
  double t = b->tokens + (double)(now_ms - b->last_ms) * b->rate / 1000.0;
  return t > b->burst ? b->burst : t;
}

int wsk_bucket_take(wsk_bucket_t *b, int64_t now_ms, double cost) {
  if (!(b->rate > 0)) return 1;
  b->tokens = refilled(b, now_ms);
  if (now_ms > b->last_ms) b->last_ms = now_ms;
  if (b->tokens + EPS < cost) return 0;
  b->tokens -= cost;
  if (b->tokens < 0) b->tokens = 0;
  return 1;
}

int64_t wsk_bucket_wait_ms(const wsk_bucket_t *b, int64_t now_ms, double cost) {
  if (!(b->rate > 0)) return 0;
  if (cost > b->burst + EPS) return INT64_MAX; /* the bucket never holds that much */
  double t = refilled(b, now_ms);
  if (t + EPS >= cost) return 0;
  double ms = (cost - t) * 1000.0 / b->rate;
  int64_t w = (int64_t)ms;
  return (double)w < ms - EPS ? w + 1 : (w > 0 ? w : 1);
}

/* ---- per-address counter: a chained hash table keyed by address ---- */

struct ip_ent {
  struct ip_ent *next;
  uint64_t h;
  size_t count;
  size_t len;
  char addr[];
};

struct wsk_iplimit {
  uint64_t key[2];
  size_t max;
  struct ip_ent **slots;
  size_t nslots; /* power of two */
  size_t n;      /* addresses held */
};

wsk_iplimit_t *wsk_iplimit_new(size_t max_per_addr) {
  wsk_iplimit_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->max = max_per_addr;
  l->nslots = 16;
  l->slots = calloc(l->nslots, sizeof *l->slots);
  if (!l->slots) {
    free(l);
    return NULL;
  }
  wsk_hash_key_init(l->key, l);
  return l;
}

void wsk_iplimit_free(wsk_iplimit_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->nslots; i++) {
    struct ip_ent *e = l->slots[i];
    while (e) {
      struct ip_ent *nx = e->next;
      free(e);
      e = nx;
    }
  }
  free(l->slots);
  free(l);
}

static struct ip_ent **find(const wsk_iplimit_t *l, const char *addr, size_t len, uint64_t h) {
  if (!addr) addr = "";
  struct ip_ent **pp = &l->slots[h & (l->nslots - 1)];
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->h == h && (*pp)->len == len && memcmp((*pp)->addr, addr, len) == 0) return pp;
  return pp; /* where a new entry goes: *pp is NULL */
}

/* Resize to `ns` slots; failure keeps the old table (only slower). */
static void rehash(wsk_iplimit_t *l, size_t ns) {
  struct ip_ent **s = calloc(ns, sizeof *s);
  if (!s) return;
  for (size_t i = 0; i < l->nslots; i++) {
    struct ip_ent *e = l->slots[i];
    while (e) {
      struct ip_ent *nx = e->next;
      e->next = s[e->h & (ns - 1)];
      s[e->h & (ns - 1)] = e;
      e = nx;
    }
  }
  free(l->slots);
  l->slots = s;
  l->nslots = ns;
}

int wsk_iplimit_acquire(wsk_iplimit_t *l, const char *addr, size_t len) {
  if (!addr && len) return WSK_EINVAL;
  uint64_t h = wsk_hash_bytes(l->key, addr ? addr : "", len);
  struct ip_ent **pp = find(l, addr, len, h);
  if (*pp) {
    if (l->max && (*pp)->count >= l->max) return 0;
    (*pp)->count++;
    return 1;
  }
  struct ip_ent *e = malloc(sizeof *e + len + 1);
  if (!e) return WSK_ENOMEM;
  e->next = NULL;
  e->h = h;
  e->count = 1;
  e->len = len;
  if (len) memcpy(e->addr, addr, len);
  e->addr[len] = '\0';
  *pp = e;
  l->n++;
  if (l->n > l->nslots && l->nslots < SIZE_MAX / 2 / sizeof *l->slots) rehash(l, l->nslots * 2);
  return 1;
}

void wsk_iplimit_release(wsk_iplimit_t *l, const char *addr, size_t len) {
  if (!addr && len) return;
  struct ip_ent **pp = find(l, addr, len, wsk_hash_bytes(l->key, addr ? addr : "", len));
  struct ip_ent *e = *pp;
  if (!e) return;
  if (--e->count > 0) return;
  *pp = e->next;
  free(e);
  l->n--;
  /* Give memory back after a burst of distinct addresses. */
  if (l->nslots > 16 && l->n < l->nslots / 8) rehash(l, l->nslots / 2);
}

size_t wsk_iplimit_count(const wsk_iplimit_t *l, const char *addr, size_t len) {
  if (!addr && len) return 0;
  struct ip_ent **pp = find(l, addr, len, wsk_hash_bytes(l->key, addr ? addr : "", len));
  return *pp ? (*pp)->count : 0;
}

size_t wsk_iplimit_size(const wsk_iplimit_t *l) { return l->n; }
