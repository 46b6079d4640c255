/* import_parse.c — CSV or JSON lines into lk_import's items (see
 * import_parse.h). Every fault names its line; nothing here trusts the
 * input's sizes, quotes or nesting. */
#include "import_parse.h"
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_LINE_MAX ((size_t)64 << 10) /* one JSON line */
#define JSON_DEPTH 3                    /* an object holding arrays of strings */

static const char *const col_names[COL_COUNT_] = {
    [COL_TYPE] = "type",         [COL_UIN] = "uin",         [COL_KIND] = "kind",
    [COL_ROOT] = "root",         [COL_LOGIN] = "login",     [COL_SELF_SERVICE] = "self-service",
    [COL_NAME] = "name",         [COL_DESCRIPTION] = "description",
    [COL_SCOPE] = "scope",       [COL_ALLOW_IP] = "allow-ip", [COL_EXPIRES] = "expires",
    [COL_RATE_LIMIT] = "rate-limit",
};

/* The columns of each type: those of its single command. */
#define CB(c) (1u << (c))
#define COMMON_COLS (CB(COL_TYPE) | CB(COL_UIN))
static const unsigned type_cols[] = {
    [LK_IMPORT_USER] = COMMON_COLS | CB(COL_KIND) | CB(COL_ROOT) | CB(COL_LOGIN) | CB(COL_SELF_SERVICE),
    [LK_IMPORT_APIKEY] = COMMON_COLS | CB(COL_NAME) | CB(COL_DESCRIPTION) | CB(COL_SCOPE) | CB(COL_ALLOW_IP) |
                         CB(COL_EXPIRES) | CB(COL_RATE_LIMIT),
    [LK_IMPORT_KEY] = COMMON_COLS | CB(COL_EXPIRES),
};
static const char *const type_names[] = {[LK_IMPORT_USER] = "user", [LK_IMPORT_APIKEY] = "apikey",
                                         [LK_IMPORT_KEY] = "key"};

const char *import_col_name(enum import_col c)
{
    return (unsigned)c < COL_COUNT_ ? col_names[c] : "?";
}

static int fault(char *err, size_t errsz, size_t line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fault(char *err, size_t errsz, size_t line, const char *fmt, ...)
{
    int n = line > 0 ? snprintf(err, errsz, "line %zu: ", line) : 0;
    if (n < 0 || (size_t)n >= errsz)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Untrusted text for a message: printable ASCII, others as '?', cut. */
static const char *shown(const char *s, size_t len, char buf[48])
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < 40; i++)
        buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (len > 40)
        memcpy(buf + o, "...", 3), o += 3;
    buf[o] = '\0';
    return buf;
}

/* A column by name; '_' stands for '-' ("self_service"). -1: none. */
static int col_find(const char *name, size_t len)
{
    for (int c = 0; c < COL_COUNT_; c++) {
        const char *want = col_names[c];
        size_t i = 0;
        while (i < len && want[i] != '\0' && (name[i] == want[i] || (name[i] == '_' && want[i] == '-')))
            i++;
        if (i == len && want[i] == '\0')
            return c;
    }
    return -1;
}

static struct import_row *row_new(struct import_batch *b, size_t line, char *err, size_t errsz)
{
    if (b->n == IMPORT_MAX_ROWS) {
        fault(err, errsz, line, "more than %d lines to import: split the file", IMPORT_MAX_ROWS);
        return NULL;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct import_row *r = realloc(b->rows, cap * sizeof *r);
        if (r == NULL) {
            fault(err, errsz, 0, "out of memory");
            return NULL;
        }
        b->rows = r;
        b->cap = cap;
    }
    struct import_row *r = &b->rows[b->n++];
    memset(r, 0, sizeof *r);
    r->line = line;
    return r;
}

