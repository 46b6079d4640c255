/*
 * store_file.h — checks every file-based backend makes on its store files.
 */
#ifndef LK_STORE_FILE_H
#define LK_STORE_FILE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "latchkey.h"

/* Refuse what another user could have written: not a regular file,
 * group/world-writable, or owned by someone other than us or root.
 * kind names the backend in messages ("lmdb store"), what the file ("lock file"). */
lk_status lk_store_check_owner_mode(const char *kind, const char *path, const char *what, const struct stat *st);
/* Refuse a store directory that other users may write (they could replace
 * the store or plant a symbolic link for the lock file), unless it is
 * sticky and owned by store_owner or root. st is the directory's stat. */
lk_status lk_store_check_dir(const char *kind, const char *dir, const struct stat *st, uid_t store_owner);
/* LK_ERR_STORE for a store that does not exist: only an open with create
 * (`latchkey init`) makes one, so a mistyped store.path is reported rather
 * than answered from a new empty store. */
lk_status lk_store_not_found(const char *kind, const char *path);
/* The directory part of path ("." or "/" at the ends); NULL on NOMEM. */
char *lk_store_dir_of(const char *path);
/* Run as root on a store another user owns: give fd (a file root created
 * or rewrites beside it: lock file, temp copy) to the store's owner, so that
 * user's service keeps its access. A no-op otherwise. */
void lk_store_give_to_owner(int fd, const char *store_path);

#endif
