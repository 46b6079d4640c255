/*
 * output.h — how results and errors leave the tool.
 *
 * Text mode: results on stdout (tables, listings), errors on stderr as
 * `latchkey: CODE: message`. JSON mode (--json): everything on stdout in the
 * Tencent Cloud API 3.0 shape, {"Response":{...,"RequestId":"<uuid>"}}, and
 * errors as {"Response":{"Error":{"Code":..,"Message":..},"RequestId":..}}.
 */
#ifndef LK_TOOLS_OUTPUT_H
#define LK_TOOLS_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "json.h"

#define OUT_TIME_LEN LK_TIME_STRLEN /* lk_format_time's */
#define OUT_UUID_LEN 37

/* Exit code for a library status. */
int out_exit_for(lk_status st);

/* Report a failed library call: lk_status_code(st) and lk_errmsg().
 * Returns the exit code for st. */
int out_status_error(struct cli *c, lk_status st);
/* Report an error the tool found itself. Returns exitcode. */
int out_error(struct cli *c, int exitcode, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Out of memory in the tool itself (exit 5). */
int out_nomem(struct cli *c);
/* A usage error (exit 2); text mode adds a pointer to --help. */
int out_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A random UUIDv4 (libsodium randombytes_buf). */
void out_uuid(char buf[OUT_UUID_LEN]);
/* What a person reads (tables, listings, messages): local time with its
 * zone offset, "YYYY-MM-DD hh:mm:ss +hhmm"; "-" for 0 (never). */
const char *out_time(int64_t t, char buf[OUT_TIME_LEN]);
/* An Active key whose ExpireTime has passed (verify refuses it). */
bool out_key_expired(lk_key_status st, int64_t expire_time);
/* The Status a person reads: "Expired" for such a key, else lk_key_status_name's
 * Active or Inactive (a disabled key is Inactive, expired or not). JSON keeps
 * CAM's Status and adds "Expired": true for such a key only. */
const char *out_key_status(lk_key_status st, int64_t expire_time);

/* JSON success envelope {"Response":{...,"RequestId":"..."}}\n: out_begin
 * starts the document d and returns the Response object; out_end appends the
 * RequestId, prints the document and frees it. out_end returns the exit code
 * (CLI_EXIT_OK, or the out-of-memory / write error it reported). */
json_object *out_begin(struct jdoc *d);
int out_end(struct cli *c, struct jdoc *d, json_object *resp);
/* A time member of Tencent Cloud's own (CreateTime, LastAccessTime,
 * ExpireTime) in Tencent's shape, local "YYYY-MM-DD hh:mm:ss"; null for 0. */
void out_jtime(struct jdoc *d, json_object *o, const char *key, int64_t t);
/* A time member of latchkey's own (Time): ISO 8601 with the zone,
 * "YYYY-MM-DDThh:mm:ss+hh:mm"; null for 0. */
void out_jtime_iso(struct jdoc *d, json_object *o, const char *key, int64_t t);

/* For commands whose only result is "done": JSON envelope, or the text line.
 * Returns CLI_EXIT_OK. */
int out_done(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
