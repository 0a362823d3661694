/* Request/response correlation table.
 *
 * Entries live in a pool indexed by uint32 (indices stay stable when the
 * pool grows, pointers do not). An open-addressing map with linear probing
 * and backward-shift deletion (no tombstones) finds an entry by id; an
 * indexed binary min-heap of the entries that have a deadline, ordered by
 * (deadline, insertion sequence), gives the next one to expire, and each
 * entry knows its heap position so resolve can take it out in O(log n). */
#include "wskit/rpc.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define NONE UINT32_MAX
#define DEFERRED UINT32_C(0x80000000) /* pos flag: in the deferred list */
#define MAX_ENTRIES (DEFERRED - 1)

struct ent {
  uint64_t id;
  uint64_t seq;      /* insertion order; 0 = slot free */
  int64_t deadline;  /* < 0: none */
  void *ud;
  uint32_t pos;      /* heap index, DEFERRED|list index, or NONE */
  uint32_t next_free;
};

struct slot {
  uint64_t id;
  uint32_t ent; /* NONE = empty */
};

struct wsk_rpc_table {
  uint64_t key[2];
  struct ent *ents;
  uint32_t ent_cap, ent_hi; /* slots [0, ent_hi) have been used */
  uint32_t free_head;
  uint32_t count;
  uint32_t *heap;     /* ent_cap long */
  uint32_t heap_n;
  /* Entries added by a callback during expire whose deadline had already
   * passed are parked here until that expire returns, so a callback that
   * re-adds with an expired deadline cannot keep expire looping. */
  uint32_t *deferred; /* ent_cap long */
  uint32_t deferred_n;
  struct slot *slots;
  size_t slot_mask; /* capacity - 1; capacity is 0 or a power of two */
  uint64_t next_seq;
  uint64_t next_id;
};

wsk_rpc_table_t *wsk_rpc_new(void) {
  wsk_rpc_table_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  wsk_hash_key_init(t->key, t);
  t->free_head = NONE;
  t->next_seq = 1;
  t->next_id = 1;
  return t;
}

void wsk_rpc_free(wsk_rpc_table_t *t) {
  if (!t) return;
  free(t->ents);
  free(t->heap);
  free(t->deferred);
  free(t->slots);
  free(t);
}

size_t wsk_rpc_count(const wsk_rpc_table_t *t) { return t->count; }

/* ---- id map ---- */

static size_t slot_of(const wsk_rpc_table_t *t, uint64_t id) {
  return (size_t)wsk_hash_mix64(id ^ t->key[0]) & t->slot_mask;
}

/* Slot index holding `id`, or SIZE_MAX. */
static size_t map_find(const wsk_rpc_table_t *t, uint64_t id) {
  if (!t->slots) return SIZE_MAX;
  for (size_t i = slot_of(t, id);; i = (i + 1) & t->slot_mask) {
    if (t->slots[i].ent == NONE) return SIZE_MAX;
    if (t->slots[i].id == id) return i;
  }
}

static void map_put(wsk_rpc_table_t *t, uint64_t id, uint32_t ent) {
  size_t i = slot_of(t, id);
  while (t->slots[i].ent != NONE) i = (i + 1) & t->slot_mask;
  t->slots[i].id = id;
  t->slots[i].ent = ent;
}

/* Backward-shift deletion: pull later members of the probe run back into
 * the hole so lookups never stop early at it. */
static void map_del(wsk_rpc_table_t *t, size_t hole) {
  size_t i = hole;
  for (;;) {
    i = (i + 1) & t->slot_mask;
    if (t->slots[i].ent == NONE) break;
    size_t home = slot_of(t, t->slots[i].id);
    /* Move i into the hole unless its home lies cyclically in (hole, i]. */
    if (((i - home) & t->slot_mask) >= ((i - hole) & t->slot_mask)) {
      t->slots[hole] = t->slots[i];
      hole = i;
    }
  }
  t->slots[hole].ent = NONE;
}

/* Room for one more id at load <= 3/4. */
static int map_reserve(wsk_rpc_table_t *t) {
  size_t cap = t->slots ? t->slot_mask + 1 : 0;
  if (((size_t)t->count + 1) * 4 <= cap * 3) return 0;
  size_t ncap = cap ? cap * 2 : 16;
  if (ncap > SIZE_MAX / sizeof(struct slot)) return WSK_ENOMEM;
  struct slot *ns = malloc(ncap * sizeof *ns);
  if (!ns) return WSK_ENOMEM;
  for (size_t i = 0; i < ncap; i++) ns[i].ent = NONE;
  struct slot *old = t->slots;
  t->slots = ns;
  t->slot_mask = ncap - 1;
  for (size_t i = 0; i < cap; i++)
    if (old[i].ent != NONE) map_put(t, old[i].id, old[i].ent);
  free(old);
  return 0;
}

