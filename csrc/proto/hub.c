/* The channel hub (hub.h): subscriptions, positions, resume and gap
 * rules, dispatch. Each subscription is an edge kept in a dense array of
 * its channel and one of its subscriber (swap-with-last removal); channels
 * and subscribers are found through chained hash tables with a per-hub
 * SipHash key, since channel names come from peers. History and held
 * messages are in hub_history.c. */
#include "hub_internal.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* ---- hash tables ---- */

static struct hnode **slot_of(const struct htab *t, uint64_t h) {
  return &t->slots[h & (t->nslots - 1)];
}

static void tab_rehash(struct htab *t, size_t ns) {
  struct hnode **s = calloc(ns, sizeof *s);
  if (!s) return; /* keep the old size: only slower */
  for (size_t i = 0; i < t->nslots; i++) {
    struct hnode *x = t->slots[i];
    while (x) {
      struct hnode *nx = x->next;
      x->next = s[x->h & (ns - 1)];
      s[x->h & (ns - 1)] = x;
      x = nx;
    }
  }
  free(t->slots);
  t->slots = s;
  t->nslots = ns;
}

static int tab_add(struct htab *t, struct hnode *x) {
  if (!t->slots) {
    t->slots = calloc(16, sizeof *t->slots);
    if (!t->slots) return WSK_ENOMEM;
    t->nslots = 16;
  }
  struct hnode **s = slot_of(t, x->h);
  x->next = *s;
  *s = x;
  t->n++;
  if (t->n > t->nslots && t->nslots < SIZE_MAX / 4 / sizeof *s) tab_rehash(t, t->nslots * 2);
  return 0;
}

static void tab_del(struct htab *t, struct hnode *x) {
  for (struct hnode **pp = slot_of(t, x->h); *pp; pp = &(*pp)->next)
    if (*pp == x) {
      *pp = x->next;
      t->n--;
      break;
    }
  if (t->nslots > 16 && t->n < t->nslots / 8) tab_rehash(t, t->nslots / 2);
}

static uint64_t hash_name(const wsk_hub_t *h, const char *s, size_t n) {
  return wsk_hash_bytes(h->key, s, n);
}

static uint64_t hash_ptr(const wsk_hub_t *h, const void *p) {
  return wsk_hash_mix64((uint64_t)(uintptr_t)p ^ h->key[0]);
}

/* also refuses control characters (json_internal.h) */
static int name_ok(const char *s, size_t n) { return wsk_chan_name_ok(s, n); }

static struct chan *find_chan(const wsk_hub_t *h, const char *s, size_t n) {
  if (!name_ok(s, n) || !h->chans.slots) return NULL;
  uint64_t hv = hash_name(h, s, n);
  for (struct hnode *x = *slot_of(&h->chans, hv); x; x = x->next) {
    struct chan *c = (struct chan *)x;
    if (x->h == hv && c->len == n && memcmp(c->name, s, n) == 0) return c;
  }
  return NULL;
}

static struct subrec *find_sub(const wsk_hub_t *h, const void *sub) {
  if (!sub || !h->subs.slots) return NULL;
  uint64_t hv = hash_ptr(h, sub);
  for (struct hnode *x = *slot_of(&h->subs, hv); x; x = x->next)
    if (x->h == hv && ((struct subrec *)x)->sub == sub) return (struct subrec *)x;
  return NULL;
}

static struct edge *find_edge(const struct subrec *sr, const struct chan *ch) {
  if (!sr) return NULL;
  for (size_t i = 0; i < sr->n; i++)
    if (sr->eds[i]->ch == ch) return sr->eds[i];
  return NULL;
}

static int vec_reserve(struct edge ***v, size_t *cap, size_t n) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 4;
  if (nc > SIZE_MAX / sizeof **v) return WSK_ENOMEM;
  struct edge **nv = realloc(*v, nc * sizeof *nv);
  if (!nv) return WSK_ENOMEM;
  *v = nv;
  *cap = nc;
  return 0;
}

/* ---- LRU of channels without subscribers (local mode) ---- */

static void lru_unlink(wsk_hub_t *h, struct chan *c) {
  if (!c->in_lru) return;
  if (c->lru_prev) c->lru_prev->lru_next = c->lru_next;
  else h->lru_head = c->lru_next;
  if (c->lru_next) c->lru_next->lru_prev = c->lru_prev;
  else h->lru_tail = c->lru_prev;
  c->lru_prev = c->lru_next = NULL;
  c->in_lru = 0;
}

