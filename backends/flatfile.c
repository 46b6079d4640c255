/*
 * flatfile.c — a human-readable, diffable text store (format: see
 * flatfile_parse.h).
 *
 * Concurrency model:
 *   - The loaded file is an immutable, refcounted snapshot (sorted array of
 *     key/value slices over one buffer). A txn holds a reference, so a reload
 *     by another thread never disturbs it; the handle's mutex only guards the
 *     swap of the current snapshot.
 *   - Readers take no lock: every read begin() stats PATH and reloads when
 *     (dev, ino, size, mtime, ctime) changed. Writers replace the file by
 *     rename, so a reader sees the old or the new file, never a torn one.
 *   - A write txn holds an exclusive flock on PATH.lock (one writer across
 *     threads and processes: each txn opens its own descriptor, so threads of
 *     one process exclude each other too), reloads the file if it changed,
 *     and collects puts/deletes in a sorted overlay. Commit writes
 *     PATH.tmp.<pid>, fsyncs it, renames it over PATH and fsyncs the
 *     directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flatfile_parse.h"
#include "lk_backend.h"
#include "lk_error.h"
#include "store_file.h"

/* Same limit as LMDB, so a store can move between backends. */
#define FF_MAX_KEY 511

/* ================================================================ format */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int lk_ff_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

void lk_flatfile_table_free(lk_ff_table *t)
{
    if (t == NULL)
        return;
    free(t->buf);
    free(t->ent);
    t->buf = NULL;
    t->ent = NULL;
    t->n = 0;
}

/* Only used when the file is out of order: keeps the line for messages. */
typedef struct ff_sortent {
    lk_ff_entry e;
    size_t line;
} ff_sortent;

static int sortent_cmp(const void *pa, const void *pb)
{
    const ff_sortent *a = pa, *b = pb;
    int c = lk_ff_keycmp(a->e.key, a->e.klen, b->e.key, b->e.klen);
    if (c != 0)
        return c;
    return (a->line > b->line) - (a->line < b->line);
}

/* A hand-edited file may be out of order: sort it, but refuse duplicate keys
 * (which one would win is not obvious to the editor). */