/* ---- deadline heap ---- */

static int earlier(const wsk_rpc_table_t *t, uint32_t a, uint32_t b) {
  const struct ent *x = &t->ents[a], *y = &t->ents[b];
  return x->deadline < y->deadline || (x->deadline == y->deadline && x->seq < y->seq);
}

static void heap_set(wsk_rpc_table_t *t, uint32_t pos, uint32_t ent) {
  t->heap[pos] = ent;
  t->ents[ent].pos = pos;
}

static void sift_up(wsk_rpc_table_t *t, uint32_t pos) {
  uint32_t e = t->heap[pos];
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (!earlier(t, e, t->heap[parent])) break;
    heap_set(t, pos, t->heap[parent]);
    pos = parent;
  }
  heap_set(t, pos, e);
}

static void sift_down(wsk_rpc_table_t *t, uint32_t pos) {
  uint32_t e = t->heap[pos], n = t->heap_n;
  for (;;) {
    uint32_t c = 2 * pos + 1;
    if (c >= n) break;
    if (c + 1 < n && earlier(t, t->heap[c + 1], t->heap[c])) c++;
    if (!earlier(t, t->heap[c], e)) break;
    heap_set(t, pos, t->heap[c]);
    pos = c;
  }
  heap_set(t, pos, e);
}

static void heap_push(wsk_rpc_table_t *t, uint32_t ent) {
  uint32_t pos = t->heap_n++;
  heap_set(t, pos, ent);
  sift_up(t, pos);
}

static void heap_remove(wsk_rpc_table_t *t, uint32_t pos) {
  uint32_t gone = t->heap[pos];
  uint32_t last = t->heap[--t->heap_n];
  t->ents[gone].pos = NONE;
  if (pos == t->heap_n) return;
  heap_set(t, pos, last);
  /* The moved entry may belong above or below its new place. */
  if (pos > 0 && earlier(t, last, t->heap[(pos - 1) / 2]))
    sift_up(t, pos);
  else
    sift_down(t, pos);
}

static void deferred_remove(wsk_rpc_table_t *t, uint32_t i) {
  uint32_t gone = t->deferred[i];
  uint32_t last = t->deferred[--t->deferred_n];
  t->ents[gone].pos = NONE;
  if (i == t->deferred_n) return;
  t->deferred[i] = last;
  t->ents[last].pos = DEFERRED | i;
}

/* ---- entries ---- */

/* Grow the pool (and the heap and deferred arrays, which must be able to
 * hold every entry) so one more entry fits. realloc keeps old contents on
 * failure, so a failed grow leaves the table as it was. */
static int pool_reserve(wsk_rpc_table_t *t) {
  if (t->free_head != NONE || t->ent_hi < t->ent_cap) return 0;
  if (t->ent_cap >= MAX_ENTRIES) return WSK_ENOMEM;
  uint32_t ncap = t->ent_cap ? t->ent_cap * 2 : 16;
  if (ncap > MAX_ENTRIES || ncap < t->ent_cap) ncap = MAX_ENTRIES;
  size_t bytes = (size_t)ncap * sizeof(struct ent);
  if (bytes / sizeof(struct ent) != ncap) return WSK_ENOMEM; /* 32-bit size_t */
  struct ent *ne = realloc(t->ents, bytes);
  if (!ne) return WSK_ENOMEM;
  t->ents = ne;
  uint32_t *nh = realloc(t->heap, (size_t)ncap * sizeof *nh);
  if (!nh) return WSK_ENOMEM;
  t->heap = nh;
  uint32_t *nd = realloc(t->deferred, (size_t)ncap * sizeof *nd);
  if (!nd) return WSK_ENOMEM;
  t->deferred = nd;
  t->ent_cap = ncap; /* only now: every array is ncap long */
  return 0;
}

static uint32_t pool_take(wsk_rpc_table_t *t) {
  uint32_t i;
  if (t->free_head != NONE) {
    i = t->free_head;
    t->free_head = t->ents[i].next_free;
  } else {
    i = t->ent_hi++;
  }
  return i;
}

