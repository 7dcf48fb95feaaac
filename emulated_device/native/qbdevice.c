/*
 * The emulated phone's two native programs, one binary chosen by the name it is run as.
 *
 *   init         pid 1 of a domain's PID namespace: reaps every orphan, as a phone's init does.
 *   anything     a client of the device's system services (getprop, setprop, run-as, pm,
 *                dumpsys, cmd, logcat, log, getenforce, pkg, pip, ...): it hands its argv,
 *                environment, working folder and its standard input/output/error (as file
 *                descriptors, SCM_RIGHTS) to the service daemon over /dev/socket/qbdevice,
 *                then exits with the status the daemon sends back. The daemon knows who asks
 *                from the kernel (SO_PEERCRED), never from what the client says.
 *
 * A phone's run-as is a setuid program; here no program in the sandbox has a privilege (every
 * domain runs with no_new_privs), so what needs one is done by the daemon, outside.
 * Built by the emulated device at its start: cc -static -O2 -o qbdevice qbdevice.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOCKET_PATH "/dev/socket/qbdevice"
#define MAGIC "QBD1"

extern char **environ;

static void child_exited(int signal) {
    (void)signal;  /* only wakes sigsuspend: the loop reaps */
}

/* SIGCHLD's default action is to discard it, and a discarded signal never ends sigsuspend: with
 * no handler, init slept forever and every orphan stayed a zombie. The handler makes it count. */
static int reap_forever(void) {
    sigset_t chld, none;
    struct sigaction on_child;
    memset(&on_child, 0, sizeof on_child);
    on_child.sa_handler = child_exited;
    on_child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigemptyset(&on_child.sa_mask);
    sigaction(SIGCHLD, &on_child, NULL);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        sigsuspend(&none);
    }
}

struct buffer {
    char *data;
    size_t size, used;
};

static void put(struct buffer *b, const void *data, size_t n) {
    if (b->used + n > b->size) {
        b->size = (b->used + n) * 2;
        b->data = realloc(b->data, b->size);
        if (!b->data) {
            perror("qbdevice");
            exit(1);
        }
    }
    memcpy(b->data + b->used, data, n);
    b->used += n;
}

static void put_string(struct buffer *b, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    put(b, &n, sizeof n);
    put(b, s, n);
}

static void put_list(struct buffer *b, char **items, uint32_t count) {
    put(b, &count, sizeof count);
    for (uint32_t i = 0; i < count; i++) put_string(b, items[i]);
}

static int send_request(int sock, struct buffer *b) {
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    uint32_t length = (uint32_t)b->used;
    struct iovec iov[2] = {{MAGIC, 4}, {&length, sizeof length}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) return -1;
    for (size_t sent = 0; sent < b->used;) {
        ssize_t n = send(sock, b->data + sent, b->used - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        sent += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    char *name = basename(argv[0]);
    if (strcmp(name, "init") == 0) return reap_forever();

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, SOCKET_PATH, sizeof address.sun_path - 1);
    if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address) < 0) {
        fprintf(stderr, "%s: cannot reach the device's services: %s\n", name, strerror(errno));
        return 1;
    }
    uint32_t envc = 0;
    while (environ[envc]) envc++;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "/");
    struct buffer b = {0};
    argv[0] = name;
    put_list(&b, argv, (uint32_t)argc);
    put_list(&b, environ, envc);
    put_string(&b, cwd);
    if (send_request(sock, &b) < 0) {
        fprintf(stderr, "%s: the device's services did not take the request: %s\n", name, strerror(errno));
        return 1;
    }
    int32_t status;
    size_t got = 0;
    while (got < sizeof status) {
        ssize_t n = read(sock, (char *)&status + got, sizeof status - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fprintf(stderr, "%s: the device's services went away\n", name);
            return 1;
        }
        got += (size_t)n;
    }
    return status;
}
