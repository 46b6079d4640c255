/*
 * lmdb.c — the LMDB backend: one MDB_env per handle.
 *
 * The env is opened with MDB_NOSUBDIR (the configured path is the data
 * file; LMDB keeps PATH-lock beside it) and MDB_NOTLS, so a read txn belongs
 * to the txn object, not to a thread: the core shares one handle across
 * threads, and finished read txns can be parked (mdb_txn_reset) and renewed
 * later by any thread. That keeps a read txn + get, the hot path of every
 * verification, free of malloc and of reader-table locking.
 *
 * The vtable's txn pointer is the MDB_txn itself; its handle is found with
 * mdb_txn_env + mdb_env_get_userctx.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "lk_backend.h"
#include "lk_error.h"
#include "store_file.h"

#define LM_DEFAULT_MAP_SIZE ((uint64_t)1 << 30)
/* Parked read txns. Each keeps a slot in the reader table (126 by default,
 * shared by all processes), so the pool stays small. */
#define LM_POOL_MAX 16

typedef struct lm_handle {
    MDB_env *env;
    MDB_dbi dbi;
    char *path;
    int read_only;
    int max_key;
    pid_t pid;                 /* the process that opened env */
    dev_t dev;                 /* the data file, to find this env again */
    ino_t ino;
    unsigned refs;             /* handles given out for this env (registry_lock) */
    struct lm_handle *next;    /* the registry list */
    _Atomic(MDB_txn *) wtxn;   /* the open write txn, to tell txns apart */
    pthread_mutex_t pool_lock; /* guards pool, npool */
    size_t npool;
    MDB_txn *pool[LM_POOL_MAX];
} lm_handle;

static lm_handle *handle_of(MDB_txn *t)
{
    return mdb_env_get_userctx(mdb_txn_env(t));
}

/* LMDB must not open one environment twice in a process: its fcntl locks are
 * per process, so a second mdb_env_open believes it is alone and resets the
 * reader table under the first, and closing either drops both's locks. So
 * opens of the same file in one process share one env, counted here. This
 * is the backend's only process-global state, and LMDB's rule is why. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_handle *registry;

static lm_handle *registry_find(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    for (lm_handle *h = registry; h; h = h->next)
        if (h->dev == st.st_dev && h->ino == st.st_ino && h->pid == getpid())
            return h;
    return NULL;
}

static void registry_unlink(lm_handle *h)
{
    for (lm_handle **p = &registry; *p; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            return;
        }
    }
}

static lk_status lm_status(int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return LK_ERR_STORE_FULL;
    case EACCES:
    case EPERM:
    case EROFS:
        return LK_ERR_STORE_PERM;
    default:
        return LK_ERR_STORE;
    }
}

static lk_status lm_err(const char *path, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return lk_seterr(LK_ERR_STORE_FULL, "lmdb store %s: %s: %s (raise store.map_size)", path, what,
                         mdb_strerror(rc));
    if (rc == MDB_MAP_RESIZED)
        return lk_seterr(LK_ERR_STORE,
                         "lmdb store %s: %s: %s (another process grew it past this process's map: give every "
                         "process the same store.map_size)",
                         path, what, mdb_strerror(rc));
    return lk_seterr(lm_status(rc), "lmdb store %s: %s: %s", path, what, mdb_strerror(rc));
}


static lk_status check_existing(const char *path, const char *what, bool *exists)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT) {
            *exists = false;
            return LK_OK;
        }
        return lk_seterr(lm_status(e), "cannot stat lmdb store %s %s: %s", what, path, strerror(e));
    }
    *exists = true;
    return lk_store_check_owner_mode("lmdb store", path, what, &st);
}


/* The checks before mdb_env_open: directory, file and lock file. */
static lk_status precheck(const char *path, int read_only)
{
    lk_status rc;
    char *dir = lk_store_dir_of(path);
    size_t plen = strlen(path);
    char *lockpath = malloc(plen + sizeof "-lock");
    if (dir == NULL || lockpath == NULL) {
        rc = lk_seterr(LK_ERR_NOMEM, "out of memory opening lmdb store %s", path);
        goto out;
    }
    memcpy(lockpath, path, plen);
    memcpy(lockpath + plen, "-lock", sizeof "-lock");

    struct stat dst;
    if (stat(dir, &dst) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            rc = lk_seterr(LK_ERR_STORE, "store directory %s does not exist", dir);
        else
            rc = lk_seterr(lm_status(e), "cannot stat store directory %s: %s", dir, strerror(e));
        goto out;
    }
    if (!S_ISDIR(dst.st_mode)) {
        rc = lk_seterr(LK_ERR_STORE, "store directory %s is not a directory", dir);
        goto out;
    }
    bool exists, lock_exists;
    if ((rc = check_existing(path, "file", &exists)) != LK_OK ||
        (rc = check_existing(lockpath, "lock file", &lock_exists)) != LK_OK)
        goto out;
    if (!exists && read_only) {
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s does not exist (a read-only open does not create it)", path);
        goto out;
    }
    if (!exists && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        rc = lk_seterr(LK_ERR_STORE_PERM, "cannot create lmdb store %s: directory %s is not writable", path, dir);
        goto out;
    }
    rc = LK_OK;
out:
    free(dir);
    free(lockpath);
    return rc;
}

