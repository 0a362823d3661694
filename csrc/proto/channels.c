/* Channel registry for fan-out.
 *
 * The registry is a bipartite graph. Each subscription is one `edge`
 * object that sits in three places at once: a dense array of its channel's
 * members, a dense array of its connection's channels (both removed from by
 * swap-with-last, the edge remembering its index in each), and a global
 * hash set keyed by (channel, conn) for O(1) membership tests. Channels are
 * found by name and connections by pointer through two more hash sets.
 * All three sets are open-addressing tables with linear probing and
 * backward-shift deletion. */
#include "wskit/channels.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct edge;

struct chan {
  uint64_t h;
  struct edge **mem; /* subscribers */
  size_t n, cap;
  size_t len;
  char name[]; /* len bytes + NUL */
};

struct conn_rec {
  uint64_t h;
  void *conn;
  struct edge **eds; /* channels of this connection */
  size_t n, cap;
};

struct edge {
  uint64_t h;
  struct chan *ch;
  struct conn_rec *cr;
  size_t ci; /* index in ch->mem */
  size_t ki; /* index in cr->eds */
};

/* ---- open-addressing hash set of pointers with cached hashes ---- */

struct tslot {
  uint64_t h;
  void *p; /* NULL = empty */
};

struct tab {
  struct tslot *s; /* NULL while empty-capacity */
  size_t mask;
  size_t n;
};

typedef int (*match_fn)(const void *item, const void *key);

#define TAB_MIN 16

static size_t tab_find(const struct tab *t, uint64_t h, match_fn m, const void *key) {
  if (!t->s) return SIZE_MAX;
  for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
    if (!t->s[i].p) return SIZE_MAX;
    if (t->s[i].h == h && m(t->s[i].p, key)) return i;
  }
}

static void tab_put(struct tab *t, uint64_t h, void *p) {
  size_t i = (size_t)h & t->mask;
  while (t->s[i].p) i = (i + 1) & t->mask;
  t->s[i].h = h;
  t->s[i].p = p;
  t->n++;
}

static int tab_resize(struct tab *t, size_t ncap) {
  if (ncap > SIZE_MAX / sizeof(struct tslot)) return WSK_ENOMEM;
  struct tslot *ns = calloc(ncap, sizeof *ns);
  if (!ns) return WSK_ENOMEM;
  struct tslot *old = t->s;
  size_t cap = old ? t->mask + 1 : 0;
  t->s = ns;
  t->mask = ncap - 1;
  t->n = 0;
  for (size_t i = 0; i < cap; i++)
    if (old[i].p) tab_put(t, old[i].h, old[i].p);
  free(old);
  return 0;
}

/* Room for one more item at load <= 3/4. */
static int tab_reserve(struct tab *t) {
  size_t cap = t->s ? t->mask + 1 : 0;
  if ((t->n + 1) * 4 <= cap * 3) return 0;
  if (cap > SIZE_MAX / 2) return WSK_ENOMEM;
  return tab_resize(t, cap ? cap * 2 : TAB_MIN);
}

/* Remove slot `hole` by shifting later members of its probe run back.
 * Slot indices are invalid afterwards (the table may also shrink). */
static void tab_del(struct tab *t, size_t hole) {
  size_t i = hole;
  for (;;) {
    i = (i + 1) & t->mask;
    if (!t->s[i].p) break;
    size_t home = (size_t)t->s[i].h & t->mask;
    if (((i - home) & t->mask) >= ((i - hole) & t->mask)) {
      t->s[hole] = t->s[i];
      hole = i;
    }
  }
  t->s[hole].p = NULL;
  t->n--;
  size_t cap = t->mask + 1;
  if (t->n == 0) {
    free(t->s);
    t->s = NULL;
    t->mask = 0;
  } else if (cap > TAB_MIN && t->n < cap / 8) {
    /* Give memory back after churn; halving leaves load < 1/4, far from
     * the next grow. If it fails the bigger table simply stays. */
    (void)tab_resize(t, cap / 2);
  }
}

static int match_same(const void *item, const void *key) { return item == key; }

struct name_key {
  const char *name;
  size_t len;
};

static int match_chan(const void *item, const void *key) {
  const struct chan *c = item;
  const struct name_key *k = key;
  return c->len == k->len && memcmp(c->name, k->name, k->len) == 0;
}

static int match_conn(const void *item, const void *key) {
  return ((const struct conn_rec *)item)->conn == key;
}

struct edge_key {
  const struct chan *ch;
  const void *conn;
};

static int match_edge(const void *item, const void *key) {
  const struct edge *e = item;
  const struct edge_key *k = key;
  return e->ch == k->ch && e->cr->conn == k->conn;
}

