/*
 * fuzz_common.h — shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK(cond) turns a broken invariant into an abort(), which libFuzzer
 * reports as a crash and saves the input for (crash-*). Every target is
 * built with -fsanitize=fuzzer,address,undefined.
 */
#ifndef LK_FUZZ_COMMON_H
#define LK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                                          \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                         \
            abort();                                                                                             \
        }                                                                                                        \
    } while (0)

/* Reads bounded pieces off the fuzzer's input, like a tiny FuzzedDataProvider. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | fz_u8(in);
    return v;
}

/* A NUL-terminated copy of the next piece: up to the next 0xff byte (or the
 * end), at most max bytes. The caller frees it. Embedded NULs stay (so C
 * string functions see a shorter string, as they would in real use); *len
 * gets the byte count. */
static inline char *fz_str(fz_in *in, size_t max, size_t *len)
{
    size_t l = 0;
    while (l < in->n && l < max && in->p[l] != 0xff)
        l++;
    char *s = malloc(l + 1);
    if (s == NULL)
        abort();
    memcpy(s, in->p, l);
    s[l] = '\0';
    in->p += l;
    in->n -= l;
    if (in->n > 0 && in->p[0] == 0xff) { /* eat the separator */
        in->p++;
        in->n--;
    }
    if (len)
        *len = l;
    return s;
}

#endif