static lk_status lm_open_env(const lk_backend_conf *conf, void **handle);

static lk_status lm_open(const lk_backend_conf *conf, void **handle)
{
    if (conf == NULL || conf->path == NULL || conf->path[0] == '\0' || handle == NULL)
        return lk_seterr(LK_ERR_PARAM, "lmdb store: no store path given");
    pthread_mutex_lock(&registry_lock);
    lm_handle *h = registry_find(conf->path);
    lk_status rc = LK_OK;
    if (h != NULL && h->read_only && !conf->read_only) {
        rc = lk_seterr(LK_ERR_STORE_PERM, "lmdb store %s is already open read-only in this process", conf->path);
    } else if (h != NULL) {
        /* the permission checks still apply to every open */
        if ((rc = precheck(conf->path, conf->read_only)) == LK_OK) {
            h->refs++;
            *handle = h;
        }
    } else if ((rc = lm_open_env(conf, handle)) == LK_OK) {
        h = *handle;
        h->refs = 1;
        h->next = registry;
        registry = h;
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

static lk_status lm_open_env(const lk_backend_conf *conf, void **handle)
{
    if (conf == NULL || conf->path == NULL || conf->path[0] == '\0' || handle == NULL)
        return lk_seterr(LK_ERR_PARAM, "lmdb store: no store path given");
    *handle = NULL;
    uint64_t map_size = conf->map_size ? conf->map_size : LM_DEFAULT_MAP_SIZE;
    if (map_size > SIZE_MAX)
        return lk_seterr(LK_ERR_PARAM, "lmdb store %s: map size %llu does not fit in the address space", conf->path,
                         (unsigned long long)map_size);

    lk_status rc = precheck(conf->path, conf->read_only);
    if (rc != LK_OK)
        return rc;

    lm_handle *h = calloc(1, sizeof *h);
    if (h == NULL || (h->path = strdup(conf->path)) == NULL) {
        free(h);
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening lmdb store %s", conf->path);
    }
    h->read_only = conf->read_only;
    h->pid = getpid();
    atomic_init(&h->wtxn, NULL);
    if (pthread_mutex_init(&h->pool_lock, NULL) != 0) {
        free(h->path);
        free(h);
        return lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: cannot create a mutex", conf->path);
    }

    int mrc = mdb_env_create(&h->env);
    if (mrc != 0) {
        rc = lm_err(h->path, mrc, "cannot create environment");
        h->env = NULL;
        goto fail;
    }
    mdb_env_set_userctx(h->env, h);
    if ((mrc = mdb_env_set_mapsize(h->env, (size_t)map_size)) != 0) {
        rc = lm_err(h->path, mrc, "cannot set map size");
        goto fail;
    }
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (h->read_only ? MDB_RDONLY : 0);
    if ((mrc = mdb_env_open(h->env, h->path, flags, 0600)) != 0) {
        rc = lm_err(h->path, mrc, "cannot open");
        goto fail;
    }

    /* Check again what was actually opened: the file may have been
     * swapped between the stat and the open. */
    int fd;
    struct stat st;
    if (mdb_env_get_fd(h->env, &fd) != 0 || fstat(fd, &st) != 0) {
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s: cannot stat the open file", h->path);
        goto fail;
    }
    if ((rc = lk_store_check_owner_mode("lmdb store", h->path, "file", &st)) != LK_OK)
        goto fail;
    /* A store cut short (a copy that ran out of space, a bad restore) still
     * opens, and the first touch of a page past the end of the file kills
     * the process with SIGBUS. Writers only ever grow the file before a
     * meta page points past it, so pages beyond the file mean damage. */
    MDB_envinfo info;
    MDB_stat mst;
    if (mdb_env_info(h->env, &info) == 0 && mdb_env_stat(h->env, &mst) == 0 &&
        ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize > (uint64_t)st.st_size) {
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s is truncated: %lld bytes, but its pages reach %llu bytes", h->path,
                       (long long)st.st_size, ((unsigned long long)info.me_last_pgno + 1) * mst.ms_psize);
        goto fail;
    }
    h->dev = st.st_dev;
    h->ino = st.st_ino;

    MDB_txn *t;
    if ((mrc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &t)) != 0) {
        rc = lm_err(h->path, mrc, "cannot begin a read transaction");
        goto fail;
    }
    /* Committing (not aborting) keeps the handle valid after the txn. */
    if ((mrc = mdb_dbi_open(t, NULL, 0, &h->dbi)) != 0)
        mdb_txn_abort(t);
    else
        mrc = mdb_txn_commit(t);
    if (mrc != 0) {
        rc = lm_err(h->path, mrc, "cannot open the main database");
        goto fail;
    }
    h->max_key = mdb_env_get_maxkeysize(h->env);
    /* Free reader slots left by crashed processes: they would pin old pages
     * and grow the file. Best effort. */
    int dead;
    (void)mdb_reader_check(h->env, &dead);
    *handle = h;
    return LK_OK;

fail:
    if (h->env != NULL)
        mdb_env_close(h->env);
    pthread_mutex_destroy(&h->pool_lock);
    free(h->path);
    free(h);
    return rc;
}