/* Unlink an entry from the map, the heap or deferred list, and the pool. */
static void remove_entry(wsk_rpc_table_t *t, size_t slot, uint32_t i) {
  struct ent *e = &t->ents[i];
  map_del(t, slot);
  if (e->pos != NONE) {
    if (e->pos & DEFERRED)
      deferred_remove(t, e->pos & ~DEFERRED);
    else
      heap_remove(t, e->pos);
  }
  e->seq = 0;
  e->ud = NULL;
  e->next_free = t->free_head;
  t->free_head = i;
  t->count--;
}

int wsk_rpc_add(wsk_rpc_table_t *t, uint64_t id, int64_t deadline, void *ud) {
  if (map_find(t, id) != SIZE_MAX) return WSK_EEXIST;
  int rc = pool_reserve(t);
  if (rc == 0) rc = map_reserve(t);
  if (rc != 0) return rc;
  uint32_t i = pool_take(t);
  struct ent *e = &t->ents[i];
  e->id = id;
  e->seq = t->next_seq++;
  e->deadline = deadline < 0 ? -1 : deadline;
  e->ud = ud;
  e->pos = NONE;
  map_put(t, id, i);
  t->count++;
  if (e->deadline >= 0) heap_push(t, i);
  return 0;
}

int wsk_rpc_resolve(wsk_rpc_table_t *t, uint64_t id, void **ud) {
  size_t s = map_find(t, id);
  if (s == SIZE_MAX) return WSK_ENOTFOUND;
  uint32_t i = t->slots[s].ent;
  if (ud) *ud = t->ents[i].ud;
  remove_entry(t, s, i);
  return 0;
}

uint64_t wsk_rpc_next_id(wsk_rpc_table_t *t) {
  /* Skip ids the caller added by hand; at most count of them are pending,
   * so this ends. 0 is skipped on wrap-around so ids stay truthy. */
  for (;;) {
    uint64_t id = t->next_id++;
    if (id == 0) continue;
    if (map_find(t, id) == SIZE_MAX) return id;
  }
}

/* End one entry: remove it first, then call back, so the callback sees a
 * consistent table and may change it. */
static void end_entry(wsk_rpc_table_t *t, uint32_t i, int reason, wsk_rpc_end_fn cb, void *ctx) {
  uint64_t id = t->ents[i].id;
  void *ud = t->ents[i].ud;
  remove_entry(t, map_find(t, id), i);
  if (cb) cb(ctx, id, ud, reason);
}

size_t wsk_rpc_expire(wsk_rpc_table_t *t, int64_t now, wsk_rpc_end_fn cb, void *ctx) {
  uint64_t start = t->next_seq; /* entries older than this were pending at the call */
  size_t n = 0;
  while (t->heap_n > 0) {
    uint32_t i = t->heap[0];
    if (t->ents[i].deadline > now) break;
    if (t->ents[i].seq >= start) {
      /* Added by one of our callbacks: leave it for the next call. */
      heap_remove(t, 0);
      t->deferred[t->deferred_n] = i;
      t->ents[i].pos = DEFERRED | t->deferred_n;
      t->deferred_n++;
      continue;
    }
    end_entry(t, i, WSK_ETIMEDOUT, cb, ctx);
    n++;
  }
  /* Back into the heap; it has room for every entry. A nested expire
   * (from a callback) may do this early; the outer loop then parks them
   * again, which still terminates because nothing is added back until
   * the loop ends. */
  while (t->deferred_n > 0) {
    uint32_t i = t->deferred[--t->deferred_n];
    t->ents[i].pos = NONE;
    heap_push(t, i);
  }
  return n;
}

size_t wsk_rpc_cancel_all(wsk_rpc_table_t *t, wsk_rpc_end_fn cb, void *ctx) {
  uint64_t start = t->next_seq; /* requests added by callbacks survive */
  size_t n = 0;
  /* Walk pool indices, not pointers: callbacks may grow (move) the pool,
   * reuse freed slots (their seq is then >= start) or resolve entries. */
  for (uint32_t i = 0; i < t->ent_hi; i++) {
    uint64_t seq = t->ents[i].seq;
    if (seq == 0 || seq >= start) continue;
    end_entry(t, i, WSK_ECANCELED, cb, ctx);
    n++;
  }
  return n;
}

int64_t wsk_rpc_next_deadline(const wsk_rpc_table_t *t) {
  int64_t d = t->heap_n > 0 ? t->ents[t->heap[0]].deadline : -1;
  /* Only non-empty while an expire is running (asked from a callback). */
  for (uint32_t k = 0; k < t->deferred_n; k++) {
    int64_t x = t->ents[t->deferred[k]].deadline;
    if (d < 0 || x < d) d = x;
  }
  return d;
}