static char *dup_field(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Put a field's text in its column (empty: absent). */
static int set_field(struct import_row *r, int col, const char *s, size_t n, char *err, size_t errsz)
{
    if (n > IMPORT_MAX_FIELD)
        return fault(err, errsz, r->line, "column '%s': longer than %d bytes", col_names[col], IMPORT_MAX_FIELD);
    if (memchr(s, '\0', n) != NULL)
        return fault(err, errsz, r->line, "column '%s': contains a NUL byte", col_names[col]);
    if (r->field[col] != NULL)
        return fault(err, errsz, r->line, "column '%s' is given twice", col_names[col]);
    if (n == 0)
        return 0;
    if ((r->field[col] = dup_field(s, n)) == NULL)
        return fault(err, errsz, 0, "out of memory");
    return 0;
}

/* ------------------------------------------------------------ values */

static int expiry(const struct import_row *r, int64_t now, int64_t *out, char *err, size_t errsz)
{
    const char *v = r->field[COL_EXPIRES];
    *out = LK_EXPIRES_NEVER;
    if (v == NULL || strcmp(v, "never") == 0)
        return 0;
    if (lk_parse_time(v, now, LK_TIME_FUTURE, out) != LK_OK)
        return fault(err, errsz, r->line, "column 'expires': %s", lk_errmsg(NULL));
    return 0;
}

/* A list column: the keyword (or nothing) for the empty list, else the
 * entries as given (the library judges them). */
static int list(struct import_row *r, int col, const char *keyword, struct csv *out, char *err, size_t errsz)
{
    const char *v = r->field[col];
    if (v == NULL || strcmp(v, keyword) == 0)
        return 0;
    return csv_split(v, out) == 0 ? 0 : fault(err, errsz, 0, "out of memory");
}

static int user_item(struct import_row *r, lk_import_item *it, char *err, size_t errsz)
{
    static const lk_user_kind kinds[] = {LK_USER_ROOT, LK_USER_SUB, LK_USER_COLLABORATOR};
    const char *k = r->field[COL_KIND];
    char q[48];
    it->user_kind = LK_USER_ROOT;
    if (k != NULL) {
        size_t i = 0;
        while (i < 3 && strcmp(k, lk_user_kind_name(kinds[i])) != 0)
            i++;
        if (i == 3)
            return fault(err, errsz, r->line, "column 'kind': '%s' is not root, sub-user or collaborator",
                         shown(k, strlen(k), q));
        it->user_kind = kinds[i];
    }
    const char *root = r->field[COL_ROOT];
    if (root != NULL && args_parse_uin(root, &it->root_uin) != 0)
        return fault(err, errsz, r->line, "column 'root': '%s' is not a UIN (1..%" PRId64 ")",
                     shown(root, strlen(root), q), INT64_MAX);
    it->login = r->field[COL_LOGIN];
    const char *self = r->field[COL_SELF_SERVICE];
    if (self != NULL && lk_self_service_parse(self, &it->self_service) != LK_OK)
        return fault(err, errsz, r->line, "column 'self-service': '%s' is not none, read or manage",
                     shown(self, strlen(self), q));
    return 0;
}

static int apikey_item(struct import_row *r, lk_import_item *it, int64_t now, char *err, size_t errsz)
{
    lk_apikey_spec *s = &it->apikey;
    char q[48];
    if (r->field[COL_NAME] == NULL)
        return fault(err, errsz, r->line, "column 'name' is empty: an API key needs a name");
    s->name = r->field[COL_NAME];
    s->description = r->field[COL_DESCRIPTION];
    if (list(r, COL_SCOPE, "all", &r->scope, err, errsz) != 0 ||
        list(r, COL_ALLOW_IP, "none", &r->allow_ip, err, errsz) != 0)
        return -1;
    s->scope = r->scope.items;
    s->scope_count = r->scope.n;
    s->allow_ip = r->allow_ip.items;
    s->allow_ip_count = r->allow_ip.n;
    const char *rate = r->field[COL_RATE_LIMIT];
    if (rate != NULL && strcmp(rate, "none") != 0 && args_parse_rate(rate, &s->rate_limit, &s->rate_window_s) != 0)
        return fault(err, errsz, r->line,
                     "column 'rate-limit': '%s': give N/SPAN, 1..%u requests per a span of 1s..1d (100/1s, 6000/1m), "
                     "or none",
                     shown(rate, strlen(rate), q), LK_RATE_MAX);
    return expiry(r, now, &s->expire_time, err, errsz);
}

static int row_item(struct import_row *r, lk_import_item *it, int64_t now, char *err, size_t errsz)
{
    const char *type = r->field[COL_TYPE], *uin = r->field[COL_UIN];
    char q[48];
    memset(it, 0, sizeof *it);
    if (type == NULL)
        return fault(err, errsz, r->line, "column 'type' is empty: give user, apikey or key");
    size_t t = 0;
    while (t < 3 && strcmp(type, type_names[t]) != 0)
        t++;
    if (t == 3)
        return fault(err, errsz, r->line, "column 'type': '%s' is not user, apikey or key",
                     shown(type, strlen(type), q));
    it->kind = (lk_import_kind)t;
    for (int c = 0; c < COL_COUNT_; c++)
        if (r->field[c] != NULL && !(type_cols[t] & CB(c)))
            return fault(err, errsz, r->line, "column '%s' does not apply to a line of type %s (leave it empty)",
                         col_names[c], type_names[t]);
    if (uin == NULL)
        return fault(err, errsz, r->line, "column 'uin' is empty");
    if (args_parse_uin(uin, &it->uin) != 0)
        return fault(err, errsz, r->line, "column 'uin': '%s' is not a UIN (1..%" PRId64 ")",
                     shown(uin, strlen(uin), q), INT64_MAX);
    switch (it->kind) {
    case LK_IMPORT_USER:
        return user_item(r, it, err, errsz);
    case LK_IMPORT_APIKEY:
        return apikey_item(r, it, now, err, errsz);
    case LK_IMPORT_KEY:
        return expiry(r, now, &it->expire_time, err, errsz);
    }
    return -1;
}

/* ------------------------------------------------------------ CSV */

struct csv_in {
    const char *p, *end;
    size_t line;
    char buf[IMPORT_MAX_FIELD + 1];
};

static bool at_eol(const struct csv_in *in)
{
    return in->p < in->end &&
           (*in->p == '\n' || (*in->p == '\r' && in->p + 1 < in->end && in->p[1] == '\n'));
}

static void skip_eol(struct csv_in *in)
{
    if (*in->p == '\r')
        in->p++;
    in->p++;
    in->line++;
}

/* One field into in->buf (*n bytes); the delimiter after it is left. */
static int csv_field(struct csv_in *in, size_t start, size_t *n, char *err, size_t errsz)
{
    *n = 0;
    if (in->p < in->end && *in->p == '"') {
        in->p++;
        for (;;) {
            if (in->p >= in->end)
                return fault(err, errsz, start, "a quoted field has no closing quote");
            char ch = *in->p++;
            if (ch == '"') {
                if (in->p >= in->end || *in->p != '"')
                    break;
                in->p++; /* "" is one quote */
            }
            in->line += ch == '\n';
            if (*n == IMPORT_MAX_FIELD)
                return fault(err, errsz, start, "a field is longer than %d bytes", IMPORT_MAX_FIELD);
            in->buf[(*n)++] = ch;
        }
        if (in->p < in->end && *in->p != ',' && !at_eol(in))
            return fault(err, errsz, in->line, "a quoted field must end at a comma or the end of the line");
        return 0;
    }
    while (in->p < in->end && *in->p != ',' && !at_eol(in)) {
        if (*in->p == '"')
            return fault(err, errsz, in->line,
                         "a quote inside an unquoted field (quote the whole field and double the quotes in it)");
        if (*n == IMPORT_MAX_FIELD)
            return fault(err, errsz, in->line, "a field is longer than %d bytes", IMPORT_MAX_FIELD);
        in->buf[(*n)++] = *in->p++;
    }
    return 0;
}

/* Skip blank lines and '#' comments; false at the end of the input. */
static bool csv_next_record(struct csv_in *in)
{
    while (in->p < in->end) {
        if (at_eol(in)) {
            skip_eol(in);
        } else if (*in->p == '#') {
            const char *nl = memchr(in->p, '\n', (size_t)(in->end - in->p));
            in->p = nl ? nl + 1 : in->end;
            in->line++;
        } else {
            return true;
        }
    }
    return false;
}

static int csv_header(struct csv_in *in, int *cols, size_t *ncols, char *err, size_t errsz)
{
    size_t line = in->line, n;
    unsigned seen = 0;
    char q[48];
    *ncols = 0;
    for (;;) {
        if (csv_field(in, line, &n, err, errsz) != 0)
            return -1;
        int c = col_find(in->buf, n);
        if (n == 0)
            return fault(err, errsz, line, "header: column %zu has no name", *ncols + 1);
        if (c < 0)
            return fault(err, errsz, line,
                         "header: unknown column '%s' (type, uin, kind, root, login, self-service, name, "
                         "description, scope, allow-ip, expires, rate-limit)",
                         shown(in->buf, n, q));
        if (seen & CB(c))
            return fault(err, errsz, line, "header: column '%s' is named twice", col_names[c]);
        seen |= CB(c);
        cols[(*ncols)++] = c;
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end)
            skip_eol(in);
        break;
    }
    if (!(seen & CB(COL_TYPE)) || !(seen & CB(COL_UIN)))
        return fault(err, errsz, line, "header: the columns 'type' and 'uin' are required");
    return 0;
}

