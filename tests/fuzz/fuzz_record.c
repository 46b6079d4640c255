/*
 * fuzz_record — the text record codec (core/record.c), both directions.
 *
 * First byte selects the mode:
 *  'P' (parse): the rest is a stored record as read back from a store: walk
 *      every field, find by name, unescape into exact-size and short buffers,
 *      parse numbers and lists. Nothing may read outside the record; every
 *      pointer handed out lies inside it; unescaped text is never longer
 *      than its escaped form; numbers parse back to their decimal text.
 *  anything else (build): the rest describes fields (text, u64, i64, list)
 *      that are encoded with lk_rec_add*, then decoded: every value must come
 *      back byte for byte (round trip), and the record must be one line of
 *      printable text (no control bytes, no byte <= 0x20 but the separating
 *      spaces), which is what the flat-file store relies on.
 */
#include <inttypes.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "lk_internal.h"

#define MAX_FIELDS 12
#define MAX_ITEMS 8

static void parse_mode(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy: ASan catches any read past the end */
    char *rec = malloc(size ? size : 1);
    FUZZ_CHECK(rec != NULL);
    memcpy(rec, data, size);
    const char *end = rec + size;

    lk_rec_iter it;
    const char *name, *val;
    size_t nl, vl;
    size_t fields = 0;
    lk_rec_iter_init(&it, rec, size);
    while (lk_rec_next(&it, &name, &nl, &val, &vl)) {
        FUZZ_CHECK(name >= rec && name + nl <= end);
        FUZZ_CHECK(val >= rec && val + vl <= end);
        FUZZ_CHECK(++fields <= size); /* terminates: each field eats input */
        FUZZ_CHECK(memchr(name, ' ', nl) == NULL && memchr(val, ' ', vl) == NULL);

        char *out = malloc(vl + 1);
        FUZZ_CHECK(out != NULL);
        bool ok = lk_rec_unescape(val, vl, out, vl + 1);
        if (ok) {
            /* a buffer one byte too small must be refused, not overrun */
            size_t outlen = 0;
            /* count decoded bytes (the text may hold %00) */
            for (size_t i = 0; i < vl; i++, outlen++)
                if (val[i] == '%')
                    i += 2;
            FUZZ_CHECK(outlen <= vl);
            char *tight = malloc(outlen ? outlen : 1);
            FUZZ_CHECK(tight != NULL);
            FUZZ_CHECK(!lk_rec_unescape(val, vl, tight, outlen));
            free(tight);
        }
        FUZZ_CHECK(!lk_rec_unescape(val, vl, out, 0));
        free(out);

        uint64_t u;
        int64_t i64;
        if (lk_rec_parse_u64(val, vl, &u)) {
            char num[24];
            snprintf(num, sizeof num, "%" PRIu64, u);
            /* leading zeros are accepted, so compare numerically via the text without them */
            size_t z = 0;
            while (z + 1 < vl && val[z] == '0')
                z++;
            FUZZ_CHECK(strlen(num) == vl - z && memcmp(num, val + z, vl - z) == 0);
        }
        if (lk_rec_parse_i64(val, vl, &i64)) {
            FUZZ_CHECK(vl > 0 && (val[0] == '-' || (val[0] >= '0' && val[0] <= '9')));
        }
        char **items;
        size_t n;
        bool oom;
        if (lk_rec_parse_list(val, vl, 64, 64, &items, &n, &oom)) {
            FUZZ_CHECK(n <= 64);
            FUZZ_CHECK(n == 0 || items != NULL);
            for (size_t k = 0; k < n; k++)
                FUZZ_CHECK(items[k][0] != '\0' && strlen(items[k]) <= 64);
            if (n > 0)
                FUZZ_CHECK(items[n] == NULL);
        } else {
            FUZZ_CHECK(!oom);
        }
        free(items);

        const char *fv;
        size_t fl;
        char key[32];
        if (nl < sizeof key && memchr(name, '\0', nl) == NULL) {
            memcpy(key, name, nl);
            key[nl] = '\0';
            /* the first field of that name is found (it may be an earlier one) */
            FUZZ_CHECK(lk_rec_find(rec, size, key, &fv, &fl));
            FUZZ_CHECK(fv >= rec && fv + fl <= end);
        }
    }
    free(rec);
}