static void lm_close(void *handle)
{
    lm_handle *h = handle;
    if (h == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--h->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    if (h->pid != getpid()) {
        /* Inherited across fork(). LMDB forbids using the env in the child,
         * and closing it is worse: close() of its lock-file descriptor drops
         * every fcntl lock this process holds on PATH-lock (those of the
         * child's new env too), and when no other process holds one,
         * mdb_env_close() believes it is the last user and destroys the
         * shared mutexes under the child's new env. So the env, its
         * descriptors and parked txns are deliberately abandoned (once per
         * fork); it stays on the registry list, where its pid keeps it from
         * ever being matched again. */
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    registry_unlink(h);
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < h->npool; i++)
        mdb_txn_abort(h->pool[i]);
    mdb_env_close(h->env);
    pthread_mutex_destroy(&h->pool_lock);
    free(h->path);
    free(h);
}

/* LMDB 0.9 race: a reader delayed between reading the current txn id N and
 * copying meta page N&1 can copy the meta of txn N+2 (which reuses that
 * page), and its next txn then sees the past again. If, after the begin, no
 * meta newer than N+1 exists, the copy was N's; otherwise take a new
 * snapshot (a few tries are plenty: a commit takes milliseconds). */
static int settle_snapshot(lm_handle *h, MDB_txn *t)
{
    for (int tries = 0; tries < 3; tries++) {
        MDB_envinfo info;
        if (mdb_env_info(h->env, &info) != 0 || info.me_last_txnid <= mdb_txn_id(t) + 1)
            return 0;
        mdb_txn_reset(t);
        int rc = mdb_txn_renew(t);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static lk_status lm_begin(void *handle, int write, void **txn)
{
    lm_handle *h = handle;
    MDB_txn *t = NULL;
    int rc;
    if (write) {
        if (h->read_only)
            return lk_seterr(LK_ERR_STORE_PERM,
                         "lmdb store %s is open read-only: this process cannot write it (read-only filesystem or file)",
                         h->path);
        /* Blocks while another thread or process writes. */
        if ((rc = mdb_txn_begin(h->env, NULL, 0, &t)) != 0)
            return lm_err(h->path, rc, "cannot begin a write transaction");
        atomic_store(&h->wtxn, t);
        *txn = t;
        return LK_OK;
    }
    pthread_mutex_lock(&h->pool_lock);
    if (h->npool > 0)
        t = h->pool[--h->npool];
    pthread_mutex_unlock(&h->pool_lock);
    if (t != NULL) {
        if (mdb_txn_renew(t) == 0 && settle_snapshot(h, t) == 0) {
            *txn = t;
            return LK_OK;
        }
        mdb_txn_abort(t); /* a fresh txn below reports the cause, if any */
        t = NULL;
    }
    if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &t)) != 0)
        return lm_err(h->path, rc, "cannot begin a read transaction");
    if ((rc = settle_snapshot(h, t)) != 0) {
        mdb_txn_abort(t);
        return lm_err(h->path, rc, "cannot begin a read transaction");
    }
    *txn = t;
    return LK_OK;
}