static int csv_parse(const char *text, size_t len, struct import_batch *b, char *err, size_t errsz)
{
    struct csv_in *in = malloc(sizeof *in);
    int cols[COL_COUNT_];
    size_t ncols, n;
    int rc = -1;
    if (in == NULL)
        return fault(err, errsz, 0, "out of memory");
    in->p = text;
    in->end = text + len;
    in->line = 1;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) /* a spreadsheet's byte order mark */
        in->p += 3;
    if (!csv_next_record(in)) {
        fault(err, errsz, 0, "the input is empty: give a header row and a line per user or key");
        goto out;
    }
    if (csv_header(in, cols, &ncols, err, errsz) != 0)
        goto out;
    while (csv_next_record(in)) {
        struct import_row *r = row_new(b, in->line, err, errsz);
        if (r == NULL)
            goto out;
        for (size_t i = 0;; i++) {
            if (csv_field(in, r->line, &n, err, errsz) != 0)
                goto out;
            if (i == ncols) {
                fault(err, errsz, r->line, "more fields than the header's %zu columns", ncols);
                goto out;
            }
            if (set_field(r, cols[i], in->buf, n, err, errsz) != 0)
                goto out;
            if (in->p < in->end && *in->p == ',') {
                in->p++;
                continue;
            }
            if (in->p < in->end)
                skip_eol(in);
            if (i + 1 != ncols) {
                fault(err, errsz, r->line, "%zu fields, but the header has %zu columns", i + 1, ncols);
                goto out;
            }
            break;
        }
    }
    rc = 0;
