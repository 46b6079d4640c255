/* store_file.c — checks every file-based backend makes on its store files. */
#include <stdlib.h>
#include <string.h>
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
    if (st->st_uid != me && st->st_uid != 0)
        return lk_seterr(LK_ERR_STORE_PERM, "%s %s %s is owned by uid %lu, neither this user (uid %lu) nor root; refusing it",
                         kind, what, path, (unsigned long)st->st_uid, (unsigned long)me);
    return LK_OK;
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
