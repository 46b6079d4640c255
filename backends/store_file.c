/* store_file.c — checks every file-based backend makes on its store files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lk_error.h"
#include "store_file.h"

lk_status lk_store_check_owner_mode(const char *kind, const char *path, const char *what, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return lk_seterr(LK_ERR_STORE, "%s %s %s is not a regular file", kind, what, path);
    if (st->st_mode & 022)
        return lk_seterr(LK_ERR_STORE_PERM, "%s %s %s is group- or world-writable (mode %04o); refusing it (chmod 600 %s)",
                         kind, what, path, (unsigned)(st->st_mode & 07777), path);
    uid_t me = geteuid();
    /* Root may manage a store another user owns (latchkeyd's, owned by its
     * service user) in place: it could read it anyway, and every file it
     * creates or rewrites there is given to the store's owner
     * (lk_store_give_to_owner), so the service keeps its access. */
    if (st->st_uid != me && st->st_uid != 0 && me != 0)
        return lk_seterr(LK_ERR_STORE_PERM, "%s %s %s is owned by uid %lu, neither this user (uid %lu) nor root; refusing it",
                         kind, what, path, (unsigned long)st->st_uid, (unsigned long)me);
    return LK_OK;
}

lk_status lk_store_check_dir(const char *kind, const char *dir, const struct stat *st, uid_t store_owner)
{
    if (!S_ISDIR(st->st_mode))
        return lk_seterr(LK_ERR_STORE, "store directory %s is not a directory", dir);
    if (!(st->st_mode & 022))
        return LK_OK;
    /* Whoever may write the directory may rename a file of their own over
     * the store or plant a link where the lock file goes. A sticky bit
     * limits them to their own entries, which the checks on the opened
     * files refuse; that is enough when the directory's owner (who may
     * still do anything there) is the store's owner or root. */
    if ((st->st_mode & S_ISVTX) && (st->st_uid == store_owner || st->st_uid == 0))
        return LK_OK;
    return lk_seterr(LK_ERR_STORE_PERM,
                     "%s directory %s is group- or world-writable (mode %04o) and not sticky: another user could "
                     "replace the store; refusing it (chmod go-w %s)",
                     kind, dir, (unsigned)(st->st_mode & 07777), dir);
}

void lk_store_give_to_owner(int fd, const char *store_path)
{
    struct stat store, mine;
    if (geteuid() != 0 || lstat(store_path, &store) != 0 || store.st_uid == 0 || fstat(fd, &mine) != 0)
        return;
    if (mine.st_uid != store.st_uid || mine.st_gid != store.st_gid)
        (void)fchown(fd, store.st_uid, store.st_gid); /* best effort: the owner's next open says if it failed */
}

char *lk_store_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

lk_status lk_store_not_found(const char *kind, const char *path)
{
    return lk_seterr(LK_ERR_STORE, "%s %s not found (create it with `latchkey init`, or correct store.path)",
                     kind, path);
}
