/*
 * store_file.h — checks every file-based backend makes on its store files.
 */
#ifndef LK_STORE_FILE_H
#define LK_STORE_FILE_H

#include <sys/stat.h>

#include "latchkey.h"

/* Refuse what another user could have written: not a regular file,
 * group/world-writable, or owned by someone other than us or root.
 * kind names the backend in messages ("lmdb store"), what the file ("lock file"). */
lk_status lk_store_check_owner_mode(const char *kind, const char *path, const char *what, const struct stat *st);
/* The directory part of path ("." or "/" at the ends); NULL on NOMEM. */
char *lk_store_dir_of(const char *path);

#endif
