/* Request/response correlation: pending requests by 64-bit id, with
 * deadlines. Resolve is O(1), expiry O(log n) per request. Each pending
 * request ends exactly once: resolved, expired or cancelled. The table only
 * holds the caller's `ud` pointers; it never frees them. */
#ifndef WSKIT_RPC_H
#define WSKIT_RPC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_rpc_table wsk_rpc_table_t;

/* Called once per request that ends by expiry or cancellation, with the
 * reason (WSK_ETIMEDOUT or WSK_ECANCELED). The entry is already removed:
 * the callback may add (even the same id again) or resolve requests of
 * the same table, and call expire or cancel_all on it; only
 * wsk_rpc_free is not allowed. A NULL callback ends requests silently. */
typedef void (*wsk_rpc_end_fn)(void *ctx, uint64_t id, void *ud, int reason);

/* NULL when out of memory. */
wsk_rpc_table_t *wsk_rpc_new(void);
/* Frees the table; pending entries are dropped without callbacks (cancel
 * them first if their owners must hear about it). */
void wsk_rpc_free(wsk_rpc_table_t *t);

/* A fresh id, never returned before by this table (1, 2, 3 ...) and not pending. */
uint64_t wsk_rpc_next_id(wsk_rpc_table_t *t);
/* Add a pending request. deadline < 0: no deadline. WSK_EEXIST when the id
 * is already pending, WSK_ENOMEM (table unchanged). */
int wsk_rpc_add(wsk_rpc_table_t *t, uint64_t id, int64_t deadline, void *ud);
/* End a request with its reply: removes it and returns its ud in *ud
 * (ud may be NULL). WSK_ENOTFOUND when not pending (unknown, late or
 * duplicate reply). */
int wsk_rpc_resolve(wsk_rpc_table_t *t, uint64_t id, void **ud);
/* End every request whose deadline is <= now, earliest first (equal
 * deadlines in the order added). Returns how many. Requests that callbacks
 * add during the call are left for the next call even if already due, so
 * a callback re-adding with an old deadline cannot loop forever. */
size_t wsk_rpc_expire(wsk_rpc_table_t *t, int64_t now, wsk_rpc_end_fn cb, void *ctx);
/* End every pending request with WSK_ECANCELED (e.g. on disconnect), in
 * no particular order. Requests that callbacks add during the call stay
 * pending. Returns how many ended. */
size_t wsk_rpc_cancel_all(wsk_rpc_table_t *t, wsk_rpc_end_fn cb, void *ctx);
/* Earliest deadline, or -1 when none. */
int64_t wsk_rpc_next_deadline(const wsk_rpc_table_t *t);
size_t wsk_rpc_count(const wsk_rpc_table_t *t);

#ifdef __cplusplus
}
#endif
#endif
