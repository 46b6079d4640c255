/*
 * restrict_af — run a command with socket(2) and socketpair(2) refused
 * (EAFNOSUPPORT, as systemd's filter answers) for every address family but
 * AF_UNIX, or AF_UNIX, AF_INET and AF_INET6: what RestrictAddressFamilies=
 * does, for tests/daemon/systemd.sh, which mirrors latchkeyd.service's
 * settings where systemd is not PID 1.
 *   restrict_af unix|unix,inet COMMAND [ARGS...]
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#endif

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "unix") != 0 && strcmp(argv[1], "unix,inet") != 0)) {
        fprintf(stderr, "usage: restrict_af unix|unix,inet COMMAND [ARGS...]\n");
        return 2;
    }
#ifndef NATIVE_ARCH
    puts("SKIP: restrict_af does not know this architecture's seccomp id");
    return 77;
#else
    unsigned inet = strcmp(argv[1], "unix,inet") == 0 ? AF_INET : AF_UNIX;
    unsigned inet6 = inet == AF_INET ? AF_INET6 : AF_UNIX;
    /* Jump offsets count from the next instruction; ALLOW is the last one. */
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 8),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, inet, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, inet6, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("restrict_af: seccomp");
        return 1;
    }
    execvp(argv[2], argv + 2);
    perror("restrict_af: exec");
    return 127;
#endif
}
