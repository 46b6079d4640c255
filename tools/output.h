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

#include <stdint.h>

#include "cli.h"
#include "json.h"

#define OUT_TIME_LEN 32  /* "YYYY-MM-DD hh:mm:ss" + room for odd years */
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
/* Local time as "YYYY-MM-DD hh:mm:ss"; "-" for 0 (never). */
const char *out_time(int64_t t, char buf[OUT_TIME_LEN]);

/* JSON success envelope {"Response":{...,"RequestId":"..."}}\n: out_begin
 * starts the document d and returns the Response object; out_end appends the
 * RequestId, prints the document and frees it. out_end returns the exit code
 * (CLI_EXIT_OK, or the out-of-memory / write error it reported). */
json_object *out_begin(struct jdoc *d);
int out_end(struct cli *c, struct jdoc *d, json_object *resp);
/* A time member: the formatted time, or null for 0 (never). */
void out_jtime(struct jdoc *d, json_object *o, const char *key, int64_t t);

/* For commands whose only result is "done": JSON envelope, or the text line.
 * Returns CLI_EXIT_OK. */
int out_done(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
