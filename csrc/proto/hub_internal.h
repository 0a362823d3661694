/* Private state of wsk_hub, shared by hub.c (registry, resume rules,
 * outputs) and hub_history.c (per channel history ring, held messages). */
#ifndef WSK_HUB_INTERNAL_H
#define WSK_HUB_INTERNAL_H

#include "wskit/hub.h"
#include "wskit/channels.h"
#include "json_internal.h" /* wsk_chan_name_ok */

#define HUB_EPOCH_MAX WSK_CHAN_MAX_EPOCH

/* Chained hash tables: both record kinds start with this node. */
struct hnode {
  struct hnode *next;
  uint64_t h;
};

struct htab {
  struct hnode **slots;
  size_t nslots; /* power of two, 0 while empty */
  size_t n;
};

/* One history entry (local mode). */
struct hent {
  uint64_t seq;
  int64_t t;
  wsk_payload_kind_t kind;
  size_t len;
  uint8_t *p;
};

/* A live message held for a recovering subscriber (a copy). */
struct held {
  struct held *next;
  uint64_t seq;
  wsk_payload_kind_t kind;
  size_t elen, len;
  char epoch[HUB_EPOCH_MAX];
  uint8_t p[];
};

struct chan;
struct subrec;

/* One subscription: a subscriber's place in a channel. */
struct edge {
  struct chan *ch;
  struct subrec *sr;
  size_t ci, si;            /* index in ch->subs, in sr->eds */
  unsigned recovering : 1;  /* live messages are held */
  unsigned initial : 1;     /* its SUBSCRIBED is still owed */
  unsigned has_pos : 1;
  unsigned req_since : 1;   /* the subscribe asked for "since" */
  unsigned resyncing : 1;   /* marked by wsk_hub_resync: its fetch covers it */
  uint64_t last;            /* position: last seq delivered, in `epoch` */
  size_t elen;
  char epoch[HUB_EPOCH_MAX];
  uint64_t since;           /* the subscribe's since / epoch */
  size_t req_elen;
  char req_epoch[HUB_EPOCH_MAX];
  char *id;                 /* raw JSON id for SUBSCRIBED, NULL = none */
  size_t id_len;
  struct held *hh, *ht;     /* held messages, oldest first */
  size_t nheld;
  int dropped;              /* held messages were dropped (max_held) */
  uint64_t dropped_max;
  size_t delen;
  char depoch[HUB_EPOCH_MAX];
};

struct chan {
  struct hnode node;
  struct chan *lru_prev, *lru_next; /* local mode, no subscribers: LRU order */
  int in_lru;
  struct edge **subs;
  size_t nsubs, cap;
  /* local mode state */
  size_t elen;
  char epoch[HUB_EPOCH_MAX];
  uint64_t top;
  struct hent *hist;        /* ring */
  size_t hcap, hhead, hn;
  size_t hbytes;
  size_t len;
  char name[];
};

struct subrec {
  struct hnode node;
  void *sub;
  struct edge **eds;
  size_t n, cap;
};

struct wsk_hub {
  wsk_hub_opts_t o;
  uint64_t key[2];
  struct htab chans, subs;
  size_t nchans;
  struct chan *lru_head, *lru_tail; /* head = most recently used */
  wsk_buf_t json;                   /* the message being dispatched */
  wsk_buf_t tmp;                    /* SUBSCRIBED / GAP / replayed messages */
};

/* hub_history.c */
int wsk__hist_push(const wsk_hub_t *h, struct chan *ch, const wsk_chan_msg_t *m, int64_t now);
void wsk__hist_prune(const wsk_hub_t *h, struct chan *ch, int64_t now);
void wsk__hist_free(struct chan *ch);
/* The i-th kept entry, oldest first. */
const struct hent *wsk__hist_at(const struct chan *ch, size_t i);
int wsk__held_push(const wsk_hub_t *h, struct edge *e, const wsk_chan_msg_t *m);
void wsk__held_free(struct edge *e);

#endif