static lk_status sort_entries(const char *name, lk_ff_entry *ent, size_t n)
{
    ff_sortent *s = malloc(n * sizeof *s);
    if (s == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory sorting flat store %s", name);
    for (size_t i = 0; i < n; i++) {
        s[i].e = ent[i];
        s[i].line = i + 2; /* every line after the header is one record */
    }
    qsort(s, n, sizeof *s, sortent_cmp);
    for (size_t i = 1; i < n; i++) {
        if (lk_ff_keycmp(s[i - 1].e.key, s[i - 1].e.klen, s[i].e.key, s[i].e.klen) == 0) {
            size_t l1 = s[i - 1].line, l2 = s[i].line;
            free(s);
            return lk_seterr(LK_ERR_STORE, "flat store %s line %zu: duplicate key (also on line %zu)", name, l2, l1);
        }
    }
    for (size_t i = 0; i < n; i++)
        ent[i] = s[i].e;
    free(s);
    return LK_OK;
}

lk_status lk_flatfile_parse(const char *name, const char *text, size_t len, lk_ff_table *out)
{
    static const char header[] = LK_FLATFILE_HEADER;
    const size_t hlen = sizeof header - 1;

    out->buf = NULL;
    out->ent = NULL;
    out->n = 0;
    if (name == NULL)
        name = "(buffer)";
    if (text == NULL || len < hlen || memcmp(text, header, hlen) != 0 || (len > hlen && text[hlen] != '\n'))
        return lk_seterr(LK_ERR_STORE, "not a latchkey flat store: %s line 1", name);
    /* The writer ends every line with '\n' and replaces the file whole, so a
     * last line without one means the file was cut short (a copy that ran
     * out of space, a bad restore): refuse it rather than read the cut
     * record and silently lose every one after it. */
    if (text[len - 1] != '\n') {
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        return lk_seterr(LK_ERR_STORE, "flat store %s line %zu: no line end: the file is cut short (truncated?)",
                         name, lines);
    }

    const char *p = text + (len > hlen ? hlen + 1 : hlen);
    const char *end = text + len;
    size_t rest = (size_t)(end - p);

    /* Upper bound on records: one per newline, plus an unterminated last line. */
    size_t lines = 0;
    for (const char *q = p; q < end; q++) {
        q = memchr(q, '\n', (size_t)(end - q));
        if (q == NULL)
            break;
        lines++;
    }
    lines++;

    /* Decoding never grows the data, so one buffer of the input size holds it. */
    char *buf = malloc(rest + 1);
    lk_ff_entry *ent = lines <= SIZE_MAX / sizeof *ent ? malloc(lines * sizeof *ent) : NULL;
    if (buf == NULL || ent == NULL) {
        free(buf);
        free(ent);
        return lk_seterr(LK_ERR_NOMEM, "out of memory loading flat store %s", name);
    }

    char *w = buf;
    size_t n = 0, line = 2;
    bool sorted = true;
    lk_status st = LK_OK;
    for (; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        char *k = w;
        if (le == p) {
            st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: empty line", name, line);
            goto fail;
        }
        while (q < le && *q != '\t') {
            unsigned char c = (unsigned char)*q;
            if (c == '%') {
                if (le - q < 3 || hexval((unsigned char)q[1]) < 0 || hexval((unsigned char)q[2]) < 0) {
                    st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: bad %%-escape in key", name, line);
                    goto fail;
                }
                *w++ = (char)(hexval((unsigned char)q[1]) << 4 | hexval((unsigned char)q[2]));
                q += 3;
            } else if ((c >= 0x21 && c <= 0x7e) || c >= 0x80) {
                *w++ = (char)c;
                q++;
            } else {
                st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: byte 0x%02x in key is not %%-escaped", name,
                               line, c);
                goto fail;
            }
        }
        if (q == le) {
            st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: no TAB between key and value", name, line);
            goto fail;
        }
        if (w == k) {
            st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: empty key", name, line);
            goto fail;
        }
        size_t klen = (size_t)(w - k);
        char *v = w;
        for (q++; q < le;) {
            unsigned char c = (unsigned char)*q;
            if (c == '%') {
                if (le - q < 3 || hexval((unsigned char)q[1]) < 0 || hexval((unsigned char)q[2]) < 0) {
                    st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: bad %%-escape in value", name, line);
                    goto fail;
                }
                *w++ = (char)(hexval((unsigned char)q[1]) << 4 | hexval((unsigned char)q[2]));
                q += 3;
            } else if ((c >= 0x20 && c <= 0x7e) || c >= 0x80) {
                *w++ = (char)c;
                q++;
            } else {
                st = lk_seterr(LK_ERR_STORE, "flat store %s line %zu: byte 0x%02x in value is not %%-escaped", name,
                               line, c);
                goto fail;
            }
        }
        ent[n].key = k;
        ent[n].klen = klen;
        ent[n].val = v;
        ent[n].vlen = (size_t)(w - v);
        if (n > 0 && sorted && lk_ff_keycmp(ent[n - 1].key, ent[n - 1].klen, k, klen) >= 0)
            sorted = false;
        n++;
        p = nl ? nl + 1 : end;
    }
    if (!sorted && (st = sort_entries(name, ent, n)) != LK_OK)
        goto fail;
    out->buf = buf;
    out->ent = ent;
    out->n = n;
    return LK_OK;
fail:
    free(buf);
    free(ent);
    return st;
}

static bool must_escape(unsigned char c, bool is_key, bool last)
{
    if (c == '%' || c < 0x20 || c == 0x7f)
        return true;
    return c == ' ' && (is_key || last);
}

static size_t enc_len(const char *s, size_t n, bool is_key)
{
    size_t len = n;
    for (size_t i = 0; i < n; i++)
        if (must_escape((unsigned char)s[i], is_key, i + 1 == n))
            len += 2;
    return len;
}

static char *enc(char *w, const char *s, size_t n, bool is_key)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (must_escape(c, is_key, i + 1 == n)) {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        } else {
            *w++ = (char)c;
        }
    }
    return w;
}

