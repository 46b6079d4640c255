/*
 * lmdb.c — the LMDB backend: one MDB_env per store file per process.
 *
 * The env is opened with MDB_NOSUBDIR (the configured path is the data
 * file; LMDB keeps PATH-lock beside it) and MDB_NOTLS, so a read txn belongs
 * to the txn object, not to a thread: the core shares one handle across
 * threads. Every read txn holds one of the store's reader slots (in the lock
 * file, shared by every process) until it is aborted; a finished read txn
 * is parked for reuse (mdb_txn_reset, cheap to renew) only while other txns
 * of the process are in flight, so a process holds no slot while idle and
 * idle processes cannot exhaust the table.
 *
 * Opening: the data and lock files are opened here first with O_NOFOLLOW
 * and checked on the descriptor (owner, mode, regular file), in a directory
 * other users cannot write, before LMDB opens the same paths; afterwards
 * the data file LMDB opened must be the one checked.
 *
 * Txn begins lstat() the path: when it names another file (a restore
 * renamed a copy over it) the env is closed and the new file opened, for
 * every handle of the process at once, so a key disabled in the new file is
 * refused from then on. Every write txn looks; a read txn looks when the
 * coarse monotonic clock (read in the vDSO, no system call) has moved on
 * since the last look: once per clock tick (1-10 ms by the kernel's HZ,
 * 4 ms on Debian), not once per verify, so a restore is noticed by the
 * verifies that begin a tick after the rename. A disable through the store
 * itself (no file replaced) is seen by the very next txn, as ever.
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
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "lk_backend.h"
#include "lk_error.h"
#include "store_file.h"

#define LM_DEFAULT_MAP_SIZE ((uint64_t)1 << 30)
/* Reader slots in the lock file, shared by every process on the store: one
 * per read txn in flight. LMDB's default (126) is few for hosts that run
 * many worker processes; 1024 slots make a 64 KiB lock file. The size is
 * fixed by the process that initialises the lock file (the first to open
 * the store while no other has it open). */
#define LM_MAX_READERS 1024
/* Parked read txns (only while other txns of the process are in flight). */
#define LM_POOL_MAX 16

typedef struct lm_handle {
    char *path;
    char *lockpath;
    int read_only;
    uint64_t map_size;
    int max_key;               /* the same for every env of this LMDB build */
    pid_t pid;                 /* the process that opened env */
    unsigned refs;             /* handles given out for this env (registry_lock) */
    struct lm_handle *next;    /* the registry list */
    _Atomic(MDB_txn *) wtxn;   /* the open write txn, to tell txns apart */
    pthread_mutex_t write_lock; /* this process's writer (see write_guard) */

    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t changed;    /* active reached 0, or a reopen finished */
    MDB_env *env;              /* NULL after a failed reopen: the next begin retries */
    MDB_dbi dbi;
    dev_t dev;                 /* the data file env has open */
    ino_t ino;
    int lock_fd;               /* our checked descriptor of PATH-lock, -1 if none */
    dev_t lock_dev;
    ino_t lock_ino;
    /* Read txns begin and end without `lock` (issue 24: two threads taking
     * it twice per verify slept on it in turn). Changed under `lock` or by
     * atomic operations alone, see enter/leave. */
    _Atomic unsigned active;   /* txns in flight on env */
    atomic_bool reopening;     /* a thread waits for active == 0 to switch env */
    _Atomic(MDB_txn *) pool[LM_POOL_MAX]; /* parked read txns (NULL: free slot) */
    _Atomic int64_t checked_ms; /* coarse clock at the last lstat that found env's file */
    uint64_t reopens;          /* envs opened on this handle (change_token's epoch) */
} lm_handle;

static lm_handle *handle_of(MDB_txn *t)
{
    return mdb_env_get_userctx(mdb_txn_env(t));
}

