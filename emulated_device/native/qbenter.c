/*
 * Run one command inside a domain of the emulated phone (what jail.py's "enter" does, without
 * a Python start for every adb shell command). Run by the device's daemon, outside the sandbox:
 *
 *   qbenter HOLDER USERNS UID GID GROUPS CWD TTY ERRORS -- COMMAND [ARG...]
 *
 * HOLDER is the pid (this machine's) of the domain's pid 1; USERNS 1 when the domain is a user
 * namespace; GROUPS comma-separated; TTY 1 when standard input is a terminal to make the
 * controlling one; ERRORS "run-as" for run-as's exec failure message, else "plain". The
 * environment is the command's. It joins the holder's namespaces and root, forks (a PID
 * namespace admits only new children), and the child takes the domain's credentials (no
 * capability, no_new_privs) and execs; this process forwards SIGTERM/SIGINT/SIGHUP and exits
 * as the command does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void forward(int number) {
    if (kill(-child, number) != 0) kill(child, number);
}

static void fail(const char *what) {
    fprintf(stderr, "qbenter: %s: %s\n", what, strerror(errno));
    exit(126);
}

static void join(const char *holder, int userns) {
    static const char *kinds[] = {"user", "ipc", "uts", "pid", "mnt"};
    char path[64];
    int fds[5];
    for (int i = userns ? 0 : 1; i < 5; i++) {
        snprintf(path, sizeof path, "/proc/%s/ns/%s", holder, kinds[i]);
        if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) fail(path);
    }
    snprintf(path, sizeof path, "/proc/%s/root", holder);
    int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) fail(path);
    for (int i = userns ? 0 : 1; i < 5; i++) {
        if (setns(fds[i], 0) != 0) fail(kinds[i]);
        close(fds[i]);
    }
    if (fchdir(root) != 0 || chroot(".") != 0) fail("chroot");
    close(root);
}

static void credentials(int userns, uid_t uid, gid_t gid, char *groups) {
    if (!userns) {
        gid_t list[64];
        int count = 0;
        for (char *item = strtok(groups, ","); item && count < 64; item = strtok(NULL, ",")) list[count++] = (gid_t)atoi(item);
        if (setgroups(count, list) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) fail("credentials");
    } else {
        for (int capability = 0; capability < 64; capability++) prctl(PR_CAPBSET_DROP, capability, 0, 0, 0);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
}

int main(int argc, char **argv) {
    if (argc < 11 || strcmp(argv[9], "--") != 0) {
        fprintf(stderr, "usage: qbenter HOLDER USERNS UID GID GROUPS CWD TTY ERRORS -- COMMAND [ARG...]\n");
        return 2;
    }
    int userns = atoi(argv[2]), tty = atoi(argv[7]);
    uid_t uid = (uid_t)atoi(argv[3]);
    gid_t gid = (gid_t)atoi(argv[4]);
    join(argv[1], userns);
    child = fork();
    if (child < 0) fail("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (tty && !userns && fchown(0, uid, gid) != 0) fail("the terminal");
        credentials(userns, uid, gid, argv[5]);
        umask(022);
        if (chdir(argv[6]) != 0) fail(argv[6]);
        if (tty && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) != 0)) fail("controlling terminal");
        execvp(argv[10], argv + 10); /* PATH from this environment: the command's */
        int error = errno;
        if (strcmp(argv[8], "run-as") == 0) fprintf(stderr, "run-as: exec failed for %s: %s\n", argv[10], strerror(error));
        else fprintf(stderr, "%s: %s\n", argv[10], strerror(error));
        _exit(error == ENOENT ? 127 : 126);
    }
    struct sigaction action = {.sa_handler = forward};
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