lk_status lk_flatfile_format(const lk_ff_entry *ent, size_t n, char **out, size_t *outlen)
{
    static const char header[] = LK_FLATFILE_HEADER "\n";
    size_t total = sizeof header - 1;
    for (size_t i = 0; i < n; i++) {
        /* Escaping at most triples a byte; refuse sizes whose sum could wrap. */
        if (ent[i].klen > SIZE_MAX / 8 || ent[i].vlen > SIZE_MAX / 8)
            return lk_seterr(LK_ERR_NOMEM, "flat store record too large");
        size_t add = enc_len(ent[i].key, ent[i].klen, true) + enc_len(ent[i].val, ent[i].vlen, false) + 2;
        if (add > SIZE_MAX - total)
            return lk_seterr(LK_ERR_NOMEM, "flat store too large");
        total += add;
    }
    char *buf = malloc(total);
    if (buf == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing flat store (%zu bytes)", total);
    char *w = buf;
    memcpy(w, header, sizeof header - 1);
    w += sizeof header - 1;
    for (size_t i = 0; i < n; i++) {
        w = enc(w, ent[i].key, ent[i].klen, true);
        *w++ = '\t';
        w = enc(w, ent[i].val, ent[i].vlen, false);
        *w++ = '\n';
    }
    *out = buf;
    *outlen = (size_t)(w - buf);
    return LK_OK;
}

/* ================================================================ snapshots */

typedef struct ff_snap {
    atomic_size_t refs;
    lk_ff_table t;
    /* Kept open so the inode cannot be freed and its number reused by a later
     * commit while we compare against it (rename-based writes would
     * otherwise make "same ino, same size, same coarse mtime" ambiguous). */
    int fd;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
} ff_snap;

typedef struct ff_handle {
    char *path;
    char *lockpath;
    char *dir;
    int read_only;
    pid_t pid;             /* a forked child must not touch `lock` */
    pthread_mutex_t lock;  /* guards cur */
    ff_snap *cur;          /* the handle holds one reference */
} ff_handle;

/* A pending change of a write txn. Replaced entries are kept until the txn
 * ends, so pointers returned by get/scan stay valid (and scan can re-seek
 * after its callback wrote). */
typedef struct ff_ov {
    struct ff_ov *next_garbage;
    size_t klen, vlen;
    bool del;
    char data[]; /* key bytes, then value bytes */
} ff_ov;

typedef struct ff_txn {
    ff_handle *h;
    ff_snap *snap;
    bool write;
    int lockfd;
    ff_ov **ov; /* sorted by key */
    size_t nov, ovcap;
    ff_ov *garbage;
    unsigned long gen; /* bumped by every put/del */
} ff_txn;

static lk_status errno_status(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return LK_ERR_STORE_FULL;
    case EACCES:
    case EPERM:
    case EROFS:
        return LK_ERR_STORE_PERM;
    case ENOMEM:
        return LK_ERR_NOMEM;
    default:
        return LK_ERR_STORE;
    }
}


