/*
 * ctx_pool.c — one shared lk_ctx per configuration file, per process.
 *
 * This is process-global state, which latchkey otherwise avoids: PAM offers
 * no other place for state that outlives a pam handle. It is safe to share:
 * an lk_ctx is thread-safe and reopens its store itself after fork(). The
 * module is linked with -z nodelete so that libpam's dlclose at pam_end
 * does not discard the pool.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctx_pool.h"

struct lk_pool_ref {
    struct lk_pool_ref *next;
    char *path;
    lk_ctx *ctx;
    struct stat seen; /* the config file (or socket) when ctx was opened */
    bool socket;      /* path is latchkeyd's socket, ctx from lk_connect */
    unsigned refs;
    bool retired;     /* the file changed: no new users; closed at refs == 0 */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lk_pool_ref *pool;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* In a forked child pool_lock may be held by a parent thread that does not
 * exist there: it can only be re-initialised. The list stays: every change
 * to it is one pointer store, and each ctx on it adopts itself after fork.
 * Refs taken by the parent's threads are never released in the child, so an
 * entry they pin is never closed there (a leak, not a hazard). */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool_lock, NULL);
}

static void register_fork_handler(void)
{
    /* Fails only for lack of memory: children are then as unprotected as
     * before the handler existed, which is all that can be done. */
    (void)pthread_atfork(NULL, NULL, pool_after_fork);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void unlink_and_close(struct lk_pool_ref *e)
{
    for (struct lk_pool_ref **p = &pool; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    lk_close(e->ctx);
    free(e->path);
    free(e);
}

/* A live entry for path matching the file as it is now; retires stale ones. */
static struct lk_pool_ref *find_live(const char *path, bool socket, const struct stat *now)
{
    for (struct lk_pool_ref *e = pool, *next; e; e = next) {
        next = e->next;
        if (e->retired || e->socket != socket || strcmp(e->path, path) != 0)
            continue;
        if (same_file(&e->seen, now))
            return e;
        e->retired = true;
        if (e->refs == 0)
            unlink_and_close(e);
    }
    return NULL;
}

static lk_status open_path(const char *path, bool socket, lk_ctx **out)
{
    return socket ? lk_connect(path, out) : lk_open(path, out);
}

static lk_status acquire(const char *config_path, bool socket, lk_ctx **ctx, lk_pool_ref **ref)
{
    struct stat now;
    lk_ctx *opened;

    *ctx = NULL;
    *ref = NULL;
    pthread_once(&fork_handler_once, register_fork_handler);
    if (stat(config_path, &now) != 0)
        return open_path(config_path, socket, ctx); /* fails, with its own message */

    pthread_mutex_lock(&pool_lock);
    struct lk_pool_ref *e = find_live(config_path, socket, &now);
    if (e != NULL) {
        e->refs++;
        pthread_mutex_unlock(&pool_lock);
        *ctx = e->ctx;
        *ref = e;
        return LK_OK;
    }
    pthread_mutex_unlock(&pool_lock);

    lk_status st = open_path(config_path, socket, &opened);
    if (st != LK_OK)
        return st;
    struct lk_pool_ref *fresh = calloc(1, sizeof *fresh);
    char *path = strdup(config_path);
    if (fresh == NULL || path == NULL) {
        free(fresh);
        free(path);
        lk_close(opened);
        return LK_ERR_NOMEM;
    }

    pthread_mutex_lock(&pool_lock);
    e = find_live(config_path, socket, &now); /* another thread may have opened it meanwhile */
    if (e == NULL) {
        fresh->path = path;
        fresh->ctx = opened;
        fresh->seen = now;
        fresh->socket = socket;
        fresh->next = pool;
        pool = fresh;
        e = fresh;
        fresh = NULL;
    }
    e->refs++;
    pthread_mutex_unlock(&pool_lock);
    if (fresh != NULL) {
        lk_close(opened);
        free(path);
        free(fresh);
    }
    *ctx = e->ctx;
    *ref = e;
    return LK_OK;
}

lk_status lk_pool_acquire(const char *config_path, lk_ctx **ctx, lk_pool_ref **ref)
{
    return acquire(config_path, false, ctx, ref);
}

lk_status lk_pool_acquire_socket(const char *socket_path, lk_ctx **ctx, lk_pool_ref **ref)
{
    return acquire(socket_path, true, ctx, ref);
}

lk_ctx *lk_pool_ctx(const lk_pool_ref *ref)
{
    return ref->ctx;
}

void lk_pool_release(lk_pool_ref *ref)
{
    if (ref == NULL)
        return;
    pthread_mutex_lock(&pool_lock);
    if (--ref->refs == 0 && ref->retired)
        unlink_and_close(ref);
    pthread_mutex_unlock(&pool_lock);
}

void lk_pool_flush_all(void)
{
    pthread_mutex_lock(&pool_lock);
    for (struct lk_pool_ref *e = pool; e; e = e->next) {
        lk_status st = lk_flush(e->ctx);
        (void)st; /* at exit there is no one left to tell */
    }
    pthread_mutex_unlock(&pool_lock);
}
