/* The client's side of resume (chanproto.h): per tracked channel, the
 * epoch and the last seq seen. A reconnecting client resubscribes with
 * them ("since"), and drops what it already had.
 *
 * Channels live in a dense array (so resubscribe walks them in a stable
 * order) indexed by an open-addressing hash table of array positions,
 * keyed with a per-client secret (channel names can come from a server). */
#include "wskit/chanproto.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "json_internal.h" /* wsk_chan_name_ok */
#include "wskit/channels.h" /* WSK_CHANNEL_MAX_NAME */

struct entry {
  uint64_t h;
  int known;                  /* epoch/seq set by the server */
  uint64_t seq;               /* last seq seen (or the newest at subscribe) */
  size_t epoch_len;
  char epoch[WSK_CHAN_MAX_EPOCH];
  size_t len;
  char name[];
};

struct wsk_chan_client {
  uint64_t key[2];
  struct entry **ents;
  size_t n, cap;
  size_t *slots; /* position + 1; 0 = empty */
  size_t mask;   /* slots has mask + 1 entries (0 when slots is NULL) */
};

wsk_chan_client_t *wsk_chan_client_new(void) {
  wsk_chan_client_t *cc = calloc(1, sizeof *cc);
  if (cc) wsk_hash_key_init(cc->key, cc);
  return cc;
}

void wsk_chan_client_free(wsk_chan_client_t *cc) {
  if (!cc) return;
  for (size_t i = 0; i < cc->n; i++) free(cc->ents[i]);
  free(cc->ents);
  free(cc->slots);
  free(cc);
}

size_t wsk_chan_client_count(const wsk_chan_client_t *cc) { return cc ? cc->n : 0; }

/* Slot index of the channel, or SIZE_MAX. */
static size_t find(const wsk_chan_client_t *cc, uint64_t h, const char *name, size_t len) {
  if (!cc->slots) return SIZE_MAX;
  for (size_t i = (size_t)h & cc->mask;; i = (i + 1) & cc->mask) {
    if (!cc->slots[i]) return SIZE_MAX;
    const struct entry *e = cc->ents[cc->slots[i] - 1];
    if (e->h == h && e->len == len && memcmp(e->name, name, len) == 0) return i;
  }
}

static struct entry *lookup(const wsk_chan_client_t *cc, const char *name, size_t len) {
  if (!cc || !wsk_chan_name_ok(name, len)) return NULL;
  size_t s = find(cc, wsk_hash_bytes(cc->key, name, len), name, len);
  return s == SIZE_MAX ? NULL : cc->ents[cc->slots[s] - 1];
}

static void place(wsk_chan_client_t *cc, size_t pos) {
  size_t i = (size_t)cc->ents[pos]->h & cc->mask;
  while (cc->slots[i]) i = (i + 1) & cc->mask;
  cc->slots[i] = pos + 1;
}

/* Keep the table at load <= 1/2 of its slots. */
static int grow(wsk_chan_client_t *cc) {
  size_t cap = cc->slots ? cc->mask + 1 : 0;
  if ((cc->n + 1) * 2 <= cap) return 0;
  size_t ncap = cap ? cap * 2 : 16;
  if (ncap > SIZE_MAX / sizeof(size_t)) return WSK_ENOMEM;
  size_t *ns = calloc(ncap, sizeof *ns);
  if (!ns) return WSK_ENOMEM;
  free(cc->slots);
  cc->slots = ns;
  cc->mask = ncap - 1;
  for (size_t i = 0; i < cc->n; i++) place(cc, i);
  return 0;
}

int wsk_chan_client_add(wsk_chan_client_t *cc, const char *channel, size_t len) {
  if (!cc || !wsk_chan_name_ok(channel, len)) return WSK_EINVAL;
  if (lookup(cc, channel, len)) return 0;
  if (cc->n == cc->cap) {
    size_t ncap = cc->cap ? cc->cap * 2 : 8;
    struct entry **ne = realloc(cc->ents, ncap * sizeof *ne);
    if (!ne) return WSK_ENOMEM;
    cc->ents = ne;
    cc->cap = ncap;
  }
  if (grow(cc) != 0) return WSK_ENOMEM;
  struct entry *e = calloc(1, sizeof *e + len);
  if (!e) return WSK_ENOMEM;
  e->h = wsk_hash_bytes(cc->key, channel, len);
  e->len = len;
  memcpy(e->name, channel, len);
  cc->ents[cc->n] = e;
  place(cc, cc->n);
  cc->n++;
  return 0;
}