static bool ts_eq(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Is s a snapshot of the file st describes? */
static bool snap_is(const ff_snap *s, const struct stat *st)
{
    return s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size && ts_eq(s->mtim, st->st_mtim) &&
           ts_eq(s->ctim, st->st_ctim);
}

static bool snap_same(const ff_snap *a, const ff_snap *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && ts_eq(a->mtim, b->mtim) &&
           ts_eq(a->ctim, b->ctim);
}

static void snap_unref(ff_snap *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    lk_flatfile_table_free(&s->t);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

/* Wrap a parsed table; takes ownership of fd and t. */
static lk_status snap_new(int fd, const struct stat *st, lk_ff_table *t, const char *path, ff_snap **out)
{
    ff_snap *s = malloc(sizeof *s);
    if (s == NULL) {
        lk_flatfile_table_free(t);
        close(fd);
        return lk_seterr(LK_ERR_NOMEM, "out of memory loading flat store %s", path);
    }
    atomic_init(&s->refs, 1);
    s->t = *t;
    s->fd = fd;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtim = st->st_mtim;
    s->ctim = st->st_ctim;
    *out = s;
    return LK_OK;
}

static lk_status read_all(int fd, const char *path, size_t hint, char **out, size_t *outlen)
{
    size_t cap = hint < SIZE_MAX - 4096 ? hint + 4096 : hint, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory reading flat store %s (%zu bytes)", path, hint);
    for (;;) {
        if (len == cap) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                free(buf);
                return lk_seterr(LK_ERR_NOMEM, "out of memory reading flat store %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            free(buf);
            return lk_seterr(errno_status(e), "cannot read flat store %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *out = buf;
    *outlen = len;
    return LK_OK;
}

/* Read and parse PATH into a new snapshot (refs 1). */
static lk_status ff_load(const ff_handle *h, ff_snap **out)
{
    int fd = open(h->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return lk_seterr(LK_ERR_STORE, "flat store %s does not exist", h->path);
        if (e == ELOOP)
            return lk_seterr(LK_ERR_STORE_PERM, "flat store %s is a symbolic link; give the real path", h->path);
        return lk_seterr(errno_status(e), "cannot open flat store %s: %s", h->path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lk_seterr(errno_status(e), "cannot stat flat store %s: %s", h->path, strerror(e));
    }
    lk_status rc = lk_store_check_owner_mode("flat store", h->path, "file", &st);
    char *text = NULL;
    size_t len = 0;
    if (rc == LK_OK)
        rc = read_all(fd, h->path, st.st_size > 0 ? (size_t)st.st_size : 0, &text, &len);
    lk_ff_table t;
    if (rc == LK_OK) {
        rc = lk_flatfile_parse(h->path, text, len, &t);
        free(text);
    }
    if (rc != LK_OK) {
        close(fd);
        return rc;
    }
    return snap_new(fd, &st, &t, h->path, out);
}

/* Make s the handle's current snapshot unless one for the same file is
 * already there; return a new reference to whichever is current. Consumes
 * the caller's reference to s. */
static ff_snap *snap_install(ff_handle *h, ff_snap *s)
{
    ff_snap *old, *ret;
    pthread_mutex_lock(&h->lock);
    old = h->cur;
    if (old != NULL && snap_same(old, s)) {
        /* Another thread loaded the same version meanwhile. */
        atomic_fetch_add(&old->refs, 1);
        ret = old;
        old = s;
    } else {
        atomic_fetch_add(&s->refs, 1); /* one for the handle, one for the caller */
        h->cur = s;
        ret = s;
    }
    pthread_mutex_unlock(&h->lock);
    snap_unref(old);
    return ret;
}

/* A reference to a snapshot of PATH as it is now (reloading if it changed). */
static lk_status ff_current(ff_handle *h, ff_snap **out)
{
    struct stat st;
    if (stat(h->path, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            return lk_seterr(LK_ERR_STORE, "flat store %s does not exist", h->path);
        return lk_seterr(errno_status(e), "cannot stat flat store %s: %s", h->path, strerror(e));
    }
    pthread_mutex_lock(&h->lock);
    ff_snap *s = h->cur;
    if (s != NULL && snap_is(s, &st)) {
        atomic_fetch_add(&s->refs, 1);
        pthread_mutex_unlock(&h->lock);
        *out = s;
        return LK_OK;
    }
    pthread_mutex_unlock(&h->lock);

    /* Load outside the lock: readers of the old snapshot are not held up. */
    lk_status rc = ff_load(h, &s);
    if (rc != LK_OK)
        return rc;
    *out = snap_install(h, s);
    return LK_OK;
}

/* ================================================================ file writing */

static lk_status lock_open(const ff_handle *h, int *fdp)
{
    int fd = open(h->lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        lk_store_give_to_owner(fd, h->path);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return lk_seterr(LK_ERR_STORE_PERM, "flat store lock file %s is a symbolic link; refusing it",
                             h->lockpath);
        return lk_seterr(errno_status(e), "cannot open flat store lock file %s: %s", h->lockpath, strerror(e));
    }
    struct stat st;
    lk_status rc;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = lk_seterr(errno_status(e), "cannot stat flat store lock file %s: %s", h->lockpath, strerror(e));
    } else {
        rc = lk_store_check_owner_mode("flat store", h->lockpath, "lock file", &st);
    }
    while (rc == LK_OK && flock(fd, LOCK_EX) != 0) {
        int e = errno;
        if (e != EINTR)
            rc = lk_seterr(errno_status(e), "cannot lock flat store lock file %s: %s", h->lockpath, strerror(e));
    }
    if (rc != LK_OK) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return LK_OK;
}

static void lock_release(int fd)
{
    /* Explicit unlock: a forked child may hold a copy of this descriptor,
     * and close() alone would then keep the lock. */
    flock(fd, LOCK_UN);
    close(fd);
}

static lk_status write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t r = write(fd, buf, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* cannot happen on a regular file; never spin */
            return LK_ERR_STORE;
        }
        buf += r;
        len -= (size_t)r;
    }
    return LK_OK;
}

/* Remove PATH.tmp.<pid> files left by writers killed mid-commit: each is a
 * full copy of the store. A writer creates its temp file only while holding
 * the lock, which our caller holds now, so every one found is abandoned. */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = slash ? strndup(path, dlen ? dlen : 1) : strdup(".");
    char prefix[512];
    int plen = snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = dir && plen > 0 && (size_t)plen < sizeof prefix ? opendir(dir) : NULL;
    free(dir);
    if (d == NULL)
        return; /* best effort: a leftover costs disk space, never correctness */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, prefix, (size_t)plen) != 0 || name[plen] == '\0' ||
            strspn(name + plen, "0123456789") != strlen(name + plen))
            continue;
        (void)unlinkat(dirfd(d), name, 0);
    }
    closedir(d);
}

/* Replace PATH with text[0..len) atomically; the caller holds the flock.
 * On success *snap (if not NULL) is a snapshot of the new file, or NULL when
 * it could not be built (the next begin then reloads from disk). */