out:
    free(in);
    return rc;
}

/* ------------------------------------------------------------ JSON lines */

static int json_member(struct import_row *r, const char *key, json_object *v, char *err, size_t errsz)
{
    char q[48], num[24];
    int c = col_find(key, strlen(key));
    if (c < 0)
        return fault(err, errsz, r->line, "unknown member '%s'", shown(key, strlen(key), q));
    switch (json_object_get_type(v)) {
    case json_type_null:
        return set_field(r, c, "", 0, err, errsz);
    case json_type_string:
        return set_field(r, c, json_object_get_string(v), (size_t)json_object_get_string_len(v), err, errsz);
    case json_type_int:
        if (json_object_get_int64(v) < 0)
            snprintf(num, sizeof num, "%" PRId64, json_object_get_int64(v));
        else
            snprintf(num, sizeof num, "%" PRIu64, json_object_get_uint64(v));
        return set_field(r, c, num, strlen(num), err, errsz);
    case json_type_array: {
        if (c != COL_SCOPE && c != COL_ALLOW_IP)
            break;
        /* entries joined with commas, as the CSV column holds them (no
         * entry of either list can hold a comma) */
        size_t n = json_object_array_length(v), len = 0;
        char *joined = malloc(IMPORT_MAX_FIELD + 1);
        if (joined == NULL)
            return fault(err, errsz, 0, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);
            const char *s = json_object_get_string(e);
            size_t sl = json_object_is_type(e, json_type_string) ? (size_t)json_object_get_string_len(e) : 0;
            if (!json_object_is_type(e, json_type_string) || sl == 0 || memchr(s, ',', sl) != NULL ||
                len + sl + 1 > IMPORT_MAX_FIELD) {
                free(joined);
                return fault(err, errsz, r->line, "member '%s': entry %zu is not a non-empty string without commas%s",
                             col_names[c], i + 1, len + sl + 1 > IMPORT_MAX_FIELD ? " (or the list is too long)" : "");
            }
            if (i > 0)
                joined[len++] = ',';
            memcpy(joined + len, s, sl);
            len += sl;
        }
        int rc = set_field(r, c, joined, len, err, errsz);
        free(joined);
        return rc;
    }
    default:
        break;
    }
    return fault(err, errsz, r->line, "member '%s': expected a string%s", col_names[c],
                 c == COL_UIN || c == COL_ROOT ? " or a number" : c == COL_SCOPE || c == COL_ALLOW_IP ? " or an array of strings" : "");
}

