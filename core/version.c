/* version.c — the installed library's own object; everything else comes from libcore.la. */
#include "latchkey.h"

const char *lk_version(void)
{
    return LK_VERSION_STRING;
}