static lk_status write_file(const ff_handle *h, const char *text, size_t len, ff_snap **snap)
{
    lk_status rc = LK_OK;
    size_t tlen = strlen(h->path) + 32;
    char *tmp = malloc(tlen);
    if (snap != NULL)
        *snap = NULL;
    if (tmp == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing flat store %s", h->path);
    snprintf(tmp, tlen, "%s.tmp.%ld", h->path, (long)getpid());

    remove_stale_temps(h->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        lk_store_give_to_owner(fd, h->path); /* the rename must not take the store from its owner */
    if (fd < 0) {
        int e = errno;
        rc = lk_seterr(errno_status(e), "cannot create %s (flat store %s unchanged): %s", tmp, h->path, strerror(e));
        free(tmp);
        return rc;
    }
    const char *step = NULL;
    if (write_all(fd, text, len) != LK_OK)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    else if (rename(tmp, h->path) != 0)
        step = "rename";
    if (step != NULL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        if (errno_status(e) == LK_ERR_STORE_FULL)
            rc = lk_seterr(LK_ERR_STORE_FULL, "flat store %s is full: cannot %s %s: %s (store unchanged)", h->path,
                           step, tmp, strerror(e));
        else
            rc = lk_seterr(errno_status(e), "cannot %s %s (flat store %s unchanged): %s", step, tmp, h->path,
                           strerror(e));
        free(tmp);
        return rc;
    }
    free(tmp);

    /* Make the rename itself durable. The new file is already visible, so a
     * failure here is reported as "maybe not durable", not rolled back. */
    int dfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        int e = errno;
        rc = lk_seterr(errno_status(e), "flat store %s written, but syncing directory %s failed: %s", h->path, h->dir,
                       strerror(e));
    }
    if (dfd >= 0)
        close(dfd);

    /* The snapshot of what we just wrote keeps fd (see ff_snap.fd). Stat
     * after the rename, which may change ctime (ext4 does). */
    struct stat st;
    lk_ff_table t;
    if (snap != NULL && fstat(fd, &st) == 0 && lk_flatfile_parse(h->path, text, len, &t) == LK_OK) {
        if (snap_new(fd, &st, &t, h->path, snap) != LK_OK)
            *snap = NULL; /* snap_new closed fd */
        return rc;
    }
    close(fd);
    return rc;
}

/* ================================================================ handle */

static char *str_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}


static void ff_free_handle(ff_handle *h)
{
    free(h->path);
    free(h->lockpath);
    free(h->dir);
    free(h);
}

/* lstat PATH: *exists, and the ownership/mode checks when it does. */
static lk_status check_existing(const char *path, const char *what, bool *exists)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT) {
            *exists = false;
            return LK_OK;
        }
        return lk_seterr(errno_status(e), "cannot stat flat store %s %s: %s", what, path, strerror(e));
    }
    *exists = true;
    if (S_ISLNK(st.st_mode))
        return lk_seterr(LK_ERR_STORE_PERM,
                         "flat store %s %s is a symbolic link; refusing it (writes replace the file: give the real path)",
                         what, path);
    return lk_store_check_owner_mode("flat store", path, what, &st);
}

/* Write a store holding only the header, unless another process just did. */
static lk_status ff_create(ff_handle *h)
{
    int lfd;
    lk_status rc = lock_open(h, &lfd);
    if (rc != LK_OK)
        return rc;
    bool exists;
    rc = check_existing(h->path, "file", &exists);
    if (rc == LK_OK && !exists) {
        char *text;
        size_t len;
        rc = lk_flatfile_format(NULL, 0, &text, &len);
        if (rc == LK_OK) {
            rc = write_file(h, text, len, NULL);
            free(text);
        }
    }
    lock_release(lfd);
    return rc;
}

