/*
 * secret_in.h — read a secret (SecretKey or API key) from standard input.
 *
 * Secrets never come from argv: argv is visible to every user through
 * /proc and lands in shell history.
 */
#ifndef LK_TOOLS_SECRET_IN_H
#define LK_TOOLS_SECRET_IN_H

#include <stddef.h>
#include <stdio.h>

#define SECRET_IN_MAX 4096 /* longest accepted line, in bytes */

struct secret_in {
    char buf[SECRET_IN_MAX + 3]; /* line + "\r\n" + NUL */
    size_t len;                  /* of the line, without its line end */
    int locked;
};

enum secret_in_result {
    SECRET_IN_OK,
    SECRET_IN_TOO_LONG, /* the first line is longer than SECRET_IN_MAX */
    SECRET_IN_IO        /* read error (errno set) */
};

/* Read the first line of fd 0 into s->buf (NUL-terminated, "\r\n" or "\n"
 * stripped). s should be heap memory: it is locked (sodium_mlock) so the
 * secret is not swapped out. Call secret_in_wipe whatever the result. */
enum secret_in_result secret_in_read(struct secret_in *s);
/* Zero and unlock the buffer. */
void secret_in_wipe(struct secret_in *s);

/* Write a secret s[0..len) straight to f's descriptor after flushing f, so no
 * copy of it stays in a stdio buffer. 0 or -1. */
int secret_write_direct(FILE *f, const char *s, size_t len);

#endif
