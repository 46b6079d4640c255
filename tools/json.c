/* json.c — --json documents through json-c; UTF-8 clean-up and the secret
 * placeholder are the only things done here by hand. */
#include "json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secret_in.h"

/* Compact, as the Tencent Cloud API prints it: no spaces, "/" as is. */
#define JO_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

json_object *jo_doc(struct jdoc *d)
{
    memset(d, 0, sizeof *d);
    d->root = json_object_new_object();
    d->oom = d->root == NULL;
    return d->root;
}

void jo_free(struct jdoc *d)
{
    json_object_put(d->root);
    d->root = NULL;
}

/* Add v under key (or append it when parent is an array). made: v was just
 * allocated, so NULL means out of memory; otherwise NULL is JSON null. */
static void put(struct jdoc *d, json_object *parent, const char *key, json_object *v, int made)
{
    if ((made && !v) || !parent) {
        d->oom = 1;
        json_object_put(v);
        return;
    }
    int r = key ? json_object_object_add(parent, key, v) : json_object_array_add(parent, v);
    if (r != 0) {
        d->oom = 1;
        json_object_put(v);
    }
}

json_object *jo_obj(struct jdoc *d, json_object *parent, const char *key)
{
    json_object *o = json_object_new_object();
    put(d, parent, key, o, 1);
    return d->oom ? NULL : o;
}

json_object *jo_arr(struct jdoc *d, json_object *parent, const char *key)
{
    json_object *a = json_object_new_array();
    put(d, parent, key, a, 1);
    return d->oom ? NULL : a;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A json-c string of s, each byte that is not part of valid UTF-8 replaced
 * by U+FFFD. NULL on out of memory. */
static json_object *new_string(const char *s)
{
    static const char repl[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), bad = 0;
    if (len > INT_MAX / 3)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i);
        bad += n == 0;
        i += n ? n : 1;
    }
    if (!bad)
        return json_object_new_string_len(s, (int)len);
    char *buf = malloc(len + 2 * bad + 1), *o = buf;
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i);
        if (n == 0) {
            memcpy(o, repl, 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        }
    }
    json_object *j = json_object_new_string_len(buf, (int)(o - buf));
    free(buf);
    return j;
}

void jo_str(struct jdoc *d, json_object *parent, const char *key, const char *s)
{
    put(d, parent, key, new_string(s ? s : ""), 1);
}

void jo_u64(struct jdoc *d, json_object *parent, const char *key, uint64_t v)
{
    put(d, parent, key, json_object_new_uint64(v), 1);
}

void jo_bool(struct jdoc *d, json_object *parent, const char *key, bool v)
{
    put(d, parent, key, json_object_new_boolean(v), 1);
}

void jo_null(struct jdoc *d, json_object *parent, const char *key)
{
    put(d, parent, key, NULL, 0);
}

void jo_strlist(struct jdoc *d, json_object *parent, const char *key, char *const *items, size_t n)
{
    json_object *a = jo_arr(d, parent, key);
    for (size_t i = 0; i < n; i++)
        jo_str(d, a, NULL, items[i]);
}

/* Generated secrets are base62 plus '-': nothing to escape. */
static int plain_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* Serializer of the placeholder: an empty string, and where its value goes. */
static int secret_slot(json_object *jso, struct printbuf *pb, int level, int flags)
{
    (void)level;
    (void)flags;
    struct jdoc *d = json_object_get_userdata(jso);
    if (printbuf_strappend(pb, "\"\"") < 0)
        return -1;
    d->secret_off = (size_t)pb->bpos - 1;
    d->secret_placed = 1;
    return 0;
}

void jo_secret(struct jdoc *d, json_object *parent, const char *key, const char *s, size_t len)
{
    if (d->secret || !plain_ascii(s, len) || strlen(s) != len) {
        /* Not a generated secret (they are base62): a programming error.
         * Refuse rather than let json-c copy it. */
        d->oom = 1;
        return;
    }
    json_object *slot = json_object_new_string("");
    if (slot) {
        json_object_set_serializer(slot, secret_slot, d, NULL);
        d->secret = s;
        d->secret_len = len;
    }
    put(d, parent, key, slot, 1);
}

int jo_print(struct jdoc *d, FILE *f)
{
    int rc = JO_NOMEM;
    size_t len = 0;
    const char *s = NULL;
    if (d->root && !d->oom)
        s = json_object_to_json_string_length(d->root, JO_FLAGS, &len);
    if (s && (!d->secret || (d->secret_placed && d->secret_off <= len))) {
        size_t cut = d->secret ? d->secret_off : len;
        rc = fwrite(s, 1, cut, f) == cut ? 0 : JO_EIO;
        if (rc == 0 && d->secret && secret_write_direct(f, d->secret, d->secret_len) != 0)
            rc = JO_EIO;
        if (rc == 0 && (fwrite(s + cut, 1, len - cut, f) != len - cut || fputc('\n', f) == EOF))
            rc = JO_EIO;
    }
    jo_free(d);
    return rc;
}

int jo_render(struct jdoc *d, char **out, size_t *outlen, int *guarded)
{
    size_t len = 0;
    const char *s = NULL;
    *out = NULL;
    *outlen = 0;
    *guarded = d->secret != NULL;
    if (d->root && !d->oom)
        s = json_object_to_json_string_length(d->root, JO_FLAGS, &len);
    if (s && (!d->secret || (d->secret_placed && d->secret_off <= len))) {
        size_t cut = d->secret ? d->secret_off : len, total = len + (d->secret ? d->secret_len : 0);
        char *b = d->secret ? sodium_malloc(total + 1) : malloc(total + 1);
        if (b != NULL) {
            memcpy(b, s, cut);
            if (d->secret)
                memcpy(b + cut, d->secret, d->secret_len);
            memcpy(b + cut + (d->secret ? d->secret_len : 0), s + cut, len - cut);
            b[total] = '\0';
            *out = b;
            *outlen = total;
        }
    }
    jo_free(d);
    return *out ? 0 : JO_NOMEM;
}