static lk_status ff_open(const lk_backend_conf *conf, void **handle)
{
    if (conf == NULL || conf->path == NULL || conf->path[0] == '\0' || handle == NULL)
        return lk_seterr(LK_ERR_PARAM, "flat store: no store path given");
    *handle = NULL;

    ff_handle *h = calloc(1, sizeof *h);
    if (h == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening flat store %s", conf->path);
    h->path = strdup(conf->path);
    h->lockpath = str_concat(conf->path, ".lock");
    h->dir = lk_store_dir_of(conf->path);
    h->read_only = conf->read_only;
    h->pid = getpid();
    if (h->path == NULL || h->lockpath == NULL || h->dir == NULL) {
        ff_free_handle(h);
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening flat store %s", conf->path);
    }

    lk_status rc;
    struct stat dst;
    bool exists = false, lock_exists;
    if (stat(h->dir, &dst) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            rc = lk_seterr(LK_ERR_STORE, "store directory %s does not exist", h->dir);
        else
            rc = lk_seterr(errno_status(e), "cannot stat store directory %s: %s", h->dir, strerror(e));
        goto fail;
    }
    if (!S_ISDIR(dst.st_mode)) {
        rc = lk_seterr(LK_ERR_STORE, "store directory %s is not a directory", h->dir);
        goto fail;
    }
    if ((rc = check_existing(h->path, "file", &exists)) != LK_OK ||
        (rc = check_existing(h->lockpath, "lock file", &lock_exists)) != LK_OK)
        goto fail;
    struct stat fst;
    uid_t owner = exists && lstat(h->path, &fst) == 0 ? fst.st_uid : geteuid();
    if ((rc = lk_store_check_dir("flat store", h->dir, &dst, owner)) != LK_OK)
        goto fail;
    if (!exists && (h->read_only || !conf->create)) {
        rc = lk_store_not_found("flat store", h->path);
        goto fail;
    }
    /* Every commit creates a temporary file beside the store. */
    if (!h->read_only && faccessat(AT_FDCWD, h->dir, W_OK | X_OK, AT_EACCESS) != 0) {
        rc = lk_seterr(LK_ERR_STORE_PERM,
                       "store directory %s is not writable: the flat store %s needs to create files there", h->dir,
                       h->path);
        goto fail;
    }
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        rc = lk_seterr(LK_ERR_INTERNAL, "flat store %s: cannot create a mutex", h->path);
        goto fail;
    }
    if (!exists && (rc = ff_create(h)) != LK_OK)
        goto fail_mutex;

    /* Load now so a corrupt store fails the open, not the first lookup. */
    ff_snap *s;
    if ((rc = ff_current(h, &s)) != LK_OK)
        goto fail_mutex;
    snap_unref(s);
    *handle = h;
    return LK_OK;

fail_mutex:
    snap_unref(h->cur);
    pthread_mutex_destroy(&h->lock);
fail:
    ff_free_handle(h);
    return rc;
}

static void ff_close(void *handle)
{
    ff_handle *h = handle;
    if (h == NULL)
        return;
    /* In a forked child the mutex may have been held by a thread that does
     * not exist here: leave it alone, just release memory and descriptors. */
    if (h->pid == getpid())
        pthread_mutex_destroy(&h->lock);
    snap_unref(h->cur);
    ff_free_handle(h);
}

/* ================================================================ transactions */

static void txn_end(ff_txn *t)
{
    if (t->write) {
        for (size_t i = 0; i < t->nov; i++)
            free(t->ov[i]);
        free(t->ov);
        while (t->garbage != NULL) {
            ff_ov *g = t->garbage;
            t->garbage = g->next_garbage;
            free(g);
        }
        lock_release(t->lockfd);
    }
    snap_unref(t->snap);
    free(t);
}

static lk_status ff_begin(void *handle, int write, void **txn)
{
    ff_handle *h = handle;
    if (write && h->read_only)
        return lk_seterr(LK_ERR_STORE_PERM,
                         "flat store %s is open read-only: this process cannot write it (read-only filesystem or file)",
                         h->path);
    ff_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory starting a transaction on flat store %s", h->path);
    t->h = h;
    t->lockfd = -1;
    lk_status rc;
    if (write && (rc = lock_open(h, &t->lockfd)) != LK_OK) {
        free(t);
        return rc;
    }
    t->write = write != 0;
    /* Under the lock, this is the latest committed version. */
    if ((rc = ff_current(h, &t->snap)) != LK_OK) {
        t->snap = NULL;
        txn_end(t);
        return rc;
    }
    *txn = t;
    return LK_OK;
}

