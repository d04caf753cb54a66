/* Files compiled into the binary (see scripts/embed.cmake). */
#ifndef PACE_UTIL_EMBEDDED_H
#define PACE_UTIL_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *path; /* relative to the repository root */
    const char *data; /* NUL-terminated */
    size_t len;
};

/* Terminated by an entry with path == NULL. */
extern const struct embedded_file embedded_files[];

/* Returns the file with this exact path, or NULL. */
const struct embedded_file *embedded_find(const char *path);

#endif
