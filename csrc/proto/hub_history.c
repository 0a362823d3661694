/* The hub's memory: a channel's history ring (local mode), bounded by
 * count, age and payload bytes, and the live messages held for a
 * subscriber while it recovers (external mode), bounded by max_held. */
#include "hub_internal.h"

#include <stdlib.h>
#include <string.h>

const struct hent *wsk__hist_at(const struct chan *ch, size_t i) {
  return &ch->hist[(ch->hhead + i) % ch->hcap];
}

static void pop_oldest(struct chan *ch) {
  struct hent *e = &ch->hist[ch->hhead];
  ch->hbytes -= e->len;
  free(e->p);
  e->p = NULL;
  ch->hhead = (ch->hhead + 1) % ch->hcap;
  ch->hn--;
}

void wsk__hist_prune(const wsk_hub_t *h, struct chan *ch, int64_t now) {
  while (ch->hn > 0) {
    const struct hent *e = &ch->hist[ch->hhead];
    int too_many = ch->hn > h->o.history_size;
    int too_big = h->o.history_bytes && ch->hbytes > h->o.history_bytes;
    int too_old = h->o.history_ttl_ms && now - e->t > (int64_t)h->o.history_ttl_ms;
    if (!too_many && !too_big && !too_old) break;
    pop_oldest(ch);
  }
}

/* Grow the ring (oldest first again) up to history_size slots. */
static int grow(const wsk_hub_t *h, struct chan *ch) {
  size_t ncap = ch->hcap ? ch->hcap * 2 : 8;
  if (ncap > h->o.history_size) ncap = h->o.history_size;
  if (ncap > SIZE_MAX / sizeof(struct hent)) return WSK_ENOMEM;
  struct hent *n = malloc(ncap * sizeof *n);
  if (!n) return WSK_ENOMEM;
  for (size_t i = 0; i < ch->hn; i++) n[i] = *wsk__hist_at(ch, i);
  free(ch->hist);
  ch->hist = n;
  ch->hcap = ncap;
  ch->hhead = 0;
  return 0;
}

int wsk__hist_push(const wsk_hub_t *h, struct chan *ch, const wsk_chan_msg_t *m, int64_t now) {
  if (h->o.history_size == 0) return 0;
  if (h->o.history_bytes && m->payload_len > h->o.history_bytes) {
    /* Alone over the byte bound: it would push out everything, itself too. */
    while (ch->hn) pop_oldest(ch);
    return 0;
  }
  if (ch->hn == ch->hcap) {
    if (ch->hcap < h->o.history_size) {
      int r = grow(h, ch);
      if (r < 0) return r;
    } else {
      pop_oldest(ch); /* full: the oldest makes room */
    }
  }
  uint8_t *p = malloc(m->payload_len ? m->payload_len : 1);
  if (!p) return WSK_ENOMEM;
  if (m->payload_len) memcpy(p, m->payload, m->payload_len);
  struct hent *e = &ch->hist[(ch->hhead + ch->hn) % ch->hcap];
  e->seq = m->seq;
  e->t = now;
  e->kind = m->kind;
  e->len = m->payload_len;
  e->p = p;
  ch->hn++;
  ch->hbytes += m->payload_len;
  wsk__hist_prune(h, ch, now);
  return 0;
}

void wsk__hist_free(struct chan *ch) {
  while (ch->hn) pop_oldest(ch);
  free(ch->hist);
  ch->hist = NULL;
  ch->hcap = ch->hhead = 0;
}

int wsk__held_push(const wsk_hub_t *h, struct edge *e, const wsk_chan_msg_t *m) {
  struct held *x = malloc(sizeof *x + m->payload_len);
  if (!x) return WSK_ENOMEM;
  x->next = NULL;
  x->seq = m->seq;
  x->kind = m->kind;
  x->elen = m->epoch_len;
  memcpy(x->epoch, m->epoch, m->epoch_len);
  x->len = m->payload_len;
  if (m->payload_len) memcpy(x->p, m->payload, m->payload_len);
  if (e->ht) e->ht->next = x;
  else e->hh = x;
  e->ht = x;
  e->nheld++;
  while (h->o.max_held && e->nheld > h->o.max_held) {
    /* Over the bound: the oldest goes, remembered for the "overflow" gap. */
    struct held *o = e->hh;
    e->hh = o->next;
    if (!e->hh) e->ht = NULL;
    e->nheld--;
    if (!e->dropped || e->delen != o->elen || memcmp(e->depoch, o->epoch, o->elen) != 0 ||
        o->seq > e->dropped_max) {
      e->dropped_max = o->seq;
      e->delen = o->elen;
      memcpy(e->depoch, o->epoch, o->elen);
    }
    e->dropped = 1;
    free(o);
  }
  return 0;
}

void wsk__held_free(struct edge *e) {
  struct held *x = e->hh;
  while (x) {
    struct held *n = x->next;
    free(x);
    x = n;
  }
  e->hh = e->ht = NULL;
  e->nheld = 0;
  e->dropped = 0;
  e->dropped_max = 0;
  e->delen = 0;
}