static void tab_remove_item(struct tab *t, uint64_t h, void *p) {
  size_t s = tab_find(t, h, match_same, p);
  if (s != SIZE_MAX) tab_del(t, s);
}

/* ---- small vectors of edges ---- */

static int vec_reserve(struct edge ***v, size_t *cap, size_t n) {
  if (n < *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 4;
  if (ncap > SIZE_MAX / sizeof(struct edge *)) return WSK_ENOMEM;
  struct edge **nv = realloc(*v, ncap * sizeof *nv);
  if (!nv) return WSK_ENOMEM;
  *v = nv;
  *cap = ncap;
  return 0;
}

static void vec_maybe_shrink(struct edge ***v, size_t *cap, size_t n) {
  if (*cap <= 16 || n >= *cap / 4) return;
  struct edge **nv = realloc(*v, (*cap / 2) * sizeof *nv);
  if (!nv) return; /* keep the larger array */
  *v = nv;
  *cap /= 2;
}

/* ---- registry ---- */

struct wsk_channels {
  uint64_t key[2];
  struct tab chans; /* struct chan * by name */
  struct tab conns; /* struct conn_rec * by conn pointer */
  struct tab edges; /* struct edge * by (chan, conn) */
};

static int valid_name(const char *name, size_t len) {
  return name != NULL && len >= 1 && len <= WSK_CHANNEL_MAX_NAME;
}

static uint64_t hash_name(const wsk_channels_t *r, const char *name, size_t len) {
  return wsk_hash_bytes(r->key, name, len);
}

static uint64_t hash_conn(const wsk_channels_t *r, const void *conn) {
  return wsk_hash_mix64((uint64_t)(uintptr_t)conn ^ r->key[0]);
}

static uint64_t hash_edge(const wsk_channels_t *r, const struct chan *ch, const void *conn) {
  return wsk_hash_mix64(wsk_hash_mix64((uint64_t)(uintptr_t)ch ^ r->key[1]) + (uint64_t)(uintptr_t)conn);
}

static struct chan *find_chan(const wsk_channels_t *r, const char *name, size_t len) {
  if (!valid_name(name, len)) return NULL;
  struct name_key k = { name, len };
  size_t s = tab_find(&r->chans, hash_name(r, name, len), match_chan, &k);
  return s == SIZE_MAX ? NULL : r->chans.s[s].p;
}

static struct conn_rec *find_conn(const wsk_channels_t *r, const void *conn) {
  size_t s = tab_find(&r->conns, hash_conn(r, conn), match_conn, conn);
  return s == SIZE_MAX ? NULL : r->conns.s[s].p;
}

static struct edge *find_edge(const wsk_channels_t *r, const struct chan *ch, const void *conn) {
  struct edge_key k = { ch, conn };
  size_t s = tab_find(&r->edges, hash_edge(r, ch, conn), match_edge, &k);
  return s == SIZE_MAX ? NULL : r->edges.s[s].p;
}

wsk_channels_t *wsk_channels_new(void) {
  wsk_channels_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  wsk_hash_key_init(r->key, r);
  return r;
}

void wsk_channels_free(wsk_channels_t *r) {
  if (!r) return;
  /* Every edge is in exactly one channel, so free edges through channels. */
  if (r->chans.s) {
    for (size_t i = 0; i <= r->chans.mask; i++) {
      struct chan *ch = r->chans.s[i].p;
      if (!ch) continue;
      for (size_t k = 0; k < ch->n; k++) free(ch->mem[k]);
      free(ch->mem);
      free(ch);
    }
  }
  if (r->conns.s) {
    for (size_t i = 0; i <= r->conns.mask; i++) {
      struct conn_rec *cr = r->conns.s[i].p;
      if (!cr) continue;
      free(cr->eds);
      free(cr);
    }
  }
  free(r->chans.s);
  free(r->conns.s);
  free(r->edges.s);
  free(r);
}

int wsk_channels_subscribe(wsk_channels_t *r, const char *name, size_t len, void *conn) {
  if (!conn || !valid_name(name, len)) return WSK_EINVAL;
  struct chan *ch = find_chan(r, name, len);
  struct conn_rec *cr = find_conn(r, conn);
  if (ch && cr && find_edge(r, ch, conn)) return 0;

  /* Allocate and reserve everything before linking anything, so running
   * out of memory leaves the registry exactly as it was. Capacity grown
   * on existing tables or arrays is harmless if a later step fails. */
  struct chan *nch = NULL;
  struct conn_rec *ncr = NULL;
  struct edge *e = NULL;
  if (!ch) {
    nch = malloc(sizeof *nch + len + 1);
    if (!nch) goto oom;
    memset(nch, 0, sizeof *nch);
    nch->h = hash_name(r, name, len);
    nch->len = len;
    memcpy(nch->name, name, len);
    nch->name[len] = '\0';
    ch = nch;
  }
  if (!cr) {
    ncr = calloc(1, sizeof *ncr);
    if (!ncr) goto oom;
    ncr->h = hash_conn(r, conn);
    ncr->conn = conn;
    cr = ncr;
  }
  e = malloc(sizeof *e);
  if (!e) goto oom;
  if (vec_reserve(&ch->mem, &ch->cap, ch->n) != 0) goto oom;
  if (vec_reserve(&cr->eds, &cr->cap, cr->n) != 0) goto oom;
  if (nch && tab_reserve(&r->chans) != 0) goto oom;
  if (ncr && tab_reserve(&r->conns) != 0) goto oom;
  if (tab_reserve(&r->edges) != 0) goto oom;

  if (nch) tab_put(&r->chans, nch->h, nch);
  if (ncr) tab_put(&r->conns, ncr->h, ncr);
  e->h = hash_edge(r, ch, conn);
  e->ch = ch;
  e->cr = cr;
  e->ci = ch->n;
  ch->mem[ch->n++] = e;
  e->ki = cr->n;
  cr->eds[cr->n++] = e;
  tab_put(&r->edges, e->h, e);
  return 1;

oom:
  free(e);
  if (nch) {
    free(nch->mem);
    free(nch);
  }
  if (ncr) {
    free(ncr->eds);
    free(ncr);
  }
  return WSK_ENOMEM;
}

/* Remove one subscription; delete its channel and connection record when
 * they become empty. Never allocates (shrinking is best effort). */
static void unlink_edge(wsk_channels_t *r, struct edge *e) {
  struct chan *ch = e->ch;
  struct conn_rec *cr = e->cr;
  tab_remove_item(&r->edges, e->h, e);

  struct edge *last = ch->mem[--ch->n];
  if (last != e) {
    ch->mem[e->ci] = last;
    last->ci = e->ci;
  }
  last = cr->eds[--cr->n];
  if (last != e) {
    cr->eds[e->ki] = last;
    last->ki = e->ki;
  }
  free(e);

  if (ch->n == 0) {
    tab_remove_item(&r->chans, ch->h, ch);
    free(ch->mem);
    free(ch);
  } else {
    vec_maybe_shrink(&ch->mem, &ch->cap, ch->n);
  }
  if (cr->n == 0) {
    tab_remove_item(&r->conns, cr->h, cr);
    free(cr->eds);
    free(cr);
  } else {
    vec_maybe_shrink(&cr->eds, &cr->cap, cr->n);
  }
}

int wsk_channels_unsubscribe(wsk_channels_t *r, const char *name, size_t len, void *conn) {
  if (!conn || !valid_name(name, len)) return WSK_EINVAL;
  struct chan *ch = find_chan(r, name, len);
  if (!ch) return 0;
  struct edge *e = find_edge(r, ch, conn);
  if (!e) return 0;
  unlink_edge(r, e);
  return 1;
}

size_t wsk_channels_drop(wsk_channels_t *r, void *conn) {
  if (!conn) return 0;
  struct conn_rec *cr = find_conn(r, conn);
  if (!cr) return 0;
  size_t n = cr->n;
  /* From the back, so no swap moves; the last unlink frees cr, and cr is
   * not touched after it (k counts down independently). */
  for (size_t k = n; k > 0; k--) unlink_edge(r, cr->eds[k - 1]);
  return n;
}

int wsk_channels_is_member(const wsk_channels_t *r, const char *name, size_t len, void *conn) {
  if (!conn) return 0;
  const struct chan *ch = find_chan(r, name, len);
  return ch && find_edge(r, ch, conn) ? 1 : 0;
}

size_t wsk_channels_count(const wsk_channels_t *r, const char *name, size_t len) {
  const struct chan *ch = find_chan(r, name, len);
  return ch ? ch->n : 0;
}

size_t wsk_channels_size(const wsk_channels_t *r) { return r->chans.n; }

size_t wsk_channels_members(const wsk_channels_t *r, const char *name, size_t len, void **out,
                            size_t max) {
  const struct chan *ch = find_chan(r, name, len);
  if (!ch) return 0;
  size_t n = ch->n < max ? ch->n : max;
  for (size_t k = 0; k < n; k++) out[k] = ch->mem[k]->cr->conn;
  return ch->n;
}

size_t wsk_channels_of(const wsk_channels_t *r, void *conn, wsk_channel_name_fn fn, void *ud) {
  if (!conn) return 0;
  const struct conn_rec *cr = find_conn(r, conn);
  if (!cr) return 0;
  if (fn)
    for (size_t k = 0; k < cr->n; k++) fn(ud, cr->eds[k]->ch->name, cr->eds[k]->ch->len);
  return cr->n;
}