/* Backward-shift deletion of slot `hole`. */
static void slot_del(wsk_chan_client_t *cc, size_t hole) {
  size_t i = hole;
  for (;;) {
    i = (i + 1) & cc->mask;
    if (!cc->slots[i]) break;
    size_t home = (size_t)cc->ents[cc->slots[i] - 1]->h & cc->mask;
    if (((i - home) & cc->mask) >= ((i - hole) & cc->mask)) {
      cc->slots[hole] = cc->slots[i];
      hole = i;
    }
  }
  cc->slots[hole] = 0;
}

int wsk_chan_client_remove(wsk_chan_client_t *cc, const char *channel, size_t len) {
  if (!cc || !wsk_chan_name_ok(channel, len)) return 0;
  size_t s = find(cc, wsk_hash_bytes(cc->key, channel, len), channel, len);
  if (s == SIZE_MAX) return 0;
  size_t pos = cc->slots[s] - 1;
  slot_del(cc, s);
  free(cc->ents[pos]);
  size_t last = cc->n - 1;
  if (pos != last) {
    /* move the last entry into the hole and repoint its slot */
    struct entry *m = cc->ents[last];
    size_t ms = find(cc, m->h, m->name, m->len);
    cc->ents[pos] = m;
    cc->slots[ms] = pos + 1;
  }
  cc->n--;
  return 1;
}

static int same_epoch(const struct entry *e, const char *ep, size_t n) {
  return e->known && e->epoch_len == n && (n == 0 || memcmp(e->epoch, ep, n) == 0);
}

static void set_position(struct entry *e, const char *ep, size_t n, uint64_t seq) {
  if (n) memcpy(e->epoch, ep, n);
  e->epoch_len = n;
  e->seq = seq;
  e->known = 1;
}

wsk_chan_verdict_t wsk_chan_client_on_frame(wsk_chan_client_t *cc, const wsk_chan_frame_t *f) {
  if (!f) return WSK_CHAN_IGNORE;
  if (f->type != WSK_CHAN_MESSAGE && f->type != WSK_CHAN_SUBSCRIBED && f->type != WSK_CHAN_GAP)
    return WSK_CHAN_IGNORE;
  struct entry *e = lookup(cc, f->channel, f->channel_len);
  if (!e || f->epoch_len > WSK_CHAN_MAX_EPOCH || (f->epoch_len && !f->epoch)) return WSK_CHAN_IGNORE;
  int same = same_epoch(e, f->epoch, f->epoch_len);
  switch (f->type) {
  case WSK_CHAN_SUBSCRIBED:
    /* Same epoch: keep the position, the server sends what follows it (or
     * a gap). First subscribe: start at the newest seq, as the server
     * does. Another epoch: nothing of it was seen yet. */
    if (!e->known) set_position(e, f->epoch, f->epoch_len, f->seq);
    else if (!same) set_position(e, f->epoch, f->epoch_len, 0);
    return WSK_CHAN_IGNORE;
  case WSK_CHAN_GAP:
    /* the missed seqs are gone: never wait for them */
    if (!same) set_position(e, f->epoch, f->epoch_len, f->to);
    else if (f->to > e->seq) e->seq = f->to;
    return WSK_CHAN_IGNORE;
  default:
    if (same && f->seq <= e->seq) return WSK_CHAN_DUPLICATE;
    set_position(e, f->epoch, f->epoch_len, f->seq);
    return WSK_CHAN_DELIVER;
  }
}

int wsk_chan_client_resubscribe(const wsk_chan_client_t *cc, wsk_buf_t *out) {
  if (!cc || !out) return WSK_EINVAL;
  size_t start = out->len;
  for (size_t i = 0; i < cc->n; i++) {
    const struct entry *e = cc->ents[i];
    int r = wsk_chan_build_subscribe(out, e->name, e->len, e->known, e->seq,
                                     e->known ? e->epoch : NULL, e->epoch_len, NULL, 0);
    if (r == 0) r = wsk_buf_append(out, "\n", 1);
    if (r != 0) {
      out->len = start;
      return r;
    }
  }
  return (int)cc->n;
}

int wsk_chan_client_position(const wsk_chan_client_t *cc, const char *channel, size_t len,
                             uint64_t *seq, const char **epoch, size_t *epoch_len) {
  const struct entry *e = lookup(cc, channel, len);
  if (!e) return 0;
  if (seq) *seq = e->known ? e->seq : 0;
  if (epoch) *epoch = e->epoch;
  if (epoch_len) *epoch_len = e->known ? e->epoch_len : 0;
  return 1;
}