/* LMDB must not open one environment twice in a process: its fcntl locks are
 * per process, so a second mdb_env_open believes it is alone and resets the
 * reader table under the first, and closing either drops both's locks. So
 * opens of the same store in one process share one env, counted here: the
 * same path, data file or lock file (after a restore the path names a new
 * data file beside the same lock file). This is the backend's only
 * process-global state, and LMDB's rule is why. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_handle *registry;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* In a forked child registry_lock may be held by a parent thread (opening or
 * closing a store) that does not exist there: it can only be re-initialised.
 * The parent's envs are never used by a child (their pid differs, and the
 * core reopens), so the list, perhaps mid-update, is dropped as well; lm_close
 * of an inherited handle does not look for it there. */
static void registry_after_fork(void)
{
    pthread_mutex_init(&registry_lock, NULL);
    registry = NULL;
}

static void register_fork_handler(void)
{
    /* Fails only for lack of memory: children are then as unprotected as
     * before the handler existed, which is all that can be done. */
    (void)pthread_atfork(NULL, NULL, registry_after_fork);
}

static lm_handle *registry_find(const char *path, const char *lockpath)
{
    struct stat st, lst;
    bool have = stat(path, &st) == 0, lhave = lstat(lockpath, &lst) == 0;
    for (lm_handle *h = registry; h; h = h->next) {
        if (h->pid != getpid())
            continue;
        pthread_mutex_lock(&h->lock);
        bool same = strcmp(h->path, path) == 0 || (have && h->dev == st.st_dev && h->ino == st.st_ino) ||
                    (lhave && h->lock_fd >= 0 && h->lock_dev == lst.st_dev && h->lock_ino == lst.st_ino);
        pthread_mutex_unlock(&h->lock);
        if (same)
            return h;
    }
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
    if (rc == MDB_READERS_FULL)
        return lk_seterr(LK_ERR_STORE,
                         "lmdb store %s: %s: all reader slots are in use by live processes (%d per store)", path,
                         what, LM_MAX_READERS);
    return lk_seterr(lm_status(rc), "lmdb store %s: %s: %s", path, what, mdb_strerror(rc));
}

/* ------------------------------------------------------------ the files */

static lk_status symlink_refused(const char *path, const char *what)
{
    return lk_seterr(LK_ERR_STORE_PERM,
                     "lmdb store %s %s is a symbolic link; refusing it (a link there could make a write land "
                     "anywhere: give the real path)",
                     what, path);
}

/* The store's directory exists, is a directory, and no other user can
 * replace entries in it (see lk_store_check_dir). */
static lk_status check_dir(const char *path, uid_t owner)
{
    lk_status rc;
    struct stat dst;
    char *dir = lk_store_dir_of(path);
    if (dir == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening lmdb store %s", path);
    if (stat(dir, &dst) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            rc = lk_seterr(LK_ERR_STORE, "store directory %s does not exist", dir);
        else
            rc = lk_seterr(lm_status(e), "cannot stat store directory %s: %s", dir, strerror(e));
    } else {
        rc = lk_store_check_dir("lmdb store", dir, &dst, owner);
    }
    free(dir);
    return rc;
}

/* Open the data file without following a link, creating it (0600, empty:
 * LMDB initialises an empty file) only when create is set. */
static lk_status open_data(const char *path, int read_only, int create, int *fdp, struct stat *st)
{
    lk_status rc;
    int fd;
    if ((rc = check_dir(path, geteuid())) != LK_OK && rc != LK_ERR_STORE_PERM)
        return rc; /* a missing directory first; unsafe is judged with the file's owner below */
    for (;;) {
        /* O_NONBLOCK: a FIFO planted there must not hang the open */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0)
            break;
        int e = errno;
        if (e == ELOOP)
            return symlink_refused(path, "file");
        if (e != ENOENT)
            return lk_seterr(lm_status(e), "cannot open lmdb store file %s: %s", path, strerror(e));
        if (read_only || !create)
            return lk_store_not_found("lmdb store", path);
        if (rc != LK_OK)
            return rc; /* never create in an unsafe directory */
        char *dir = lk_store_dir_of(path);
        bool writable = dir != NULL && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
        if (!writable) {
            rc = lk_seterr(dir ? LK_ERR_STORE_PERM : LK_ERR_NOMEM,
                           "cannot create lmdb store %s: directory %s is not writable", path, dir ? dir : "?");
            free(dir);
            return rc;
        }
        free(dir);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        e = errno;
        if (e != EEXIST)
            return lk_seterr(lm_status(e), "cannot create lmdb store %s: %s", path, strerror(e));
        /* another process created it meanwhile: open that one */
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return lk_seterr(lm_status(e), "cannot stat lmdb store file %s: %s", path, strerror(e));
    }
    if ((rc = lk_store_check_owner_mode("lmdb store", path, "file", st)) != LK_OK ||
        (rc = check_dir(path, st->st_uid)) != LK_OK) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return LK_OK;
}

