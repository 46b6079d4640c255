/* registry.c — the compiled-in storage backends, by configuration name. */
#include <stddef.h>
#include <string.h>

#include "lk_backend.h"

static const lk_backend_ops *const backends[] = {
    &lk_backend_lmdb,
    &lk_backend_flatfile,
#ifdef HAVE_POSTGRESQL
    &lk_backend_postgresql,
#endif
};

const lk_backend_ops *lk_backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
