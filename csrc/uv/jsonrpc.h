/* JSON-RPC 2.0 envelopes (https://www.jsonrpc.org/specification) with
 * libjansson: build requests, notifications and replies as WebSocket text
 * messages, and classify an incoming text message.
 *
 * Encoding and decoding only. Which reply answers which request is the
 * core's rpc.h table, keyed by the 64-bit ids of our own requests:
 *
 *   uint64_t id = wsk_rpc_next_id(table);
 *   wsk_jsonrpc_request(&out, id, "sum", params);  -> send out as a text message
 *   wsk_rpc_add(table, id, deadline, ud);
 *   ...
 *   wsk_jsonrpc_parse(text, len, &m);
 *   if ((m.kind == WSK_JSONRPC_RESULT || m.kind == WSK_JSONRPC_ERROR) && m.has_u64_id)
 *     wsk_rpc_resolve(table, m.u64_id, &ud);
 *   wsk_jsonrpc_msg_free(&m);
 *
 * Ownership: builders never take or keep references to the json_t values
 * they are given (they only read them). A parsed message owns its document
 * (m.root) until wsk_jsonrpc_msg_free; every json_t and string in it is
 * borrowed from that document (json_incref what you keep longer). */
#ifndef WSK_UV_JSONRPC_H
#define WSK_UV_JSONRPC_H

#include <jansson.h>

#include "wskit/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of the specification (section 5.1). -32000..-32099 are
 * left to servers. */
enum {
  WSK_JSONRPC_PARSE_ERROR = -32700,
  WSK_JSONRPC_INVALID_REQUEST = -32600,
  WSK_JSONRPC_METHOD_NOT_FOUND = -32601,
  WSK_JSONRPC_INVALID_PARAMS = -32602,
  WSK_JSONRPC_INTERNAL_ERROR = -32603
};

typedef enum {
  WSK_JSONRPC_INVALID = 0,  /* answer: wsk_jsonrpc_error(out, m.id, m.code, m.message, NULL) */
  WSK_JSONRPC_REQUEST,      /* method, params, id: answer with a result or error echoing id */
  WSK_JSONRPC_NOTIFICATION, /* method, params: never answered */
  WSK_JSONRPC_RESULT,       /* id, result (has_u64_id / u64_id for rpc.h) */
  WSK_JSONRPC_ERROR,        /* id, code, message, data (has_u64_id / u64_id) */
  WSK_JSONRPC_BATCH         /* root is a non-empty array: wsk_jsonrpc_classify each
                               element; answer with an array of the replies, or
                               nothing when there are none (spec section 6) */
} wsk_jsonrpc_kind_t;

typedef struct wsk_jsonrpc_msg {
  wsk_jsonrpc_kind_t kind;
  json_t *root;        /* the parsed document (owned; NULL after wsk_jsonrpc_classify) */
  json_t *id;          /* REQUEST, RESULT, ERROR: the id (a string, a number or json
                          null), to echo back as is. INVALID: the id when one could
                          be read, else NULL (answer with null). */
  int has_u64_id;      /* RESULT/ERROR: id is an integer in [0, 2^63) ... */
  uint64_t u64_id;     /* ... with this value: one of our requests, for wsk_rpc_resolve */
  const char *method;  /* REQUEST/NOTIFICATION, NUL-terminated UTF-8 */
  json_t *params;      /* REQUEST/NOTIFICATION: an array or object; NULL when absent */
  json_t *result;      /* RESULT: any value (json null included) */
  int64_t code;        /* ERROR: the error's code. INVALID: the code to answer
                          with (WSK_JSONRPC_PARSE_ERROR / _INVALID_REQUEST) */
  const char *message; /* ERROR: the error's message. INVALID: what was wrong
                          (static text, fit to send back and to log) */
  json_t *data;        /* ERROR: the error's data; NULL when absent */
} wsk_jsonrpc_msg_t;

/* Parse and classify one incoming text message. Returns m->kind (>= 0),
 * or WSK_ENOMEM (m zeroed). Malformed input is not an error of the call:
 * it is WSK_JSONRPC_INVALID with the code to answer with: not JSON is
 * -32700; JSON that is not a valid request or reply (wrong "jsonrpc",
 * method not a string, params not structured, id not a string, number or
 * null, both or neither of result and error, error without an integer
 * code and a string message, an empty batch, a scalar) is -32600.
 * Integers beyond 64-bit signed range are a parse error (jansson's limit).
 * Always call wsk_jsonrpc_msg_free afterwards. */
int wsk_jsonrpc_parse(const char *text, size_t len, wsk_jsonrpc_msg_t *m);

/* Classify an already parsed value (a batch element). m borrows from
 * `value` (m->root stays NULL). Returns m->kind; a nested array is
 * INVALID (-32600). */
int wsk_jsonrpc_classify(json_t *value, wsk_jsonrpc_msg_t *m);

/* Release m->root and zero m. Safe on a zeroed or already freed message. */
void wsk_jsonrpc_msg_free(wsk_jsonrpc_msg_t *m);

/* ---- building ----
 * Each appends one compact JSON text to `out` and returns 0, WSK_EINVAL
 * (method or message not valid UTF-8, an id beyond 2^63-1, a reply id that
 * is not a string, number or null, params that are not an array or an
 * object) or WSK_ENOMEM; on failure `out` is unchanged. The *_text
 * variants take a value the caller already encoded (e.g. Python's
 * json.dumps) and insert it verbatim: it must be one valid JSON value;
 * only its first character is checked. Ids of our requests stay below
 * 2^63 so jansson (and the peer) can read them back; wsk_rpc_next_id
 * counts from 1. Peers written in JavaScript read ids exactly only up to
 * 2^53. */

/* {"jsonrpc":"2.0","id":id,"method":method[,"params":params]}
 * params: an array or object, or NULL to leave "params" out. */
int wsk_jsonrpc_request(wsk_buf_t *out, uint64_t id, const char *method, const json_t *params);
int wsk_jsonrpc_request_text(wsk_buf_t *out, uint64_t id, const char *method, const char *params,
                             size_t params_len); /* params NULL or len 0: none */

/* {"jsonrpc":"2.0","method":method[,"params":params]} */
int wsk_jsonrpc_notification(wsk_buf_t *out, const char *method, const json_t *params);
int wsk_jsonrpc_notification_text(wsk_buf_t *out, const char *method, const char *params,
                                  size_t params_len);

/* {"jsonrpc":"2.0","id":id,"result":result}
 * id: the request's id (m.id) or NULL for null; result NULL means null. */
int wsk_jsonrpc_result(wsk_buf_t *out, const json_t *id, const json_t *result);
int wsk_jsonrpc_result_text(wsk_buf_t *out, const json_t *id, const char *result,
                            size_t result_len); /* result NULL or len 0: null */

/* {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message[,"data":data]}}
 * id NULL means null (e.g. answering a parse error). message NULL uses the
 * specification's text for its codes ("Parse error", "Invalid Request",
 * "Method not found", "Invalid params", "Internal error", "Server error"
 * for -32000..-32099), else "". data NULL leaves "data" out. */
int wsk_jsonrpc_error(wsk_buf_t *out, const json_t *id, int64_t code, const char *message,
                      const json_t *data);

#ifdef __cplusplus
}
#endif
#endif
