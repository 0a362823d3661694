/* What crosses Redis between instances (docs/scaling.md), defined once:
 * the envelope, the key names and the two server-side scripts. Drivers
 * only move these bytes with their ecosystem's Redis client.
 *
 * Envelope (one PUBLISH payload and one history entry):
 *   "WSK1" SP kind SP seq SP epoch SP origin SP channel-length LF channel payload
 * kind is t/b/j (chanproto.h), seq and channel-length are decimal without
 * leading zeros, epoch and origin are 1..64 bytes of [A-Za-z0-9._:-].
 *
 * Keys for channel C under a prefix P (default "wskit:"):
 *   P "meta:" C   hash {epoch, seq}: the channel's epoch and newest seq;
 *                 with a history ttl it expires ttl + 1 day after the last
 *                 publish or recover (so a channel only ever subscribed to
 *                 leaves no key for ever); with ttl 0 it never expires
 *   P "hist:" C   stream of entries with id "<seq>-1", fields e=envelope,
 *                 t=publish time in ms (trimmed to the history size)
 *   P "msg:" C    the pub/sub channel; instances PSUBSCRIBE P "msg:*"
 *
 * Publishing is EVAL of WSK_REDIS_PUBLISH_SCRIPT, so numbering, history and
 * PUBLISH are one atomic step and every instance sees one order. A
 * subscriber's resume is EVAL of WSK_REDIS_RECOVER_SCRIPT. */
#ifndef WSKIT_BACKPLANE_H
#define WSKIT_BACKPLANE_H

#include "chanproto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_BACKPLANE_PREFIX "wskit:"
#define WSK_BACKPLANE_MAX_TOKEN 64 /* origin and epoch */

/* Parse an envelope; pointers go into buf. WSK_EPROTO (with *why, static
 * text) for anything malformed, including a JSON payload that is not valid
 * JSON and a text payload that is not UTF-8. */
int wsk_envelope_parse(const uint8_t *buf, size_t len, const char **origin, size_t *origin_len,
                       wsk_chan_msg_t *m, const char **why);
/* Append an envelope for m (seq must be > 0, epoch set). */
int wsk_envelope_build(wsk_buf_t *out, const char *origin, const wsk_chan_msg_t *m);

/* 1 if s is a valid origin/epoch token. */
int wsk_backplane_token_valid(const char *s, size_t len);
/* A fresh instance id for `origin`: 16 lowercase hex characters from
 * `random` (NULL = RAND_bytes) plus NUL; out must hold 17 bytes. */
int wsk_backplane_new_origin(wsk_random_fn random, void *ud, char out[17]);

typedef enum { WSK_KEY_META = 0, WSK_KEY_HIST, WSK_KEY_MSG } wsk_backplane_key_t;
/* Append the key of `which` for channel C under prefix (NULL = default). */
int wsk_backplane_key(wsk_buf_t *out, const char *prefix, wsk_backplane_key_t which,
                      const char *channel, size_t channel_len);
/* The channel a pub/sub channel name carries ("P msg:C" -> C); 0 if the
 * name does not start with P "msg:". */
int wsk_backplane_channel_of(const char *prefix, const char *pubsub_name, size_t len,
                             const char **channel, size_t *channel_len);

/* EVAL WSK_REDIS_PUBLISH_SCRIPT 2 <meta key> <hist key>
 *      <msg key> <kind> <origin> <channel> <payload> <history size> <ttl ms>
 * -> array [seq (integer), epoch (bulk)]. The envelope it publishes is
 * exactly wsk_envelope_build's. */
extern const char WSK_REDIS_PUBLISH_SCRIPT[];
/* EVAL WSK_REDIS_RECOVER_SCRIPT 2 <meta key> <hist key> <since> <ttl ms> <max>
 * since -1 = position only. -> array [epoch (bulk), top (integer),
 * envelope...]: the entries after since, oldest first, at most max, none
 * older than ttl ms (0 = no age limit). Creates the epoch when the channel
 * has none yet. Both scripts PEXPIRE the meta key to ttl ms + 86400000
 * when ttl > 0 (refreshing it) and leave its expiry alone when ttl is 0. */
extern const char WSK_REDIS_RECOVER_SCRIPT[];

#ifdef __cplusplus
}
#endif
#endif