/* First index in the snapshot whose key is >= key. */
static size_t snap_lower(const ff_snap *s, const char *key, size_t klen)
{
    size_t lo = 0, hi = s->t.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lk_ff_keycmp(s->t.ent[mid].key, s->t.ent[mid].klen, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First overlay index whose key is >= key (or > key when `after`). */
static size_t ov_lower(const ff_txn *t, const char *key, size_t klen, bool after)
{
    size_t lo = 0, hi = t->nov;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lk_ff_keycmp(t->ov[mid]->data, t->ov[mid]->klen, key, klen);
        if (c < 0 || (after && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static lk_status ff_get(void *txn, const char *key, size_t klen, const char **val, size_t *vlen)
{
    ff_txn *t = txn;
    if (t->nov > 0) {
        size_t i = ov_lower(t, key, klen, false);
        if (i < t->nov && lk_ff_keycmp(t->ov[i]->data, t->ov[i]->klen, key, klen) == 0) {
            if (t->ov[i]->del)
                return LK_ERR_NOT_FOUND;
            *val = t->ov[i]->data + t->ov[i]->klen;
            *vlen = t->ov[i]->vlen;
            return LK_OK;
        }
    }
    const ff_snap *s = t->snap;
    size_t i = snap_lower(s, key, klen);
    if (i < s->t.n && lk_ff_keycmp(s->t.ent[i].key, s->t.ent[i].klen, key, klen) == 0) {
        *val = s->t.ent[i].val;
        *vlen = s->t.ent[i].vlen;
        return LK_OK;
    }
    return LK_ERR_NOT_FOUND;
}

static lk_status ov_set(ff_txn *t, const char *key, size_t klen, const char *val, size_t vlen, bool del)
{
    if (vlen > SIZE_MAX - sizeof(ff_ov) - klen)
        return lk_seterr(LK_ERR_NOMEM, "flat store %s: record too large", t->h->path);
    ff_ov *e = malloc(sizeof *e + klen + vlen);
    if (e == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing to flat store %s", t->h->path);
    e->next_garbage = NULL;
    e->klen = klen;
    e->vlen = vlen;
    e->del = del;
    memcpy(e->data, key, klen);
    if (vlen > 0)
        memcpy(e->data + klen, val, vlen);

    size_t i = ov_lower(t, key, klen, false);
    if (i < t->nov && lk_ff_keycmp(t->ov[i]->data, t->ov[i]->klen, key, klen) == 0) {
        t->ov[i]->next_garbage = t->garbage;
        t->garbage = t->ov[i];
        t->ov[i] = e;
    } else {
        if (t->nov == t->ovcap) {
            size_t cap = t->ovcap ? t->ovcap * 2 : 16;
            ff_ov **n = cap <= SIZE_MAX / sizeof *n ? realloc(t->ov, cap * sizeof *n) : NULL;
            if (n == NULL) {
                free(e);
                return lk_seterr(LK_ERR_NOMEM, "out of memory writing to flat store %s", t->h->path);
            }
            t->ov = n;
            t->ovcap = cap;
        }
        memmove(t->ov + i + 1, t->ov + i, (t->nov - i) * sizeof *t->ov);
        t->ov[i] = e;
        t->nov++;
    }
    t->gen++;
    return LK_OK;
}

static lk_status check_write(const ff_txn *t, const char *what)
{
    if (!t->write)
        return lk_seterr(LK_ERR_INTERNAL, "flat store %s: %s in a read transaction", t->h->path, what);
    return LK_OK;
}

static lk_status ff_put(void *txn, const char *key, size_t klen, const char *val, size_t vlen)
{
    ff_txn *t = txn;
    lk_status rc = check_write(t, "put");
    if (rc != LK_OK)
        return rc;
    if (klen == 0 || klen > FF_MAX_KEY)
        return lk_seterr(LK_ERR_PARAM, "flat store %s: key length %zu is outside 1..%d", t->h->path, klen,
                         FF_MAX_KEY);
    return ov_set(t, key, klen, val, vlen, false);
}

static lk_status ff_del(void *txn, const char *key, size_t klen)
{
    ff_txn *t = txn;
    lk_status rc = check_write(t, "delete");
    if (rc != LK_OK)
        return rc;
    const char *v;
    size_t vl;
    if ((rc = ff_get(t, key, klen, &v, &vl)) != LK_OK)
        return rc;
    return ov_set(t, key, klen, NULL, 0, true);
}

static bool has_prefix(const char *key, size_t klen, const char *prefix, size_t plen)
{
    return klen >= plen && (plen == 0 || memcmp(key, prefix, plen) == 0);
}

static lk_status ff_scan(void *txn, const char *prefix, size_t plen, lk_scan_fn fn, void *arg)
{
    ff_txn *t = txn;
    const ff_snap *s = t->snap;
    size_t i = snap_lower(s, prefix, plen);
    size_t j = ov_lower(t, prefix, plen, false);
    for (;;) {
        const lk_ff_entry *se = i < s->t.n && has_prefix(s->t.ent[i].key, s->t.ent[i].klen, prefix, plen)
                                    ? &s->t.ent[i]
                                    : NULL;
        const ff_ov *oe = j < t->nov && has_prefix(t->ov[j]->data, t->ov[j]->klen, prefix, plen) ? t->ov[j] : NULL;
        const char *k, *v;
        size_t kl, vl;
        if (se == NULL && oe == NULL)
            return LK_OK;
        int c = se == NULL ? 1 : oe == NULL ? -1 : lk_ff_keycmp(se->key, se->klen, oe->data, oe->klen);
        if (c < 0) {
            k = se->key, kl = se->klen, v = se->val, vl = se->vlen;
            i++;
        } else {
            /* The txn's own change wins over the snapshot. */
            if (c == 0)
                i++;
            j++;
            if (oe->del)
                continue;
            k = oe->data, kl = oe->klen, v = oe->data + oe->klen, vl = oe->vlen;
        }
        unsigned long gen = t->gen;
        if (fn(arg, k, kl, v, vl) != 0)
            return LK_OK;
        /* The callback wrote: the overlay moved, find our place again (k
         * stays valid: replaced entries live until the txn ends). */
        if (t->gen != gen)
            j = ov_lower(t, k, kl, true);
    }
}

typedef struct ff_delp {
    ff_txn *t;
    size_t n;
    lk_status st;
} ff_delp;

static int delp_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    ff_delp *d = arg;
    (void)v, (void)vl;
    if ((d->st = ov_set(d->t, k, kl, NULL, 0, true)) != LK_OK)
        return 1;
    d->n++;
    return 0;
}

/* Each key the txn sees under prefix, marked deleted in the overlay in key
 * order (no lookup per key, as del makes). */
static lk_status ff_del_prefix(void *txn, const char *prefix, size_t plen, size_t *deleted)
{
    ff_txn *t = txn;
    ff_delp d = {.t = t, .st = LK_OK};
    *deleted = 0;
    lk_status rc = check_write(t, "delete");
    if (rc != LK_OK)
        return rc;
    if (plen == 0)
        return lk_seterr(LK_ERR_INTERNAL, "flat store %s: delete of an empty prefix", t->h->path);
    if ((rc = ff_scan(t, prefix, plen, delp_cb, &d)) == LK_OK)
        rc = d.st;
    *deleted = d.n;
    return rc;
}

static lk_status ff_commit(void *txn)
{
    ff_txn *t = txn;
    ff_handle *h = t->h;
    if (!t->write || t->nov == 0) {
        txn_end(t);
        return LK_OK;
    }

    /* Merge the snapshot and the overlay into the new record list. */
    const ff_snap *s = t->snap;
    lk_status rc = LK_OK;
    size_t cap = s->t.n + t->nov, n = 0;
    lk_ff_entry *out = cap <= SIZE_MAX / sizeof *out ? malloc((cap ? cap : 1) * sizeof *out) : NULL;
    if (out == NULL) {
        rc = lk_seterr(LK_ERR_NOMEM, "out of memory committing to flat store %s", h->path);
        txn_end(t);
        return rc;
    }
    for (size_t i = 0, j = 0; i < s->t.n || j < t->nov;) {
        int c = i == s->t.n  ? 1
                : j == t->nov ? -1
                              : lk_ff_keycmp(s->t.ent[i].key, s->t.ent[i].klen, t->ov[j]->data, t->ov[j]->klen);
        if (c < 0) {
            out[n++] = s->t.ent[i++];
            continue;
        }
        if (c == 0)
            i++;
        const ff_ov *o = t->ov[j++];
        if (!o->del)
            out[n++] = (lk_ff_entry){o->data, o->klen, o->data + o->klen, o->vlen};
    }

    char *text;
    size_t len;
    rc = lk_flatfile_format(out, n, &text, &len);
    free(out);
    if (rc == LK_OK) {
        ff_snap *ns;
        rc = write_file(h, text, len, &ns);
        free(text);
        if (ns != NULL)
            snap_unref(snap_install(h, ns));
    }
    txn_end(t); /* releases the lock after the new file is in place */
    return rc;
}

static void ff_abort(void *txn)
{
    if (txn != NULL)
        txn_end(txn);
}

/* Every commit renames a new file over the path: the file's identity is
 * the epoch, so a host re-reads after any write here, access records
 * included (the flat store is for small stores; one stat per call). */
static lk_status ff_change_token(void *handle, uint64_t *epoch, uint64_t *token)
{
    ff_handle *h = handle;
    struct stat st;
    if (stat(h->path, &st) != 0)
        return lk_seterr(errno_status(errno), "cannot stat flat store %s: %s", h->path, strerror(errno));
    *epoch = (uint64_t)st.st_ino ^ ((uint64_t)st.st_dev << 32);
    *token = (uint64_t)st.st_size ^ ((uint64_t)st.st_mtim.tv_nsec << 20) ^ (uint64_t)st.st_mtim.tv_sec ^
             ((uint64_t)st.st_ctim.tv_nsec << 40);
    return LK_OK;
}

const lk_backend_ops lk_backend_flatfile = {
    .name = "flatfile",
    .open = ff_open,
    .close = ff_close,
    .begin = ff_begin,
    .commit = ff_commit,
    .abort = ff_abort,
    .get = ff_get,
    .put = ff_put,
    .del = ff_del,
    .scan = ff_scan,
    .change_token = ff_change_token,
    .del_prefix = ff_del_prefix,
};