/* End a read txn: park it for the next begin, or free it if the pool is full. */
static void end_read(lm_handle *h, MDB_txn *t)
{
    mdb_txn_reset(t);
    pthread_mutex_lock(&h->pool_lock);
    if (h->npool < LM_POOL_MAX) {
        h->pool[h->npool++] = t;
        t = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (t != NULL)
        mdb_txn_abort(t);
}

static bool is_write(lm_handle *h, MDB_txn *t)
{
    return atomic_load(&h->wtxn) == t;
}

/* LMDB reports a short write (a full disk) as EIO: tell the two apart. */
static bool disk_full(const char *path)
{
    struct statvfs vfs;
    char *dir = lk_store_dir_of(path);
    bool full = dir != NULL && statvfs(dir, &vfs) == 0 && vfs.f_bavail == 0;
    free(dir);
    return full;
}

static lk_status lm_commit(void *txn)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    if (!is_write(h, t)) {
        end_read(h, t);
        return LK_OK;
    }
    atomic_store(&h->wtxn, NULL);
    int rc = mdb_txn_commit(t); /* frees t, also on failure */
    if (rc == EIO && disk_full(h->path))
        return lk_seterr(LK_ERR_STORE_FULL, "lmdb store %s: commit failed: the disk is full (nothing was changed)",
                         h->path);
    if (rc != 0)
        return lm_err(h->path, rc, "commit failed");
    return LK_OK;
}

static void lm_abort(void *txn)
{
    MDB_txn *t = txn;
    if (t == NULL)
        return;
    lm_handle *h = handle_of(t);
    if (!is_write(h, t)) {
        end_read(h, t);
        return;
    }
    atomic_store(&h->wtxn, NULL);
    mdb_txn_abort(t);
}

static lk_status lm_get(void *txn, const char *key, size_t klen, const char **val, size_t *vlen)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    /* LMDB rejects such keys; none can be stored either. */
    if (klen == 0 || klen > (size_t)h->max_key)
        return LK_ERR_NOT_FOUND;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(t, h->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return LK_ERR_NOT_FOUND;
    if (rc != 0)
        return lm_err(h->path, rc, "read failed");
    *val = v.mv_data;
    *vlen = v.mv_size;
    return LK_OK;
}

static lk_status lm_put(void *txn, const char *key, size_t klen, const char *val, size_t vlen)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    if (!is_write(h, t))
        return lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: put in a read transaction", h->path);
    if (klen == 0 || klen > (size_t)h->max_key)
        return lk_seterr(LK_ERR_PARAM, "lmdb store %s: key length %zu is outside 1..%d", h->path, klen, h->max_key);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(t, h->dbi, &k, &v, 0);
    if (rc != 0)
        return lm_err(h->path, rc, "write failed");
    return LK_OK;
}

static lk_status lm_del(void *txn, const char *key, size_t klen)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    if (!is_write(h, t))
        return lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: delete in a read transaction", h->path);
    if (klen == 0 || klen > (size_t)h->max_key)
        return LK_ERR_NOT_FOUND;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(t, h->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return LK_ERR_NOT_FOUND;
    if (rc != 0)
        return lm_err(h->path, rc, "delete failed");
    return LK_OK;
}

static lk_status lm_scan(void *txn, const char *prefix, size_t plen, lk_scan_fn fn, void *arg)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    if (plen > (size_t)h->max_key)
        return LK_OK; /* longer than any key */
    MDB_cursor *c;
    int rc = mdb_cursor_open(t, h->dbi, &c);
    if (rc != 0)
        return lm_err(h->path, rc, "cannot open a cursor");
    MDB_val k = {plen, (void *)prefix}, v;
    /* SET_RANGE rejects an empty key: start at the first one instead. */
    rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size < plen || (plen > 0 && memcmp(k.mv_data, prefix, plen) != 0))
            break;
        if (fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size) != 0)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm_err(h->path, rc, "scan failed");
    return LK_OK;
}

const lk_backend_ops lk_backend_lmdb = {
    .name = "lmdb",
    .open = lm_open,
    .close = lm_close,
    .begin = lm_begin,
    .commit = lm_commit,
    .abort = lm_abort,
    .get = lm_get,
    .put = lm_put,
    .del = lm_del,
    .scan = lm_scan,
};
