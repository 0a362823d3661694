/* Channel registry for fan-out: which connections subscribe to which
 * named channel. Connections are opaque non-NULL pointers the caller owns;
 * names are byte strings (copied). Subscribe, unsubscribe and membership
 * tests are O(1) on average; dropping a connection is O(its channels). */
#ifndef WSKIT_CHANNELS_H
#define WSKIT_CHANNELS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_CHANNEL_MAX_NAME 1024

typedef struct wsk_channels wsk_channels_t;

/* NULL when out of memory. */
wsk_channels_t *wsk_channels_new(void);
void wsk_channels_free(wsk_channels_t *r);

/* Returns 1 when added, 0 when already subscribed, WSK_EINVAL for an empty
 * or over-long name or a NULL conn, WSK_ENOMEM (registry unchanged). */
int wsk_channels_subscribe(wsk_channels_t *r, const char *name, size_t len, void *conn);
/* Returns 1 when removed, 0 when it was not subscribed, WSK_EINVAL as for
 * subscribe. A channel with no subscribers left is deleted. */
int wsk_channels_unsubscribe(wsk_channels_t *r, const char *name, size_t len, void *conn);
/* Remove `conn` from every channel (call when it closes). Returns how many.
 * The queries below (and drop) treat an invalid name or NULL conn as
 * "not found". */
size_t wsk_channels_drop(wsk_channels_t *r, void *conn);

int wsk_channels_is_member(const wsk_channels_t *r, const char *name, size_t len, void *conn);
size_t wsk_channels_count(const wsk_channels_t *r, const char *name, size_t len);
/* Number of channels that have at least one subscriber. */
size_t wsk_channels_size(const wsk_channels_t *r);

/* Copy up to `max` subscribers of a channel into out (a snapshot: safe to
 * unsubscribe while walking it), in no particular order. Returns the total
 * number of subscribers, which may exceed max; out may be NULL if max is 0. */
size_t wsk_channels_members(const wsk_channels_t *r, const char *name, size_t len, void **out,
                            size_t max);

/* Call fn for each channel `conn` is subscribed to, in no particular order;
 * returns how many (fn may be NULL just to count). `name` points into the
 * registry, valid until the channel is deleted; it has len bytes, which may
 * include NULs, followed by a terminating NUL. fn must not change the
 * registry. */
typedef void (*wsk_channel_name_fn)(void *ud, const char *name, size_t len);
size_t wsk_channels_of(const wsk_channels_t *r, void *conn, wsk_channel_name_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