typedef struct field {
    char name[8];
    int kind; /* 0 text, 1 u64, 2 i64, 3 list */
    char *text;
    uint64_t u;
    int64_t i;
    char *items[MAX_ITEMS];
    size_t nitems;
} field;

static void build_mode(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    field f[MAX_FIELDS];
    size_t nf = fz_u8(&in) % (MAX_FIELDS + 1);
    lk_rec r;

    memset(f, 0, sizeof f);
    lk_rec_init(&r);
    for (size_t k = 0; k < nf; k++) {
        /* names are code constants in real use: distinct lowercase words */
        snprintf(f[k].name, sizeof f[k].name, "f%zu", k);
        f[k].kind = fz_u8(&in) % 4;
        switch (f[k].kind) {
        case 0:
            f[k].text = fz_str(&in, 512, NULL);
            lk_rec_add(&r, f[k].name, f[k].text);
            break;
        case 1:
            f[k].u = fz_u64(&in);
            lk_rec_add_u64(&r, f[k].name, f[k].u);
            break;
        case 2:
            f[k].i = (int64_t)fz_u64(&in);
            lk_rec_add_i64(&r, f[k].name, f[k].i);
            break;
        default:
            f[k].nitems = fz_u8(&in) % (MAX_ITEMS + 1);
            for (size_t j = 0; j < f[k].nitems; j++)
                f[k].items[j] = fz_str(&in, 64, NULL);
            lk_rec_add_list(&r, f[k].name, (const char *const *)f[k].items, f[k].nitems);
            break;
        }
    }
    FUZZ_CHECK(lk_rec_status(&r) == LK_OK);
    FUZZ_CHECK(r.len == 0 || (r.buf != NULL && strlen(r.buf) == r.len));

    /* one printable line: no control bytes, no space except between fields */
    size_t spaces = 0;
    for (size_t i = 0; i < r.len; i++) {
        unsigned char c = (unsigned char)r.buf[i];
        FUZZ_CHECK(c > 0x20 || c == ' ');
        FUZZ_CHECK(c != 0x7f);
        spaces += c == ' ';
    }
    FUZZ_CHECK(spaces == (nf ? nf - 1 : 0));

    for (size_t k = 0; k < nf; k++) {
        const char *v;
        size_t vl;
        FUZZ_CHECK(lk_rec_find(r.buf, r.len, f[k].name, &v, &vl));
        switch (f[k].kind) {
        case 0: {
            char *out = malloc(vl + 1);
            FUZZ_CHECK(out != NULL);
            FUZZ_CHECK(lk_rec_unescape(v, vl, out, vl + 1));
            FUZZ_CHECK(strcmp(out, f[k].text) == 0);
            free(out);
            break;
        }
        case 1: {
            uint64_t u;
            FUZZ_CHECK(lk_rec_parse_u64(v, vl, &u) && u == f[k].u);
            break;
        }
        case 2: {
            int64_t i;
            FUZZ_CHECK(lk_rec_parse_i64(v, vl, &i) && i == f[k].i);
            break;
        }
        default: {
            char **items;
            size_t n;
            bool oom, has_empty = false;
            for (size_t j = 0; j < f[k].nitems; j++)
                has_empty |= f[k].items[j][0] == '\0';
            bool ok = lk_rec_parse_list(v, vl, MAX_ITEMS, 64, &items, &n, &oom);
            if (has_empty) { /* documented: list items cannot be empty */
                FUZZ_CHECK(!ok || f[k].nitems == 1);
            } else {
                FUZZ_CHECK(ok);
                FUZZ_CHECK(n == f[k].nitems);
                for (size_t j = 0; j < n; j++)
                    FUZZ_CHECK(strcmp(items[j], f[k].items[j]) == 0);
            }
            free(items);
            break;
        }
        }
    }

    lk_rec_free(&r);
    for (size_t k = 0; k < nf; k++) {
        free(f[k].text);
        for (size_t j = 0; j < f[k].nitems; j++)
            free(f[k].items[j]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'P')
        parse_mode(data + 1, size - 1);
    else if (size > 0)
        build_mode(data + 1, size - 1);
    return 0;
}
