/* The channel hub: who is subscribed to what, where each subscriber is in
 * each channel (epoch, last seq), the in-memory history when no backplane
 * is configured, and the resume rules: on subscribe with "since" a
 * subscriber gets what it missed, in order, exactly once, or an explicit
 * gap. Drivers call it; it calls back with what to send to whom.
 *
 * Two modes. Local (no backplane): wsk_hub_publish() numbers the message,
 * keeps it in the channel's history (bounded by count, age and bytes) and
 * dispatches it. External (Redis): the backplane numbers messages and keeps
 * history (backplane.h); the driver feeds every message that comes back from
 * it to wsk_hub_dispatch(), and answers a subscribe by fetching the history
 * and calling wsk_hub_recovered(). Live messages that arrive while a
 * subscriber is recovering are held and delivered after the history.
 *
 * Subscribers are opaque non-NULL pointers the driver owns (a WebSocket
 * connection, an SSE stream); the driver decides how to send to each (JSON
 * protocol, raw frames, SSE events) from the output it is handed.
 *
 * Resume rules. A subscriber's position is (epoch, last seq delivered).
 * A subscribe with "since" S in epoch E against a channel whose epoch is
 * E' with newest seq T and oldest kept seq F (T + 1 when none is kept):
 *   - no since: position (E', T), nothing replayed, recovered = 0;
 *   - E == E' (an empty E counts as E') and S == T: nothing missed,
 *     recovered = 1;
 *   - E == E' and S < T and F <= S + 1: S+1..T replayed, recovered = 1;
 *   - E == E' and S < T and F > S + 1: GAP "expired" from S+1 to F-1
 *     (to T when nothing is kept), then F..T replayed, recovered = 0;
 *   - E != E', or S > T (a since this epoch never reached): GAP "epoch"
 *     from 1 to T in the new epoch E' (from 1 to 0, an empty range, when
 *     T is 0: only the old epoch's tail may be lost), nothing replayed,
 *     position (E', T), recovered = 0.
 * Outputs come in this order: SUBSCRIBED, the GAP if any, the replay.
 * Live messages after that: a seq already delivered in the position's
 * epoch is dropped (never delivered twice); a seq beyond last + 1 is
 * preceded by a GAP "expired" for the ones in between; a message of
 * another epoch is preceded by a GAP "epoch" from 1 to its seq - 1. While
 * recovering (external mode) live messages are held, at most max_held;
 * when older held ones had to be dropped and the history did not cover
 * them, a GAP "overflow" names them before the held ones are delivered. */
#ifndef WSKIT_HUB_H
#define WSKIT_HUB_H

#include "chanproto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_hub wsk_hub_t;

typedef struct wsk_hub_opts {
  size_t history_size;         /* messages kept per channel, default 100; 0 = none */
  uint32_t history_ttl_ms;     /* their age limit, default 300000; 0 = none (an
                                  entry older than this many ms is dropped) */
  size_t history_bytes;        /* payload bytes kept per channel, default 1 MiB;
                                  0 = no byte bound */
  size_t max_channels;         /* channels with state kept (local mode), default
                                  10000; past it the least recently used one
                                  without subscribers is forgotten (its next
                                  use starts a new epoch); 0 = no limit */
  size_t max_subscriptions;    /* channels per subscriber, default 100; 0 = no limit */
  size_t max_held;             /* live messages held per recovering subscriber,
                                  default 1024; beyond it the oldest held is
                                  dropped and reported as a gap; 0 = no limit */
  int external;                /* 1: a backplane numbers and keeps history */
  wsk_random_fn random;        /* epochs (local mode); NULL = RAND_bytes */
  void *random_ud;
} wsk_hub_opts_t;

void wsk_hub_opts_init(wsk_hub_opts_t *o);
/* NULL when out of memory (or opts invalid), *err says which. */
wsk_hub_t *wsk_hub_new(const wsk_hub_opts_t *o, int *err);
void wsk_hub_free(wsk_hub_t *h);

typedef enum {
  WSK_HUB_MESSAGE = 1, /* a channel message for this subscriber */
  WSK_HUB_SUBSCRIBED,  /* the subscribe answer (sent before any history) */
  WSK_HUB_GAP          /* messages it cannot have: from..to, reason */
} wsk_hub_out_kind_t;

typedef struct wsk_hub_out {
  wsk_hub_out_kind_t kind;
  const char *channel; size_t channel_len;
  const char *epoch; size_t epoch_len;
  const wsk_chan_msg_t *msg;   /* MESSAGE */
  uint64_t seq;                /* MESSAGE: its seq; SUBSCRIBED: the newest seq */
  int recovered;               /* SUBSCRIBED: the "since" asked for was honoured */
  uint64_t from, to;           /* GAP */
  const char *reason;          /* GAP: "expired" (older than the history, or
                                  lost on the way to a live subscriber),
                                  "epoch" (history reset), "overflow" (too
                                  many held while recovering) */
  const char *json; size_t json_len; /* the JSON protocol message to send; for a
                                        MESSAGE dispatched to many it is built
                                        once and the same bytes are handed to all */
} wsk_hub_out_t;

