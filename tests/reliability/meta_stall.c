/*
 * meta_stall — an LD_PRELOAD for tests/reliability/meta_stall.sh that holds
 * an LMDB writer in the middle of its commit: LMDB writes the meta page
 * through a descriptor opened with O_DSYNC, and updates the lock file's
 * txn id only after that write returns, so a pwrite() on such a descriptor
 * is done and then held until STALL_DIR/go exists, having first made
 * STALL_DIR/stalled. The data file is then one txn ahead of its lock file
 * for as long as the test likes, as it is under load while the meta page's
 * sync takes seconds. Without STALL_DIR in the environment it only writes.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static void hold_if_meta(int fd)
{
    const char *dir = getenv("STALL_DIR");
    int fl = fcntl(fd, F_GETFL);
    if (dir == NULL || fl < 0 || !(fl & O_DSYNC))
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/stalled", dir);
    int m = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (m >= 0)
        close(m);
    snprintf(path, sizeof path, "%s/go", dir);
    while (access(path, F_OK) != 0) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static ssize_t held_pwrite(pwrite_fn *real, const char *name, int fd, const void *buf, size_t n, off_t off)
{
    if (*real == NULL)
        *real = (pwrite_fn)dlsym(RTLD_NEXT, name);
    ssize_t r = (*real)(fd, buf, n, off);
    hold_if_meta(fd);
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static pwrite_fn real;
    return held_pwrite(&real, "pwrite", fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static pwrite_fn real;
    return held_pwrite(&real, "pwrite64", fd, buf, n, off);
}
