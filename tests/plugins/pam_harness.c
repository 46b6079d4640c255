/*
 * pam_harness.c — drive a PAM service through the real libpam (run under
 * pam_wrapper so the service file comes from the test's own directory).
 *
 *   pam_harness [--rhost ADDR] [--no-secret] SERVICE USER OP...
 *
 * OP is "auth" (pam_authenticate) or "acct" (pam_acct_mgmt), run in order on
 * one pam handle. The secret the module asks for is the first line of stdin
 * (--no-secret: the conversation refuses, so a module that prompts fails).
 * Prints "OP: PAM_CODE_NAME" per OP; exit 0 when every OP succeeded, 1
 * otherwise, 2 on usage or setup errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

struct answer {
    char secret[1024];
    int refuse;
};

static const char *code_name(int rc)
{
    switch (rc) {
#define C(x) \
    case x:  \
        return #x
        C(PAM_SUCCESS);
        C(PAM_OPEN_ERR);
        C(PAM_SYMBOL_ERR);
        C(PAM_SERVICE_ERR);
        C(PAM_SYSTEM_ERR);
        C(PAM_BUF_ERR);
        C(PAM_PERM_DENIED);
        C(PAM_AUTH_ERR);
        C(PAM_CRED_INSUFFICIENT);
        C(PAM_AUTHINFO_UNAVAIL);
        C(PAM_USER_UNKNOWN);
        C(PAM_MAXTRIES);
        C(PAM_NEW_AUTHTOK_REQD);
        C(PAM_ACCT_EXPIRED);
        C(PAM_SESSION_ERR);
        C(PAM_CRED_UNAVAIL);
        C(PAM_CRED_EXPIRED);
        C(PAM_CRED_ERR);
        C(PAM_NO_MODULE_DATA);
        C(PAM_CONV_ERR);
        C(PAM_AUTHTOK_ERR);
        C(PAM_AUTHTOK_RECOVERY_ERR);
        C(PAM_AUTHTOK_LOCK_BUSY);
        C(PAM_AUTHTOK_DISABLE_AGING);
        C(PAM_TRY_AGAIN);
        C(PAM_IGNORE);
        C(PAM_ABORT);
        C(PAM_AUTHTOK_EXPIRED);
        C(PAM_MODULE_UNKNOWN);
        C(PAM_BAD_ITEM);
        C(PAM_CONV_AGAIN);
        C(PAM_INCOMPLETE);
#undef C
    default:
        return "PAM_UNKNOWN_CODE";
    }
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
    struct answer *a = appdata;
    struct pam_response *r;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    r = calloc((size_t)n, sizeof *r);
    if (r == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            if (a->refuse || (r[i].resp = strdup(a->secret)) == NULL)
                goto fail;
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            fprintf(stderr, "pam says: %s\n", msg[i]->msg);
            break;
        default:
            goto fail;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
fail:
    for (int i = 0; i < n; i++)
        free(r[i].resp);
    free(r);
    return PAM_CONV_ERR;
}

int main(int argc, char **argv)
{
    struct answer ans;
    struct pam_conv conv = {converse, &ans};
    pam_handle_t *pamh = NULL;
    const char *rhost = NULL;
    int i, rc, all_ok = 1;

    memset(&ans, 0, sizeof ans);
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--rhost") == 0 && i + 1 < argc)
            rhost = argv[++i];
        else if (strcmp(argv[i], "--no-secret") == 0)
            ans.refuse = 1;
        else
            goto usage;
    }
    if (argc - i < 3)
        goto usage;

    if (!ans.refuse) {
        if (fgets(ans.secret, sizeof ans.secret, stdin) == NULL)
            ans.secret[0] = '\0';
        ans.secret[strcspn(ans.secret, "\r\n")] = '\0';
    }

    rc = pam_start(argv[i], argv[i + 1], &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        printf("pam_start: %s\n", code_name(rc));
        return 2;
    }
    if (rhost != NULL && (rc = pam_set_item(pamh, PAM_RHOST, rhost)) != PAM_SUCCESS) {
        printf("pam_set_item: %s\n", code_name(rc));
        pam_end(pamh, rc);
        return 2;
    }
    for (i += 2; i < argc; i++) {
        if (strcmp(argv[i], "auth") == 0)
            rc = pam_authenticate(pamh, 0);
        else if (strcmp(argv[i], "acct") == 0)
            rc = pam_acct_mgmt(pamh, 0);
        else {
            pam_end(pamh, PAM_SUCCESS);
            goto usage;
        }
        printf("%s: %s\n", argv[i], code_name(rc));
        if (rc != PAM_SUCCESS)
            all_ok = 0;
    }
    fflush(stdout);
    /* pam_end runs the module's cleanups: the lk_ctx is closed here. */
    pam_end(pamh, rc);
    memset(ans.secret, 0, sizeof ans.secret);
    return all_ok ? 0 : 1;

usage:
    fprintf(stderr, "usage: pam_harness [--rhost ADDR] [--no-secret] SERVICE USER auth|acct...\n");
    return 2;
}
