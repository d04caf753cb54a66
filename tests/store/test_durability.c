/* Durability: a child process writes from several threads and reports each
 * acknowledged task id through a pipe; it is killed with SIGKILL mid-way;
 * a freshly opened store must hold every acknowledged row. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contract.h"
#include "util/arena.h"

enum { CHILD_THREADS = 8, KILL_AFTER = 400, MAX_ACKS = 100000 };

struct child_arg {
    struct store *s;
    int64_t uid;
    int fd;
};

static void *
child_writer(void *arg)
{
    struct child_arg *ca = arg;
    for (;;) {
        struct store_task t = {.user_id = ca->uid, .title = "durable", .status = STORE_TASK_TODO};
        if (store_task_create(ca->s, &t) != OK)
            continue;
        /* Acknowledged: report it. 8-byte pipe writes are atomic. */
        if (write(ca->fd, &t.id, sizeof(t.id)) != (ssize_t)sizeof(t.id))
            _exit(3);
    }
    return NULL;
}

int
contract_durability_child(const char *url, int64_t user_id, int fd)
{
    struct store *s;
    if (contract_open(url, &s) != OK)
        return 2;
    struct child_arg ca = {s, user_id, fd};
    pthread_t t[CHILD_THREADS];
    for (int i = 0; i < CHILD_THREADS; i++)
        pthread_create(&t[i], NULL, child_writer, &ca);
    for (int i = 0; i < CHILD_THREADS; i++)
        pthread_join(t[i], NULL); /* never: the parent kills us */
    return 0;
}

static int
read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

void
contract_durability(struct store *s)
{
    int64_t uid = contract_user(s, "durable");
    CHECK(uid != 0);
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(!"pipe");
        return;
    }
    char uid_arg[32], fd_arg[16];
    snprintf(uid_arg, sizeof(uid_arg), "%lld", (long long)uid);
    snprintf(fd_arg, sizeof(fd_arg), "%d", fds[1]);
    pid_t pid = fork();
    if (pid == 0) {
        /* A fresh process, not a fork of this threaded one. */
        close(fds[0]);
        execl("/proc/self/exe", contract_self, "--durability-child", contract_url, uid_arg, fd_arg,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int64_t *acked = malloc(MAX_ACKS * sizeof(*acked));
    size_t n = 0;
    bool killed = false;
    int64_t id;
    while (n < MAX_ACKS && read_full(fds[0], &id, sizeof(id)) == 0) {
        acked[n++] = id;
        if (n == KILL_AFTER && !killed) {
            kill(pid, SIGKILL);
            killed = true; /* acks already in the pipe are still read */
        }
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(n >= KILL_AFTER);

    /* Reopen and find every acknowledged row. */
    struct store *again;
    int err = contract_open(contract_url, &again);
    CHECK_EQ_INT(err, OK);
    if (err == OK) {
        struct arena a;
        arena_init(&a);
        size_t found = 0;
        for (size_t i = 0; i < n; i++) {
            struct store_task t;
            found += store_task_get(again, uid, acked[i], &a, &t) == OK;
        }
        fprintf(stderr, "durability: %zu acknowledged before SIGKILL, %zu found after reopen\n", n, found);
        CHECK_EQ_INT(found, n);
        arena_cleanup(&a);
        store_close(again);
    }
    free(acked);
    contract_tally();
}