static void lru_push(wsk_hub_t *h, struct chan *c) {
  lru_unlink(h, c);
  c->lru_next = h->lru_head;
  if (h->lru_head) h->lru_head->lru_prev = c;
  h->lru_head = c;
  if (!h->lru_tail) h->lru_tail = c;
  c->in_lru = 1;
}

static void chan_free(wsk_hub_t *h, struct chan *c) {
  lru_unlink(h, c);
  tab_del(&h->chans, &c->node);
  h->nchans--;
  wsk__hist_free(c);
  free(c->subs);
  free(c);
}

/* A channel lost its last subscriber: external mode keeps nothing; local
 * mode keeps its history, most recently used first. */
static void chan_idle(wsk_hub_t *h, struct chan *c) {
  if (h->o.external) chan_free(h, c);
  else lru_push(h, c);
}

static int new_epoch(wsk_hub_t *h, struct chan *c) {
  static const char hex[] = "0123456789abcdef";
  uint8_t r[8];
  wsk_random_fn rnd = h->o.random ? h->o.random : wsk_random_default;
  int e = rnd(h->o.random_ud, r, sizeof r);
  if (e < 0) return e;
  for (int i = 0; i < 8; i++) {
    c->epoch[2 * i] = hex[r[i] >> 4];
    c->epoch[2 * i + 1] = hex[r[i] & 15];
  }
  c->elen = 16;
  return 0;
}

static struct chan *get_chan(wsk_hub_t *h, const char *s, size_t n, int *err) {
  struct chan *c = find_chan(h, s, n);
  if (c) return c;
  if (!h->o.external && h->o.max_channels && h->nchans >= h->o.max_channels && h->lru_tail)
    chan_free(h, h->lru_tail); /* forget the least recently used idle channel */
  c = calloc(1, sizeof *c + n + 1);
  if (!c) {
    *err = WSK_ENOMEM;
    return NULL;
  }
  c->len = n;
  memcpy(c->name, s, n);
  c->node.h = hash_name(h, s, n);
  if (!h->o.external && (*err = new_epoch(h, c)) < 0) {
    free(c);
    return NULL;
  }
  if (tab_add(&h->chans, &c->node) < 0) {
    free(c);
    *err = WSK_ENOMEM;
    return NULL;
  }
  h->nchans++;
  return c;
}

/* ---- lifecycle ---- */

void wsk_hub_opts_init(wsk_hub_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->history_size = 100;
  o->history_ttl_ms = 300000;
  o->history_bytes = 1 << 20;
  o->max_channels = 10000;
  o->max_subscriptions = 100;
  o->max_held = 1024;
}

wsk_hub_t *wsk_hub_new(const wsk_hub_opts_t *o, int *err) {
  int dummy;
  if (!err) err = &dummy;
  wsk_hub_t *h = calloc(1, sizeof *h);
  if (!h) {
    *err = WSK_ENOMEM;
    return NULL;
  }
  if (o) h->o = *o;
  else wsk_hub_opts_init(&h->o);
  wsk_hash_key_init(h->key, h);
  *err = 0;
  return h;
}

static void edge_free(struct edge *e) {
  wsk__held_free(e);
  free(e->id);
  free(e);
}

void wsk_hub_free(wsk_hub_t *h) {
  if (!h) return;
  for (size_t i = 0; i < h->subs.nslots; i++) {
    struct hnode *x = h->subs.slots[i];
    while (x) {
      struct hnode *nx = x->next;
      struct subrec *sr = (struct subrec *)x;
      for (size_t k = 0; k < sr->n; k++) edge_free(sr->eds[k]);
      free(sr->eds);
      free(sr);
      x = nx;
    }
  }
  for (size_t i = 0; i < h->chans.nslots; i++) {
    struct hnode *x = h->chans.slots[i];
    while (x) {
      struct hnode *nx = x->next;
      struct chan *c = (struct chan *)x;
      wsk__hist_free(c);
      free(c->subs);
      free(c);
      x = nx;
    }
  }
  free(h->subs.slots);
  free(h->chans.slots);
  wsk_buf_free(&h->json);
  wsk_buf_free(&h->tmp);
  free(h);
}

/* ---- outputs ---- */

