/* secret_in.c — bounded read of one line of stdin into locked memory, and
 * the unbuffered write of a secret to stdout. */
#include "secret_in.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* read(2), not stdio: a FILE buffer would keep a copy of the secret in
 * memory nobody wipes. */
enum secret_in_result secret_in_read(struct secret_in *s)
{
    size_t cap = sizeof s->buf - 1, got = 0;
    char *nl = NULL;
    /* Locking can fail under a low RLIMIT_MEMLOCK; the read still works,
     * only without the no-swap guarantee. */
    s->locked = sodium_mlock(s->buf, sizeof s->buf) == 0;
    s->len = 0;
    while (got < cap && !nl) {
        ssize_t n = read(STDIN_FILENO, s->buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return SECRET_IN_IO;
        if (n == 0)
            break;
        nl = memchr(s->buf + got, '\n', (size_t)n);
        got += (size_t)n;
    }
    size_t len = nl ? (size_t)(nl - s->buf) : got;
    if (!nl && got == cap)
        return SECRET_IN_TOO_LONG; /* no line end within the limit */
    if (len > 0 && s->buf[len - 1] == '\r')
        len--;
    if (len > SECRET_IN_MAX)
        return SECRET_IN_TOO_LONG;
    s->buf[len] = '\0';
    s->len = len;
    return SECRET_IN_OK;
}

void secret_in_wipe(struct secret_in *s)
{
    sodium_memzero(s->buf, sizeof s->buf);
    if (s->locked)
        sodium_munlock(s->buf, sizeof s->buf);
    s->locked = 0;
    s->len = 0;
}

int secret_write_direct(FILE *f, const char *s, size_t len)
{
    if (fflush(f) != 0)
        return -1;
    int fd = fileno(f);
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}