/* Open (create) PATH-lock without following a link and check it. *fdp is
 * -1 when a read-only open finds none on a read-only filesystem (LMDB then
 * runs without one). The descriptor must stay open while an env of this
 * process uses the file: closing any descriptor of it drops every fcntl
 * lock LMDB holds on it. */
static lk_status open_lock(const char *path, const char *lockpath, int read_only, int *fdp, struct stat *st)
{
    int fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd >= 0 && !read_only)
        lk_store_give_to_owner(fd, path);
    if (fd < 0 && read_only && (errno == EROFS || errno == EACCES)) {
        fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT) {
            *fdp = -1;
            return LK_OK;
        }
    }
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return symlink_refused(lockpath, "lock file");
        return lk_seterr(lm_status(e), "cannot open lmdb store lock file %s: %s", lockpath, strerror(e));
    }
    lk_status rc;
    if (fstat(fd, st) != 0) {
        int e = errno;
        rc = lk_seterr(lm_status(e), "cannot stat lmdb store lock file %s: %s", lockpath, strerror(e));
    } else {
        rc = lk_store_check_owner_mode("lmdb store", lockpath, "lock file", st);
    }
    if (rc != LK_OK) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return LK_OK;
}

/* The checks of open_data/open_lock for another open of a store this
 * process already has open: the lock file is looked at, not opened (see
 * open_lock). */
static lk_status recheck(const char *path, const char *lockpath, int read_only)
{
    int fd;
    struct stat st;
    lk_status rc = open_data(path, read_only, 0, &fd, &st);
    if (rc != LK_OK)
        return rc;
    close(fd);
    if (lstat(lockpath, &st) != 0)
        return LK_OK; /* LMDB's own descriptor keeps it; a read-only fs may have none */
    if (S_ISLNK(st.st_mode))
        return symlink_refused(lockpath, "lock file");
    return lk_store_check_owner_mode("lmdb store", lockpath, "lock file", &st);
}

/* ------------------------------------------------------------ the env */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The byte of the lock file that latchkey's writers lock (see "the writer
 * guard"). */
#define WRITE_GUARD_BYTE ((off_t)1 << 40)

