/* version.c — the installed library's own object; everything else comes from libcore.la. */
#include "latchkey.h"

LK_EXPORT const char *lk_version(void);
const char *lk_version(void)
{
    return LK_VERSION_STRING;
}
