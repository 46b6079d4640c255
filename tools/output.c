/* output.c — error reporting, the JSON envelope, RequestId and times. */
#include "output.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>


int out_exit_for(lk_status st)
{
    if (st == LK_OK)
        return CLI_EXIT_OK;
    if (lk_status_is_denial(st))
        return CLI_EXIT_DENIED;
    switch (st) {
    case LK_ERR_PARAM: /* the library found an argument malformed */
        return CLI_EXIT_USAGE;
    case LK_ERR_CONFIG:
        return CLI_EXIT_CONFIG;
    case LK_ERR_STORE:
    case LK_ERR_STORE_PERM:
    case LK_ERR_STORE_FULL:
    case LK_ERR_NOMEM:
    case LK_ERR_INTERNAL:
        return CLI_EXIT_SYSTEM;
    default:
        break;
    }
    /* an unknown status is not something the user can fix */
    return (int)st > 0 && st < LK_STATUS_COUNT_ ? CLI_EXIT_REFUSED : CLI_EXIT_SYSTEM;
}

void out_uuid(char buf[OUT_UUID_LEN])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(buf, OUT_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool out_key_expired(lk_key_status st, int64_t expire_time)
{
    return st == LK_KEY_ACTIVE && expire_time != 0 && expire_time <= (int64_t)time(NULL);
}

const char *out_key_status(lk_key_status st, int64_t expire_time)
{
    return out_key_expired(st, expire_time) ? "Expired" : lk_key_status_name(st);
}

const char *out_time(int64_t t, char buf[OUT_TIME_LEN])
{
    if (t == 0) {
        snprintf(buf, OUT_TIME_LEN, "-");
        return buf;
    }
    return lk_format_time(t, LK_TIMEFMT_TEXT, buf);
}

json_object *out_begin(struct jdoc *d)
{
    return jo_obj(d, jo_doc(d), "Response");
}

int out_end(struct cli *c, struct jdoc *d, json_object *resp)
{
    char id[OUT_UUID_LEN];
    out_uuid(id);
    jo_str(d, resp, "RequestId", id);
    switch (jo_print(d, stdout)) {
    case 0:
        return CLI_EXIT_OK;
    case JO_NOMEM:
        return out_nomem(c);
    default:
        /* main reports a stdio error; a failed direct write leaves none */
        if (!ferror(stdout))
            fprintf(stderr, "latchkey: InternalError: could not write the result to stdout\n");
        return CLI_EXIT_SYSTEM;
    }
}

static void jtime(struct jdoc *d, json_object *o, const char *key, int64_t t, lk_time_shape shape)
{
    char buf[OUT_TIME_LEN];
    if (t == 0)
        jo_null(d, o, key);
    else
        jo_str(d, o, key, lk_format_time(t, shape, buf));
}

void out_jtime(struct jdoc *d, json_object *o, const char *key, int64_t t)
{
    jtime(d, o, key, t, LK_TIMEFMT_TENCENT);
}

void out_jtime_iso(struct jdoc *d, json_object *o, const char *key, int64_t t)
{
    jtime(d, o, key, t, LK_TIMEFMT_ISO);
}

static void print_error(struct cli *c, const char *code, const char *raw_msg)
{
    /* Messages quote arguments, and an argument may be a key pasted in the
     * wrong place: never show more of it than its public id. */
    char msg[512];
    lk_redact(raw_msg, msg, sizeof msg);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *e = jo_obj(&d, resp, "Error");
        jo_str(&d, e, "Code", code);
        jo_str(&d, e, "Message", msg);
        char id[OUT_UUID_LEN];
        out_uuid(id);
        jo_str(&d, resp, "RequestId", id);
        if (jo_print(&d, stdout) == JO_NOMEM) /* the exit code still tells */
            fprintf(stderr, "latchkey: %s: out of memory printing this error\n", code);
        return;
    }
    fflush(stdout); /* keep any partial result before the error */
    fprintf(stderr, "latchkey: %s: ", code);
    /* same cleaning as table cells: messages may quote user input */
    for (const char *p = msg; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, stderr);
    }
    fputc('\n', stderr);
}

int out_status_error(struct cli *c, lk_status st)
{
    /* The library names its call (lk_ctx_local_only: "lk_apikey_list: not
     * available through latchkeyd ..."); the user typed a command. */
    if (st == LK_ERR_PARAM && (c->a.seen & OPT_BIT(OPT_SOCKET)) && c->cmdname != NULL &&
        strstr(lk_errmsg(c->ctx), ": not available through latchkeyd") != NULL)
        return out_error(c, out_exit_for(st), lk_status_code(st),
                         "%s is not available with --socket; run it on the store's machine without --socket",
                         c->cmdname);
    print_error(c, lk_status_code(st), lk_errmsg(c->ctx));
    return out_exit_for(st);
}

static int verror(struct cli *c, int exitcode, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int verror(struct cli *c, int exitcode, const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    print_error(c, code, msg);
    return exitcode;
}

int out_error(struct cli *c, int exitcode, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = verror(c, exitcode, code, fmt, ap);
    va_end(ap);
    return r;
}

int out_nomem(struct cli *c)
{
    return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_NOMEM), "out of memory");
}

int out_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = verror(c, CLI_EXIT_USAGE, CLI_CODE_USAGE, fmt, ap);
    va_end(ap);
    if (!c->json)
        help_usage_hint(stderr);
    return r;
}

int out_done(struct cli *c, const char *fmt, ...)
{
    if (c->json) {
        struct jdoc d;
        return out_end(c, &d, out_begin(&d));
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return CLI_EXIT_OK;
}