/* Called synchronously for each output; `o` and what it points to are
 * valid only during the call. It must not call back into the hub. */
typedef void (*wsk_hub_out_fn)(void *ud, void *sub, const wsk_hub_out_t *o);

typedef struct wsk_hub_subscribe {
  const char *channel; size_t channel_len;
  int has_since; uint64_t since;         /* the last seq the subscriber saw */
  const char *epoch; size_t epoch_len;   /* ...in this epoch (may be empty) */
  const char *id; size_t id_len;         /* raw JSON id echoed in SUBSCRIBED */
} wsk_hub_subscribe_t;

/* Subscribe (or re-subscribe: the position is reset). Local mode: the
 * SUBSCRIBED output, then a GAP if part is gone, then the missed messages
 * are emitted now; returns 0. External mode: the subscriber is registered
 * as recovering and WSK_EAGAIN is returned: fetch the history after
 * *fetch_since (the backplane's recover script; a value of -1 there means
 * "position only") and call wsk_hub_recovered(). WSK_E2BIG over
 * max_subscriptions, WSK_EINVAL for a bad channel (empty, over 1024
 * bytes, a control character: as wsk_chan_parse) or epoch, WSK_ENOMEM. */
int wsk_hub_subscribe(wsk_hub_t *h, void *sub, const wsk_hub_subscribe_t *s, int64_t now,
                      int64_t *fetch_since, wsk_hub_out_fn fn, void *ud);

/* The backplane's history of a channel (from its recover script). */
typedef struct wsk_hub_history {
  const char *epoch; size_t epoch_len;
  uint64_t top;                 /* newest seq of the epoch, 0 = none yet */
  const wsk_chan_msg_t *msgs;   /* entries after the asked "since", in seq order */
  size_t nmsgs;
} wsk_hub_history_t;

/* Finish a recovering subscribe: SUBSCRIBED, a GAP if needed, the history
 * after the subscriber's position, then the live messages held meanwhile
 * (each exactly once); the subscriber is then live. `sub` NULL finishes
 * every subscriber of the channel that the last wsk_hub_resync marked
 * (a subscribe made after it waits for its own fetch). WSK_ENOTFOUND when
 * nobody is recovering there (e.g. it unsubscribed meanwhile); that is not
 * a failure. A driver calls it once per fetch, with that fetch's answer. */
int wsk_hub_recovered(wsk_hub_t *h, void *sub, const char *channel, size_t len,
                      const wsk_hub_history_t *hist, int64_t now, wsk_hub_out_fn fn, void *ud);

/* The backplane came back after missing messages: mark every subscriber of
 * the channel recovering (live messages are held), and give the seq to
 * fetch after (the lowest position among them, -1 when they all have
 * none). Then fetch and call wsk_hub_recovered(h, NULL, ...). Returns how
 * many subscribers (0 in local mode, where nothing is ever missed). No
 * SUBSCRIBED output is emitted for a resync. */
size_t wsk_hub_resync(wsk_hub_t *h, const char *channel, size_t len, int64_t *fetch_since);

/* Returns 1 when removed, 0 when it was not subscribed. */
int wsk_hub_unsubscribe(wsk_hub_t *h, void *sub, const char *channel, size_t len);
/* Forget a subscriber everywhere (it closed); returns how many channels. */
size_t wsk_hub_drop(wsk_hub_t *h, void *sub);

/* Local mode: number the message (m->seq/epoch ignored), keep it in the
 * history, dispatch it to the subscribers. Returns the seq (> 0), or
 * WSK_ESTATE in external mode, WSK_EINVAL (bad channel/kind/JSON),
 * WSK_EUTF8, WSK_ENOMEM. */
int64_t wsk_hub_publish(wsk_hub_t *h, const wsk_chan_msg_t *m, int64_t now, wsk_hub_out_fn fn,
                        void *ud);

/* A numbered message (from the backplane) to the channel's subscribers:
 * live ones get it unless already seen; an epoch change gives them a GAP
 * ("epoch") first; recovering ones hold it. Returns how many got it now. */
size_t wsk_hub_dispatch(wsk_hub_t *h, const wsk_chan_msg_t *m, int64_t now, wsk_hub_out_fn fn,
                        void *ud);

/* ---- queries ---- */
size_t wsk_hub_count(const wsk_hub_t *h, const char *channel, size_t len);
int wsk_hub_is_member(const wsk_hub_t *h, void *sub, const char *channel, size_t len);
/* Snapshot of a channel's subscribers (as wsk_channels_members). */
size_t wsk_hub_members(const wsk_hub_t *h, const char *channel, size_t len, void **out,
                       size_t max);
/* Each channel with at least one subscriber (fn must not change the hub);
 * returns how many. */
size_t wsk_hub_channels(const wsk_hub_t *h, void (*fn)(void *ud, const char *name, size_t len),
                        void *ud);
/* Local mode: the channel's epoch and newest seq; 0 when it has none. */
int wsk_hub_position(const wsk_hub_t *h, const char *channel, size_t len, uint64_t *top,
                     const char **epoch, size_t *epoch_len);

#ifdef __cplusplus
}
#endif
#endif