/* Does another process hold the writer guard, i.e. is a commit in flight? */
static bool writer_elsewhere(int lock_fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = WRITE_GUARD_BYTE, .l_len = 1};
    return lock_fd >= 0 && fcntl(lock_fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Does the lock file describe this data file? Its current txn id must be
 * the data file's newest meta. A data file replaced while another process
 * kept the lock file open leaves it describing the old file: LMDB would
 * pick a meta page by the old file's txn id and could read an older
 * snapshot of the new one (a key it disables, still active). A lock file
 * nobody had open is reinitialised from the data file by mdb_env_open, so
 * this only trips while such processes remain.
 *
 * The meta page is written before the lock file's id is updated, so during
 * a commit the file is one ahead for as long as the meta page's sync
 * takes: under load, seconds (test_fork saw a sound store refused so). A
 * latchkey writer holds the writer guard (below) until the id is updated,
 * so one ahead is waited out while another process holds it, however long
 * (a minute at most: fail closed), and for up to a second when none does
 * (a writer outside latchkey); behind the lock file, or one ahead after
 * that, is another file. */
static bool lock_matches_data(MDB_env *env, int lock_fd)
{
    int64_t start = mono_ms();
    for (;;) {
        MDB_txn *t;
        MDB_envinfo info;
        if (mdb_txn_begin(env, NULL, MDB_RDONLY, &t) != 0)
            return true; /* the caller's next txn reports the cause */
        size_t id = mdb_txn_id(t);
        int rc = mdb_env_info(env, &info);
        mdb_txn_abort(t);
        if (rc != 0 || info.me_last_txnid == id)
            return true;
        int64_t waited = mono_ms() - start;
        if (info.me_last_txnid < id || waited > 60000 || (waited > 1000 && !writer_elsewhere(lock_fd)))
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The parked txns: each slot is taken by one atomic exchange, so a txn
 * goes to exactly one thread (a begin that reuses it, or a drain). */
static MDB_txn *pool_pop(lm_handle *h)
{
    for (size_t i = 0; i < LM_POOL_MAX; i++)
        if (atomic_load_explicit(&h->pool[i], memory_order_relaxed) != NULL) {
            MDB_txn *t = atomic_exchange(&h->pool[i], NULL);
            if (t != NULL)
                return t;
        }
    return NULL;
}

static bool pool_push(lm_handle *h, MDB_txn *t)
{
    for (size_t i = 0; i < LM_POOL_MAX; i++) {
        MDB_txn *none = NULL;
        if (atomic_load_explicit(&h->pool[i], memory_order_relaxed) == NULL &&
            atomic_compare_exchange_strong(&h->pool[i], &none, t))
            return true;
    }
    return false;
}

static void pool_drain(lm_handle *h)
{
    MDB_txn *t;
    while ((t = pool_pop(h)) != NULL)
        mdb_txn_abort(t); /* frees its reader slot (MDB_NOTLS) */
}

static void env_close(lm_handle *h)
{
    pool_drain(h);
    if (h->env != NULL)
        mdb_env_close(h->env);
    h->env = NULL;
    /* after mdb_env_close: see open_lock */
    if (h->lock_fd >= 0)
        close(h->lock_fd);
    h->lock_fd = -1;
}

/* Open h->path into h->env (which is NULL). */
static lk_status env_open(lm_handle *h, int create)
{
    int data_fd = -1;
    struct stat dst, lst;
    lk_status rc = open_data(h->path, h->read_only, create, &data_fd, &dst);
    if (rc != LK_OK)
        return rc;
    if ((rc = open_lock(h->path, h->lockpath, h->read_only, &h->lock_fd, &lst)) != LK_OK)
        goto fail;
    if (h->lock_fd >= 0) {
        h->lock_dev = lst.st_dev;
        h->lock_ino = lst.st_ino;
    }

    int mrc = mdb_env_create(&h->env);
    if (mrc != 0) {
        h->env = NULL;
        rc = lm_err(h->path, mrc, "cannot create environment");
        goto fail;
    }
    mdb_env_set_userctx(h->env, h);
    if ((mrc = mdb_env_set_mapsize(h->env, (size_t)h->map_size)) != 0) {
        rc = lm_err(h->path, mrc, "cannot set map size");
        goto fail;
    }
    if ((mrc = mdb_env_set_maxreaders(h->env, LM_MAX_READERS)) != 0) {
        rc = lm_err(h->path, mrc, "cannot set the reader limit");
        goto fail;
    }
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (h->read_only ? MDB_RDONLY : 0);
    if ((mrc = mdb_env_open(h->env, h->path, flags, 0600)) != 0) {
        rc = lm_err(h->path, mrc, "cannot open");
        goto fail;
    }

    /* LMDB opened the paths again itself: it must have got the files
     * checked above (only their owner or root could have swapped them, the
     * directory being safe; this catches that too). */
    int fd;
    struct stat st, lnow;
    if (mdb_env_get_fd(h->env, &fd) != 0 || fstat(fd, &st) != 0) {
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s: cannot stat the open file", h->path);
        goto fail;
    }
    if (st.st_dev != dst.st_dev || st.st_ino != dst.st_ino ||
        (h->lock_fd >= 0 && (lstat(h->lockpath, &lnow) != 0 || lnow.st_dev != lst.st_dev ||
                             lnow.st_ino != lst.st_ino))) {
        rc = lk_seterr(LK_ERR_STORE_PERM, "lmdb store %s: the file was replaced while it was being opened; refusing it",
                       h->path);
        goto fail;
    }
    if ((rc = lk_store_check_owner_mode("lmdb store", h->path, "file", &st)) != LK_OK)
        goto fail;
    close(data_fd);
    data_fd = -1;
    /* A store cut short (a copy that ran out of space, a bad restore) still
     * opens, and the first touch of a page past the end of the file kills
     * the process with SIGBUS. Writers only ever grow the file before a
     * meta page points past it, so pages beyond the file mean damage. The
     * size is taken after the meta is read: st is older, and a commit since
     * may have grown the file (test_fork saw a sound store refused so). */
    MDB_envinfo info;
    MDB_stat mst;
    if (mdb_env_info(h->env, &info) == 0 && mdb_env_stat(h->env, &mst) == 0 && fstat(fd, &st) == 0 &&
        ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize > (uint64_t)st.st_size) {
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s is truncated: %lld bytes, but its pages reach %llu bytes", h->path,
                       (long long)st.st_size, ((unsigned long long)info.me_last_pgno + 1) * mst.ms_psize);
        goto fail;
    }
    h->dev = st.st_dev;
    h->ino = st.st_ino;
    /* Free reader slots left by crashed processes: they would pin old pages
     * and grow the file, and fill the table. */
    int dead;
    (void)mdb_reader_check(h->env, &dead);
    if (!lock_matches_data(h->env, h->lock_fd)) {
        rc = lk_seterr(LK_ERR_STORE,
                       "lmdb store %s does not match its lock file %s: the store file was replaced while another "
                       "process had it open; refusing to read it until every process using the store has "
                       "reopened it (restart them if they stay idle)",
                       h->path, h->lockpath);
        goto fail;
    }

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
    return LK_OK;

fail:
    if (data_fd >= 0)
        close(data_fd);
    env_close(h);
    return rc;
}

/* h->lock is taken twice by every txn (enter, leave) and held for a few
 * instructions. A default mutex puts a thread that finds it taken to sleep
 * in the kernel: two threads verifying at once then spent most of their time
 * in futex sleeps and wake-ups, and 2 threads rejected unknown ids at a
 * quarter of 1 thread's rate per core (issue 24). An adaptive mutex (glibc)
 * spins a bounded while first: the holder lets go long before the spin ends. */
static int handle_lock_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return -1;
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
    (void)pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

static void handle_free(lm_handle *h)
{
    pthread_mutex_destroy(&h->write_lock);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h->path);
    free(h->lockpath);
    free(h);
}

static lk_status lm_open_env(const lk_backend_conf *conf, lm_handle **out)
{
    uint64_t map_size = conf->map_size ? conf->map_size : LM_DEFAULT_MAP_SIZE;
    if (map_size > SIZE_MAX)
        return lk_seterr(LK_ERR_PARAM, "lmdb store %s: map size %llu does not fit in the address space", conf->path,
                         (unsigned long long)map_size);
    lm_handle *h = calloc(1, sizeof *h);
    size_t plen = strlen(conf->path);
    if (h == NULL || (h->path = strdup(conf->path)) == NULL || (h->lockpath = malloc(plen + sizeof "-lock")) == NULL) {
        if (h != NULL)
            free(h->path);
        free(h);
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening lmdb store %s", conf->path);
    }
    memcpy(h->lockpath, conf->path, plen);
    memcpy(h->lockpath + plen, "-lock", sizeof "-lock");
    h->read_only = conf->read_only;
    h->map_size = map_size;
    h->pid = getpid();
    h->lock_fd = -1;
    atomic_init(&h->wtxn, NULL);
    if (handle_lock_init(&h->lock) != 0 || pthread_cond_init(&h->changed, NULL) != 0 ||
        pthread_mutex_init(&h->write_lock, NULL) != 0) {
        free(h->path);
        free(h->lockpath);
        free(h);
        return lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: cannot create a mutex", conf->path);
    }
    lk_status rc = env_open(h, conf->create);
    if (rc != LK_OK) {
        handle_free(h);
        return rc;
    }
    *out = h;
    return LK_OK;
}

static lk_status lm_open(const lk_backend_conf *conf, void **handle)
{
    if (conf == NULL || conf->path == NULL || conf->path[0] == '\0' || handle == NULL)
        return lk_seterr(LK_ERR_PARAM, "lmdb store: no store path given");
    *handle = NULL;
    size_t plen = strlen(conf->path);
    char *lockpath = malloc(plen + sizeof "-lock");
    if (lockpath == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening lmdb store %s", conf->path);
    memcpy(lockpath, conf->path, plen);
    memcpy(lockpath + plen, "-lock", sizeof "-lock");
    pthread_once(&fork_handler_once, register_fork_handler);
    pthread_mutex_lock(&registry_lock);
    lm_handle *h = registry_find(conf->path, lockpath);
    lk_status rc = LK_OK;
    if (h != NULL && h->read_only && !conf->read_only) {
        rc = lk_seterr(LK_ERR_STORE_PERM, "lmdb store %s is already open read-only in this process", conf->path);
    } else if (h != NULL) {
        /* the permission checks still apply to every open */
        if ((rc = recheck(conf->path, lockpath, conf->read_only)) == LK_OK) {
            h->refs++;
            *handle = h;
        }
    } else if ((rc = lm_open_env(conf, &h)) == LK_OK) {
        h->refs = 1;
        h->next = registry;
        registry = h;
        *handle = h;
    }
    pthread_mutex_unlock(&registry_lock);
    free(lockpath);
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
         * and closing it is worse: close() of its lock-file descriptors
         * drops every fcntl lock this process holds on PATH-lock (those of
         * the child's new env too), and when no other process holds one,
         * mdb_env_close() believes it is the last user and destroys the
         * shared mutexes under the child's new env. So the env, its
         * descriptors and parked txns are deliberately abandoned (once per
         * fork); the child's registry never lists it (registry_after_fork). */
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    registry_unlink(h);
    pthread_mutex_unlock(&registry_lock);
    env_close(h);
    handle_free(h);
}

/* ------------------------------------------------------------ txn entry and exit */

/* Close the env and open the file the path now names; h->lock held. Waits
 * for the txns in flight (a thread must not begin a txn while it holds
 * another on the same store, or this would wait for itself: the core never
 * does). The old env is closed before the new one opens: two envs on one
 * lock file in one process break LMDB's locking (see the registry). */
static lk_status reopen_locked(lm_handle *h)
{
    /* Set before active is read: a lock-free begin that counted itself in
     * afterwards sees it and backs out (enter); one counted in before is
     * waited for, and its leave, seeing reopening, wakes this thread. */
    atomic_store(&h->reopening, true);
    while (atomic_load(&h->active) > 0)
        pthread_cond_wait(&h->changed, &h->lock);
    env_close(h);
    lk_status rc = env_open(h, 0);
    h->reopens++;
    atomic_store(&h->reopening, false);
    pthread_cond_broadcast(&h->changed);
    return rc;
}

static void leave(lm_handle *h, MDB_txn *t);

static int64_t coarse_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
#endif
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start using h's env for one txn (*parked: a parked read txn, if any).
 * Notices a store file that was replaced and switches to the new one: on
 * every write, and on a read once the coarse clock has moved (see the top). */
static lk_status enter(lm_handle *h, MDB_txn **parked)
{
    struct stat st;
    int64_t now = coarse_ms();
    bool look = parked == NULL || now != atomic_load_explicit(&h->checked_ms, memory_order_relaxed);
    if (!look) {
        /* The common read: count in, and if no reopen is under way (it
         * sets reopening before it waits for active to reach 0) env stays
         * as it is until this txn leaves. */
        atomic_fetch_add(&h->active, 1);
        if (!atomic_load(&h->reopening) && h->env != NULL) {
            *parked = pool_pop(h);
            return LK_OK;
        }
        leave(h, NULL); /* back out; the locked path below waits or retries */
    }
    int stat_errno = !look || lstat(h->path, &st) == 0 ? 0 : errno;
    pthread_mutex_lock(&h->lock);
    while (atomic_load(&h->reopening))
        pthread_cond_wait(&h->changed, &h->lock);
    lk_status rc = LK_OK;
    if (!look) {
        if (h->env == NULL) /* a failed reopen: the next begin retries */
            rc = reopen_locked(h);
    } else if (stat_errno == ENOENT)
        rc = lk_seterr(LK_ERR_STORE, "lmdb store %s was removed", h->path);
    else if (stat_errno != 0)
        rc = lk_seterr(lm_status(stat_errno), "cannot stat lmdb store %s: %s", h->path, strerror(stat_errno));
    else if (h->env == NULL || st.st_dev != h->dev || st.st_ino != h->ino)
        rc = reopen_locked(h);
    if (rc == LK_OK && look)
        atomic_store_explicit(&h->checked_ms, now, memory_order_relaxed);
    if (rc == LK_OK) {
        atomic_fetch_add(&h->active, 1);
        if (parked != NULL)
            *parked = pool_pop(h);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Done with a txn (t: a finished read txn, already reset, or NULL). It is
 * parked only while other txns are in flight; the last one out releases
 * every parked txn, so an idle process holds no reader slot. */
static void leave(lm_handle *h, MDB_txn *t)
{
    /* Parked only while another txn is in flight: that one, or a later
     * one, is still to leave and counts active down to 0 after this push. */
    if (t != NULL && atomic_load(&h->active) > 1 && pool_push(h, t))
        t = NULL;
    if (t != NULL)
        mdb_txn_abort(t); /* frees its reader slot (MDB_NOTLS); env still counted in use */
    if (atomic_fetch_sub(&h->active, 1) == 1) {
        /* The last one out releases every parked txn, under lock so a
         * reopen's env_close never runs beside it; a txn begun meanwhile
         * (active > 0 again) leaves the pool to its own last one out. */
        pthread_mutex_lock(&h->lock);
        if (atomic_load(&h->active) == 0)
            pool_drain(h);
        if (atomic_load(&h->reopening))
            pthread_cond_broadcast(&h->changed);
        pthread_mutex_unlock(&h->lock);
    }
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

/* ------------------------------------------------------------ the writer guard
 *
 * LMDB serialises writers with a robust process-shared pthread mutex in the
 * lock file. Waiting on it across processes proved unreliable: under load,
 * forked hosts (test_fork) were left asleep for ever on a writer mutex whose
 * word read free or held without waiters, and a FUTEX_WAKE sent from outside
 * set them all going again, so their wake-up had been lost, not withheld.
 * So no latchkey thread waits on it: a writer first takes write_lock
 * (its process's other threads) and then a POSIX record lock on one byte of
 * the lock file (other processes), and only then asks LMDB, whose mutex is
 * by then free (unless a program outside latchkey, mdb_copy say, holds it).
 * The kernel wakes every waiter of a record lock on its release, drops it
 * when its process dies, and a fork() does not pass it on. The byte lies
 * far past LMDB's own record locks (byte 0, and one byte per reader pid).
 * A process holds all its record locks on the file together: closing any
 * descriptor of it drops them (see open_lock), which only env_close does,
 * with no txn in flight. LMDB's reader-table mutex is left as it is: it is
 * held for a few instructions while a read txn claims a slot, and guarding
 * it would cost two system calls per verify. */
static void write_guard_set(lm_handle *h, short type)
{
    if (h->lock_fd < 0)
        return; /* no lock file (read-only filesystem): nothing writes */
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = WRITE_GUARD_BYTE, .l_len = 1};
    for (;;) {
        if (fcntl(h->lock_fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl) == 0 || errno == EBADF || errno == ENOLCK ||
            errno == EINVAL)
            return; /* without the guard, LMDB's own mutex still excludes */
        if (errno == EDEADLK) {
            /* The kernel's deadlock check sees processes, not threads: one
             * of ours waiting on a process that waits on another of ours.
             * No thread holding this lock waits for anything: try again. */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        /* EINTR: a signal; wait on */
    }
}

static void write_guard_take(lm_handle *h)
{
    pthread_mutex_lock(&h->write_lock);
    write_guard_set(h, F_WRLCK);
}

static void write_guard_drop(lm_handle *h)
{
    write_guard_set(h, F_UNLCK);
    pthread_mutex_unlock(&h->write_lock);
}

/* A new read txn. A full reader table is first cleared of slots left by
 * dead processes (mdb_reader_check) and tried once more. */
static int begin_read(lm_handle *h, MDB_txn **t)
{
    int rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, t);
    if (rc == MDB_READERS_FULL) {
        int dead;
        if (mdb_reader_check(h->env, &dead) == 0 && dead > 0)
            rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, t);
    }
    return rc;
}

static lk_status lm_begin(void *handle, int write, void **txn)
{
    lm_handle *h = handle;
    MDB_txn *t = NULL;
    lk_status st;
    int rc;
    if (write) {
        if (h->read_only)
            return lk_seterr(LK_ERR_STORE_PERM,
                         "lmdb store %s is open read-only: this process cannot write it (read-only filesystem or file)",
                         h->path);
        if ((st = enter(h, NULL)) != LK_OK)
            return st;
        /* Blocks while another thread or process writes. */
        write_guard_take(h);
        if ((rc = mdb_txn_begin(h->env, NULL, 0, &t)) != 0) {
            st = lm_err(h->path, rc, "cannot begin a write transaction");
            write_guard_drop(h);
            leave(h, NULL);
            return st;
        }
        atomic_store(&h->wtxn, t);
        *txn = t;
        return LK_OK;
    }
    if ((st = enter(h, &t)) != LK_OK)
        return st;
    if (t != NULL) {
        if (mdb_txn_renew(t) == 0 && settle_snapshot(h, t) == 0) {
            *txn = t;
            return LK_OK;
        }
        mdb_txn_abort(t); /* a fresh txn below reports the cause, if any */
        t = NULL;
    }
    if ((rc = begin_read(h, &t)) == 0 && (rc = settle_snapshot(h, t)) != 0)
        mdb_txn_abort(t);
    if (rc != 0) {
        st = lm_err(h->path, rc, "cannot begin a read transaction");
        leave(h, NULL);
        return st;
    }
    *txn = t;
    return LK_OK;
}

/* End a read txn: reset (its snapshot released), then parked or freed. */
static void end_read(lm_handle *h, MDB_txn *t)
{
    mdb_txn_reset(t);
    leave(h, t);
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
    write_guard_drop(h);
    leave(h, NULL);
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
    write_guard_drop(h);
    leave(h, NULL);
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

static lk_status lm_del_prefix(void *txn, const char *prefix, size_t plen, size_t *deleted)
{
    MDB_txn *t = txn;
    lm_handle *h = handle_of(t);
    *deleted = 0;
    if (!is_write(h, t))
        return lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: delete in a read transaction", h->path);
    if (plen == 0 || plen > (size_t)h->max_key)
        return plen == 0 ? lk_seterr(LK_ERR_INTERNAL, "lmdb store %s: delete of an empty prefix", h->path) : LK_OK;
    MDB_cursor *c;
    int rc = mdb_cursor_open(t, h->dbi, &c);
    if (rc != 0)
        return lm_err(h->path, rc, "cannot open a cursor");
    MDB_val k = {plen, (void *)prefix}, v;
    /* A cursor delete leaves the cursor on the next key: no seek per key. */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        (*deleted)++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm_err(h->path, rc, "delete failed");
    return LK_OK;
}

/* The newest committed txn id, from the lock file's shared memory (every
 * process's commits): no txn, no system call, except the look at the path
 * for a replaced file once per coarse clock tick, as a txn begin makes. */
static lk_status lm_change_token(void *handle, uint64_t *epoch, uint64_t *token)
{
    lm_handle *h = handle;
    MDB_envinfo info;
    if (coarse_ms() != atomic_load_explicit(&h->checked_ms, memory_order_relaxed)) {
        MDB_txn *t = NULL;
        lk_status st = enter(h, &t); /* looks, and switches to a new file */
        if (st != LK_OK)
            return st;
        leave(h, t); /* a parked txn is already reset: back to the pool */
    }
    pthread_mutex_lock(&h->lock);
    int rc = h->env != NULL && !atomic_load(&h->reopening) ? mdb_env_info(h->env, &info) : EAGAIN;
    *epoch = h->reopens;
    pthread_mutex_unlock(&h->lock);
    if (rc != 0)
        return lk_seterr(LK_ERR_STORE, "lmdb store %s is being reopened", h->path);
    *token = (uint64_t)info.me_last_txnid;
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
    .change_token = lm_change_token,
    .del_prefix = lm_del_prefix,
};