static int same(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void set_pos(struct edge *e, const char *ep, size_t elen, uint64_t seq) {
  if (elen > HUB_EPOCH_MAX) elen = HUB_EPOCH_MAX;
  if (ep != e->epoch && elen) memmove(e->epoch, ep, elen);
  e->elen = elen;
  e->last = seq;
  e->has_pos = 1;
}

static void emit_gap(wsk_hub_t *h, struct edge *e, const char *ep, size_t elen, uint64_t from,
                     uint64_t to, const char *reason, wsk_hub_out_fn fn, void *ud) {
  struct chan *c = e->ch;
  h->tmp.off = h->tmp.len = 0;
  if (wsk_chan_build_gap(&h->tmp, c->name, c->len, ep, elen, from, to, reason) < 0) return;
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = WSK_HUB_GAP;
  o.channel = c->name;
  o.channel_len = c->len;
  o.epoch = ep;
  o.epoch_len = elen;
  o.from = from;
  o.to = to;
  o.reason = reason;
  o.json = (const char *)h->tmp.data;
  o.json_len = h->tmp.len;
  fn(ud, e->sr->sub, &o);
}

static void emit_subscribed(wsk_hub_t *h, struct edge *e, const char *ep, size_t elen, uint64_t top,
                            int recovered, wsk_hub_out_fn fn, void *ud) {
  struct chan *c = e->ch;
  h->tmp.off = h->tmp.len = 0;
  if (wsk_chan_build_subscribed(&h->tmp, c->name, c->len, ep, elen, top, recovered, e->id,
                                e->id_len) < 0)
    return;
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = WSK_HUB_SUBSCRIBED;
  o.channel = c->name;
  o.channel_len = c->len;
  o.epoch = ep;
  o.epoch_len = elen;
  o.seq = top;
  o.recovered = recovered;
  o.json = (const char *)h->tmp.data;
  o.json_len = h->tmp.len;
  fn(ud, e->sr->sub, &o);
  e->initial = 0;
  free(e->id);
  e->id = NULL;
  e->id_len = 0;
}

/* Hand one numbered message to a subscriber in order: a new epoch is
 * announced by a GAP "epoch" for the seqs of it not seen, a seq already
 * seen is dropped, a jump is reported as a GAP "expired". `json` is the
 * message's JSON, NULL to build it into tmp. Returns 1 when delivered. */
static int deliver(wsk_hub_t *h, struct edge *e, const wsk_chan_msg_t *m, const wsk_buf_t *json,
                   wsk_hub_out_fn fn, void *ud) {
  if (!e->has_pos || !same(e->epoch, e->elen, m->epoch, m->epoch_len)) {
    if (e->has_pos) emit_gap(h, e, m->epoch, m->epoch_len, 1, m->seq - 1, "epoch", fn, ud);
    set_pos(e, m->epoch, m->epoch_len, m->seq - 1);
  } else if (m->seq <= e->last) {
    return 0; /* already seen */
  } else if (m->seq > e->last + 1) {
    emit_gap(h, e, m->epoch, m->epoch_len, e->last + 1, m->seq - 1, "expired", fn, ud);
  }
  e->last = m->seq;
  if (!json) {
    h->tmp.off = h->tmp.len = 0;
    if (wsk_chan_build_message(&h->tmp, m) < 0) return 0;
    json = &h->tmp;
  }
  wsk_hub_out_t o;
  memset(&o, 0, sizeof o);
  o.kind = WSK_HUB_MESSAGE;
  o.channel = m->channel;
  o.channel_len = m->channel_len;
  o.epoch = m->epoch;
  o.epoch_len = m->epoch_len;
  o.msg = m;
  o.seq = m->seq;
  o.json = (const char *)json->data + json->off;
  o.json_len = wsk_buf_pending(json);
  fn(ud, e->sr->sub, &o);
  return 1;
}

/* ---- subscribe ---- */

static void edge_unlink(wsk_hub_t *h, struct edge *e) {
  struct chan *c = e->ch;
  struct subrec *sr = e->sr;
  struct edge *last = c->subs[--c->nsubs];
  if (last != e) {
    c->subs[e->ci] = last;
    last->ci = e->ci;
  }
  last = sr->eds[--sr->n];
  if (last != e) {
    sr->eds[e->si] = last;
    last->si = e->si;
  }
  edge_free(e);
  if (c->nsubs == 0) chan_idle(h, c);
  if (sr->n == 0) {
    tab_del(&h->subs, &sr->node);
    free(sr->eds);
    free(sr);
  }
}

/* The edge for (sub, channel), made when missing. */
static struct edge *get_edge(wsk_hub_t *h, void *sub, struct chan *c, int *err) {
  struct subrec *sr = find_sub(h, sub);
  struct edge *e = find_edge(sr, c);
  if (e) return e;
  if (sr && h->o.max_subscriptions && sr->n >= h->o.max_subscriptions) {
    *err = WSK_E2BIG;
    return NULL;
  }
  struct subrec *nsr = NULL;
  if (!sr) {
    nsr = calloc(1, sizeof *nsr);
    if (!nsr) goto oom;
    nsr->sub = sub;
    nsr->node.h = hash_ptr(h, sub);
    sr = nsr;
  }
  e = calloc(1, sizeof *e);
  if (!e || vec_reserve(&c->subs, &c->cap, c->nsubs) < 0 || vec_reserve(&sr->eds, &sr->cap, sr->n) < 0)
    goto oom;
  if (nsr && tab_add(&h->subs, &nsr->node) < 0) goto oom;
  e->ch = c;
  e->sr = sr;
  e->ci = c->nsubs;
  c->subs[c->nsubs++] = e;
  e->si = sr->n;
  sr->eds[sr->n++] = e;
  lru_unlink(h, c);
  return e;
oom:
  free(e);
  if (nsr) {
    free(nsr->eds);
    free(nsr);
  }
  *err = WSK_ENOMEM;
  return NULL;
}

/* The resume rules, for a subscriber at `since` in `ep` (has_since 0: no
 * position) against a history of epoch `hep` whose newest seq is `top`;
 * `first` is the oldest seq still available (top + 1 when none). Emits the
 * GAP if any and sets the position to where replay starts. Returns 1 when
 * the since is fully honoured, and sets *replay when entries after the
 * position should follow. */
static int resume(wsk_hub_t *h, struct edge *e, int has_since, uint64_t since, const char *ep,
                  size_t elen, const char *hep, size_t hlen, uint64_t top, uint64_t first,
                  int *replay, wsk_hub_out_fn fn, void *ud) {
  *replay = 0;
  if (!has_since) {
    set_pos(e, hep, hlen, top);
    return 0;
  }
  /* An empty epoch with since means "this channel's current epoch". */
  int same_ep = elen == 0 || same(ep, elen, hep, hlen);
  if (!same_ep || since > top) {
    emit_gap(h, e, hep, hlen, 1, top, "epoch", fn, ud);
    set_pos(e, hep, hlen, top);
    return 0;
  }
  set_pos(e, hep, hlen, since);
  if (since == top) return 1;
  *replay = 1;
  if (first > since + 1) {
    uint64_t to = first - 1 < top ? first - 1 : top;
    emit_gap(h, e, hep, hlen, since + 1, to, "expired", fn, ud);
    e->last = to;
    return 0;
  }
  return 1;
}

static int check_sub(const wsk_hub_subscribe_t *s) {
  if (!s || !name_ok(s->channel, s->channel_len)) return WSK_EINVAL;
  if (s->epoch_len > HUB_EPOCH_MAX || (s->epoch_len && !s->epoch)) return WSK_EINVAL;
  if (s->id_len && !s->id) return WSK_EINVAL;
  return 0;
}

static void local_subscribe(wsk_hub_t *h, struct edge *e, const wsk_hub_subscribe_t *s, int64_t now,
                            wsk_hub_out_fn fn, void *ud) {
  struct chan *c = e->ch;
  wsk__hist_prune(h, c, now);
  uint64_t first = c->hn ? wsk__hist_at(c, 0)->seq : c->top + 1;
  /* SUBSCRIBED first: its "recovered" needs the rule's verdict, which
   * resume() computes while it may emit a GAP, so decide it up front. */
  int same_ep = s->epoch_len == 0 || same(s->epoch, s->epoch_len, c->epoch, c->elen);
  int ok = !s->has_since ? 0 : !same_ep || s->since > c->top ? 0 : s->since == c->top ? 1
                                                                   : first <= s->since + 1;
  emit_subscribed(h, e, c->epoch, c->elen, c->top, ok, fn, ud);
  int replay;
  resume(h, e, s->has_since, s->since, s->epoch, s->epoch_len, c->epoch, c->elen, c->top, first,
         &replay, fn, ud);
  if (!replay) return;
  for (size_t i = 0; i < c->hn; i++) {
    const struct hent *x = wsk__hist_at(c, i);
    if (x->seq <= e->last) continue;
    wsk_chan_msg_t m = { c->name, c->len, x->seq, c->epoch, c->elen, x->kind, x->p, x->len };
    deliver(h, e, &m, NULL, fn, ud);
  }
}

int wsk_hub_subscribe(wsk_hub_t *h, void *sub, const wsk_hub_subscribe_t *s, int64_t now,
                      int64_t *fetch_since, wsk_hub_out_fn fn, void *ud) {
  int r = check_sub(s);
  if (r < 0 || !sub || !fn) return WSK_EINVAL;
  /* The id is echoed as raw JSON: a number or a string, as the protocol has it. */
  if (s->id_len && (!wsk_json_valid(s->id, s->id_len) ||
                    !(s->id[0] == '"' || s->id[0] == '-' || (s->id[0] >= '0' && s->id[0] <= '9'))))
    return WSK_EINVAL;
  r = 0;
  struct chan *c = get_chan(h, s->channel, s->channel_len, &r);
  if (!c) return r;
  struct edge *e = get_edge(h, sub, c, &r);
  if (!e) {
    if (c->nsubs == 0) chan_idle(h, c);
    return r;
  }
  /* A re-subscribe starts over. */
  wsk__held_free(e);
  free(e->id);
  e->id = NULL;
  e->id_len = 0;
  e->has_pos = 0;
  e->recovering = 0;
  e->resyncing = 0;
  if (s->id_len) {
    e->id = malloc(s->id_len);
    if (!e->id) {
      edge_unlink(h, e);
      return WSK_ENOMEM;
    }
    memcpy(e->id, s->id, s->id_len);
    e->id_len = s->id_len;
  }
  e->initial = 1;
  if (!h->o.external) {
    local_subscribe(h, e, s, now, fn, ud);
    return 0;
  }
  e->recovering = 1;
  e->req_since = s->has_since ? 1 : 0;
  e->since = s->since;
  e->req_elen = s->epoch_len;
  if (s->epoch_len) memcpy(e->req_epoch, s->epoch, s->epoch_len);
  if (fetch_since) *fetch_since = s->has_since && s->since <= INT64_MAX ? (int64_t)s->since : -1;
  return WSK_EAGAIN;
}

/* ---- external mode: recovery ---- */

static void finish(wsk_hub_t *h, struct edge *e, const wsk_hub_history_t *hist, wsk_hub_out_fn fn,
                   void *ud) {
  struct chan *c = e->ch;
  const char *hep = hist->epoch;
  size_t hlen = hist->epoch_len;
  uint64_t top = hist->top;
  /* The newest seq the history knows (entries may run past top). */
  for (size_t i = 0; i < hist->nmsgs; i++)
    if (same(hist->msgs[i].epoch ? hist->msgs[i].epoch : hep,
             hist->msgs[i].epoch ? hist->msgs[i].epoch_len : hlen, hep, hlen) &&
        hist->msgs[i].seq > top)
      top = hist->msgs[i].seq;
  int has_since, initial = e->initial;
  uint64_t since;
  const char *ep;
  size_t elen;
  if (initial) {
    has_since = e->req_since;
    since = e->since;
    ep = e->req_epoch;
    elen = e->req_elen;
  } else { /* a resync: from where it is */
    has_since = e->has_pos;
    since = e->last;
    ep = e->epoch;
    elen = e->elen;
  }
  /* The oldest entry after the position decides whether part is gone. */
  uint64_t first = top + 1;
  for (size_t i = 0; i < hist->nmsgs; i++)
    if (hist->msgs[i].seq > (has_since ? since : top)) {
      first = hist->msgs[i].seq;
      break;
    }
  if (first > top + 1) first = top + 1;
  int same_ep = elen == 0 || same(ep, elen, hep, hlen);
  int ok = !has_since ? 0 : !same_ep || since > top ? 0 : since == top ? 1 : first <= since + 1;
  if (initial) emit_subscribed(h, e, hep, hlen, top, ok, fn, ud);
  /* A resync of a subscriber in another epoch is an epoch gap, as for a
   * subscribe; one without a position starts at top. */
  int replay;
  resume(h, e, has_since, since, ep, elen, hep, hlen, top, first, &replay, fn, ud);
  if (replay) {
    for (size_t i = 0; i < hist->nmsgs; i++) {
      wsk_chan_msg_t m = hist->msgs[i];
      if (m.seq <= e->last) continue;
      m.channel = c->name;
      m.channel_len = c->len;
      if (!m.epoch || !m.epoch_len) {
        m.epoch = hep;
        m.epoch_len = hlen;
      }
      if (!same(m.epoch, m.epoch_len, hep, hlen)) continue;
      deliver(h, e, &m, NULL, fn, ud);
    }
    if (e->last < top) { /* the history stopped short of its own top */
      emit_gap(h, e, hep, hlen, e->last + 1, top, "expired", fn, ud);
      e->last = top;
    }
  }
  /* Held live messages dropped over max_held, then the ones kept. */
  if (e->dropped && same(e->depoch, e->delen, e->epoch, e->elen) && e->dropped_max > e->last) {
    emit_gap(h, e, e->epoch, e->elen, e->last + 1, e->dropped_max, "overflow", fn, ud);
    e->last = e->dropped_max;
  }
  struct held *x = e->hh;
  e->hh = e->ht = NULL;
  e->nheld = 0;
  e->dropped = 0;
  e->recovering = 0;
  e->resyncing = 0;
  while (x) {
    struct held *nx = x->next;
    wsk_chan_msg_t m = { c->name, c->len, x->seq, x->epoch, x->elen, x->kind, x->p, x->len };
    deliver(h, e, &m, NULL, fn, ud);
    free(x);
    x = nx;
  }
}

int wsk_hub_recovered(wsk_hub_t *h, void *sub, const char *channel, size_t len,
                      const wsk_hub_history_t *hist, int64_t now, wsk_hub_out_fn fn, void *ud) {
  (void)now;
  if (!hist || !fn || hist->epoch_len > HUB_EPOCH_MAX || (hist->epoch_len && !hist->epoch) ||
      (hist->nmsgs && !hist->msgs))
    return WSK_EINVAL;
  struct chan *c = find_chan(h, channel, len);
  if (!c) return WSK_ENOTFOUND;
  if (sub) {
    struct edge *e = find_edge(find_sub(h, sub), c);
    if (!e || !e->recovering) return WSK_ENOTFOUND;
    finish(h, e, hist, fn, ud);
    return 0;
  }
  /* Only those the resync marked: a subscribe that came after the fetch
   * was taken is not covered by it and waits for its own. */
  size_t done = 0;
  for (size_t i = 0; i < c->nsubs; i++)
    if (c->subs[i]->recovering && c->subs[i]->resyncing) {
      finish(h, c->subs[i], hist, fn, ud);
      done++;
    }
  return done ? 0 : WSK_ENOTFOUND;
}

size_t wsk_hub_resync(wsk_hub_t *h, const char *channel, size_t len, int64_t *fetch_since) {
  struct chan *c = h->o.external ? find_chan(h, channel, len) : NULL; /* local: nothing to fetch */
  int64_t low = -1;
  if (c) {
    for (size_t i = 0; i < c->nsubs; i++) {
      struct edge *e = c->subs[i];
      /* What was held so far came before the fetch about to be taken:
       * that fetch covers it (or it is of an epoch that is gone). */
      wsk__held_free(e);
      e->recovering = 1;
      e->resyncing = 1;
      int has = e->initial ? e->req_since : e->has_pos;
      uint64_t at = e->initial ? e->since : e->last;
      if (has && at <= INT64_MAX && (low < 0 || (int64_t)at < low)) low = (int64_t)at;
    }
  }
  if (fetch_since) *fetch_since = low;
  return c ? c->nsubs : 0;
}

/* ---- leaving ---- */

int wsk_hub_unsubscribe(wsk_hub_t *h, void *sub, const char *channel, size_t len) {
  struct chan *c = find_chan(h, channel, len);
  if (!c || !sub) return 0;
  struct edge *e = find_edge(find_sub(h, sub), c);
  if (!e) return 0;
  edge_unlink(h, e);
  return 1;
}

size_t wsk_hub_drop(wsk_hub_t *h, void *sub) {
  struct subrec *sr = find_sub(h, sub);
  if (!sr) return 0;
  size_t n = sr->n;
  /* From the back: no swaps; the last unlink frees sr. */
  for (size_t k = n; k > 0; k--) edge_unlink(h, sr->eds[k - 1]);
  return n;
}

/* ---- messages ---- */

static int msg_ok(const wsk_chan_msg_t *m) {
  if (!m || !name_ok(m->channel, m->channel_len)) return 0;
  if (m->payload_len && !m->payload) return 0;
  return m->kind == WSK_PAYLOAD_TEXT || m->kind == WSK_PAYLOAD_BINARY || m->kind == WSK_PAYLOAD_JSON;
}

int64_t wsk_hub_publish(wsk_hub_t *h, const wsk_chan_msg_t *m, int64_t now, wsk_hub_out_fn fn,
                        void *ud) {
  if (h->o.external) return WSK_ESTATE;
  if (!msg_ok(m) || !fn) return WSK_EINVAL;
  int r = 0;
  struct chan *c = get_chan(h, m->channel, m->channel_len, &r);
  if (!c) return r;
  wsk_chan_msg_t n = *m;
  n.channel = c->name;
  n.seq = c->top + 1;
  n.epoch = c->epoch;
  n.epoch_len = c->elen;
  /* Built (and so checked) before anything changes. */
  h->json.off = h->json.len = 0;
  r = wsk_chan_build_message(&h->json, &n);
  if (r < 0) {
    if (c->nsubs == 0 && !c->in_lru) chan_idle(h, c);
    return r;
  }
  c->top = n.seq;
  if (wsk__hist_push(h, c, &n, now) < 0) wsk__hist_free(c); /* no holes: a gap instead */
  if (c->nsubs == 0) {
    lru_push(h, c);
    return (int64_t)n.seq;
  }
  for (size_t i = 0; i < c->nsubs; i++) deliver(h, c->subs[i], &n, &h->json, fn, ud);
  return (int64_t)n.seq;
}

size_t wsk_hub_dispatch(wsk_hub_t *h, const wsk_chan_msg_t *m, int64_t now, wsk_hub_out_fn fn,
                        void *ud) {
  (void)now;
  if (!msg_ok(m) || !fn || m->seq == 0 || !m->epoch || m->epoch_len == 0 ||
      m->epoch_len > HUB_EPOCH_MAX)
    return 0;
  struct chan *c = find_chan(h, m->channel, m->channel_len);
  if (!c || c->nsubs == 0) return 0;
  int built = 0;
  size_t got = 0;
  for (size_t i = 0; i < c->nsubs; i++) {
    struct edge *e = c->subs[i];
    if (e->recovering) {
      (void)wsk__held_push(h, e, m); /* out of memory: the jump shows as a gap later */
      continue;
    }
    if (!built) {
      h->json.off = h->json.len = 0;
      if (wsk_chan_build_message(&h->json, m) < 0) return got;
      built = 1;
    }
    got += (size_t)deliver(h, e, m, &h->json, fn, ud);
  }
  return got;
}

/* ---- queries ---- */

size_t wsk_hub_count(const wsk_hub_t *h, const char *channel, size_t len) {
  const struct chan *c = find_chan(h, channel, len);
  return c ? c->nsubs : 0;
}

int wsk_hub_is_member(const wsk_hub_t *h, void *sub, const char *channel, size_t len) {
  const struct chan *c = find_chan(h, channel, len);
  return c && find_edge(find_sub(h, sub), c) ? 1 : 0;
}

size_t wsk_hub_members(const wsk_hub_t *h, const char *channel, size_t len, void **out, size_t max) {
  const struct chan *c = find_chan(h, channel, len);
  if (!c) return 0;
  for (size_t i = 0; i < c->nsubs && i < max; i++) out[i] = c->subs[i]->sr->sub;
  return c->nsubs;
}

size_t wsk_hub_channels(const wsk_hub_t *h, void (*fn)(void *ud, const char *name, size_t len),
                        void *ud) {
  size_t n = 0;
  for (size_t i = 0; i < h->chans.nslots; i++)
    for (struct hnode *x = h->chans.slots[i]; x; x = x->next) {
      const struct chan *c = (const struct chan *)x;
      if (!c->nsubs) continue;
      if (fn) fn(ud, c->name, c->len);
      n++;
    }
  return n;
}

int wsk_hub_position(const wsk_hub_t *h, const char *channel, size_t len, uint64_t *top,
                     const char **epoch, size_t *epoch_len) {
  const struct chan *c = find_chan(h, channel, len);
  if (!c || h->o.external) return 0;
  if (top) *top = c->top;
  if (epoch) *epoch = c->epoch;
  if (epoch_len) *epoch_len = c->elen;
  return 1;
}
