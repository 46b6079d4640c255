/* readme_dlopen.c: verify a SecretId/SecretKey pair through latchkey_plugin.so.
 * cc -o readme_dlopen readme_dlopen.c -ldl
 * ./readme_dlopen SECRETID [MODULE [CONFIG]] <file-with-the-SecretKey */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <latchkey-plugin.h>

int main(int argc, char **argv)
{
    const char *module = argc > 2 ? argv[2] : "/usr/local/lib/latchkey/latchkey_plugin.so";
    const char *config = argc > 3 ? argv[3] : "/etc/latchkey/latchkey.yaml";
    const char *client_ip = NULL; /* the peer's address, when the host knows it */
    const char *service = NULL;   /* the scope entry this request needs, if any */
    char secret_key[128];
    if (argc < 2 || !fgets(secret_key, sizeof secret_key, stdin)) {
        fprintf(stderr, "usage: %s SECRETID [MODULE [CONFIG]] <SECRETKEY\n", argv[0]);
        return 2;
    }
    secret_key[strcspn(secret_key, "\r\n")] = '\0';

    void *m = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (!m) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    lk_plugin_api_fn *get;
    *(void **)&get = dlsym(m, LK_PLUGIN_SYMBOL);
    const struct lk_plugin_api *api = get ? get(LK_PLUGIN_ABI_VERSION) : NULL;
    if (!api) { /* not a latchkey module, or one older than this header */
        fprintf(stderr, "%s: no latchkey ABI version %u\n", module, LK_PLUGIN_ABI_VERSION);
        dlclose(m);
        return 2;
    }

    void *h;
    char err[256];
    if (api->open(config, &h, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err); /* err says why */
        dlclose(m);
        return 2;
    }

    uint64_t uin = 0;
    int r = api->verify_secretid(h, argv[1], secret_key, strlen(secret_key), client_ip, service, &uin);
    explicit_bzero(secret_key, sizeof secret_key);
    /* r == 0: allowed. LK_PLUGIN_IS_DENIAL(r): refused (13..18). Else: error, fail closed. */
    if (LK_PLUGIN_HAS(api, status_code))
        printf("%s uin=%llu\n", api->status_code(r), (unsigned long long)uin); /* "Success uin=100001" */
    api->close(h);
    dlclose(m);
    return r == 0 ? 0 : LK_PLUGIN_IS_DENIAL(r) ? 1 : 2;
}
