/*
 * heapscan.c — an LD_PRELOAD library for tests/e2e/heap.sh: every block
 * handed to free() or realloc() is searched for something shaped like a
 * secret (a SecretKey "LKSK" + 42, an API key "lk-" + 54 base62 characters),
 * and a hit is reported on stderr. Secrets live in sodium_malloc'd memory and
 * must never be copied into the ordinary heap, where freed memory keeps them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, malloc_usable_size */
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

void free(void *p);
void *realloc(void *p, size_t n);

static int base62(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int run_at(const unsigned char *s, size_t n, size_t i, size_t want)
{
    size_t k = 0;
    while (i + k < n && k < want && base62(s[i + k]))
        k++;
    return k == want;
}

static void scan(void *p)
{
    static const char msg[] = "heapscan: a freed heap block holds a secret\n";
    if (!p)
        return;
    const unsigned char *s = p;
    size_t n = malloc_usable_size(p);
    for (size_t i = 0; i + 4 <= n; i++) {
        if ((memcmp(s + i, "LKSK", 4) == 0 && run_at(s, n, i + 4, 42)) ||
            (memcmp(s + i, "lk-", 3) == 0 && run_at(s, n, i + 3, 54))) {
            if (write(2, msg, sizeof msg - 1) < 0) {
                /* nothing else to do */
            }
            return;
        }
    }
}

void free(void *p)
{
    static void (*real)(void *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "free");
    scan(p);
    real(p);
}

void *realloc(void *p, size_t n)
{
    static void *(*real)(void *, size_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "realloc");
    scan(p);
    return real(p, n);
}
