/* The cost of one password hash, for bench/auth.sh: argon2id with the
 * given memory (KiB) and iterations, on one thread, as pace computes it
 * (auth_password_hash). Prints the mean milliseconds per hash.
 *
 *   auth_hash_bench [memory_kib] [iterations] [count]   (19456 2 40) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "auth/auth.h"
#include "util/err.h"

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
    long mem = argc > 1 ? strtol(argv[1], NULL, 10) : 19456;
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
    long count = argc > 3 ? strtol(argv[3], NULL, 10) : 40;
    if (sodium_init() < 0 || mem < 8 || iters < 1 || count < 1)
        return 2;
    struct auth_pwparams p = {(unsigned long long)iters, (size_t)mem, false};
    if (auth_password_init(&p) != OK)
        return 1;
    static const char pw[] = "umbrella-quarterly-lantern-42";
    char hash[AUTH_HASH_MAX];
    for (int i = 0; i < 3; i++) /* warm-up: page in the memory once */
        if (auth_password_hash(pw, sizeof(pw) - 1, hash) != OK)
            return 1;
    double start = now_ms();
    for (long i = 0; i < count; i++) {
        bool rehash;
        if (auth_password_verify(hash, pw, sizeof(pw) - 1, &rehash) != OK)
            return 1;
    }
    printf("%.3f\n", (now_ms() - start) / (double)count);
    return 0;
}