static int json_line(struct import_batch *b, json_tokener *tok, const char *s, size_t len, size_t line, char *err,
                     size_t errsz)
{
    size_t end = len;
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r'))
        end--;
    size_t start = 0;
    while (start < end && (s[start] == ' ' || s[start] == '\t'))
        start++;
    if (start == end || s[start] == '#')
        return 0; /* blank or a comment */
    if (end - start > JSON_LINE_MAX)
        return fault(err, errsz, line, "longer than %zu bytes", JSON_LINE_MAX);
    json_tokener_reset(tok);
    json_object *o = json_tokener_parse_ex(tok, s + start, (int)(end - start));
    enum json_tokener_error je = json_tokener_get_error(tok);
    if (o == NULL || je != json_tokener_success || json_tokener_get_parse_end(tok) != end - start) {
        json_object_put(o);
        return fault(err, errsz, line, "not one JSON object on the line (%s)",
                     je == json_tokener_continue  ? "it ends early"
                     : je != json_tokener_success ? json_tokener_error_desc(je)
                                                  : "something follows it");
    }
    int rc = 0;
    struct import_row *r = NULL;
    if (!json_object_is_type(o, json_type_object))
        rc = fault(err, errsz, line, "not a JSON object");
    else if ((r = row_new(b, line, err, errsz)) == NULL)
        rc = -1;
    if (rc == 0) {
        json_object_object_foreach(o, key, val)
        {
            if ((rc = json_member(r, key, val, err, errsz)) != 0)
                break;
        }
    }
    json_object_put(o);
    return rc;
}

static int jsonl_parse(const char *text, size_t len, struct import_batch *b, char *err, size_t errsz)
{
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok == NULL)
        return fault(err, errsz, 0, "out of memory");
    int rc = 0;
    size_t line = 1;
    for (const char *p = text, *end = text + len; p < end && rc == 0; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (memchr(p, '\0', l) != NULL)
            rc = fault(err, errsz, line, "contains a NUL byte");
        else
            rc = json_line(b, tok, p, l, line, err, errsz);
        p += l + 1;
    }
    json_tokener_free(tok);
    if (rc == 0 && b->n == 0)
        rc = fault(err, errsz, 0, "the input is empty: give a JSON object per line, one per user or key");
    return rc;
}

/* ------------------------------------------------------------ both */

/* JSON lines when the first thing on a line that is not blank or a comment
 * is '{'; else CSV. */
static bool looks_jsonl(const char *text, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        return false;
    while (i < len) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n') {
            i++;
        } else if (text[i] == '#') {
            const char *nl = memchr(text + i, '\n', len - i);
            i = nl ? (size_t)(nl - text) + 1 : len;
        } else {
            return text[i] == '{';
        }
    }
    return false;
}

int import_parse(const char *text, size_t len, int64_t now, struct import_batch *b, char *err, size_t errsz)
{
    memset(b, 0, sizeof *b);
    if (errsz > 0)
        err[0] = '\0';
    if (len > IMPORT_MAX_BYTES)
        return fault(err, errsz, 0, "the input is larger than %zu MiB: split it", IMPORT_MAX_BYTES >> 20);
    b->jsonl = looks_jsonl(text, len);
    int rc = b->jsonl ? jsonl_parse(text, len, b, err, errsz) : csv_parse(text, len, b, err, errsz);
    if (rc == 0 && b->n == 0)
        rc = fault(err, errsz, 0, "nothing to import: the input has a header but no lines");
    if (rc == 0 && (b->items = calloc(b->n, sizeof *b->items)) == NULL)
        rc = fault(err, errsz, 0, "out of memory");
    for (size_t i = 0; i < b->n && rc == 0; i++)
        rc = row_item(&b->rows[i], &b->items[i], now, err, errsz);
    return rc;
}

void import_batch_free(struct import_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        for (int c = 0; c < COL_COUNT_; c++)
            free(b->rows[i].field[c]);
        csv_free(&b->rows[i].scope);
        csv_free(&b->rows[i].allow_ip);
    }
    free(b->rows);
    free(b->items);
    memset(b, 0, sizeof *b);
}
