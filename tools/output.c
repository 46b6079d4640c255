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

const char *out_time(int64_t t, char buf[OUT_TIME_LEN])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t == 0) {
        snprintf(buf, OUT_TIME_LEN, "-");
        return buf;
    }
    if (!localtime_r(&tt, &tm) || strftime(buf, OUT_TIME_LEN, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, OUT_TIME_LEN, "@%lld", (long long)t);
    return buf;
}

void out_begin(struct jw *w)
{
    jw_init(w, stdout);
    jw_obj(w, NULL);
    jw_obj(w, "Response");
}

void out_end(struct jw *w)
{
    char id[OUT_UUID_LEN];
    out_uuid(id);
    jw_str(w, "RequestId", id);
    jw_obj_end(w);
    jw_obj_end(w);
    fputc('\n', w->f);
}

void out_jtime(struct jw *w, const char *key, int64_t t)
{
    char buf[OUT_TIME_LEN];
    if (t == 0)
        jw_null(w, key);
    else
        jw_str(w, key, out_time(t, buf));
}

static void print_error(struct cli *c, const char *code, const char *msg)
{
    if (c->json) {
        struct jw w;
        out_begin(&w);
        jw_obj(&w, "Error");
        jw_str(&w, "Code", code);
        jw_str(&w, "Message", msg);
        jw_obj_end(&w);
        out_end(&w);
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
        struct jw w;
        out_begin(&w);
        out_end(&w);
        return CLI_EXIT_OK;
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return CLI_EXIT_OK;
}
