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

/* The web client and the API reference (scripts/web_embed.py; empty when
 * built with -DPACE_WEB_ASSETS=OFF). Sorted by path. */
struct embedded_web_file {
    const char *path;         /* the URL path: "/app/", "/docs/", "/app/assets/<V>/app.js" */
    const char *content_type; /* as sent */
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip; /* the same bytes gzipped, or NULL when that is not smaller */
    size_t gzip_len;
    const char *etag; /* strong, quoted; the gzipped bytes' is this one with "-gz" inside the quotes */
};

/* Terminated by an entry with path == NULL. */
extern const struct embedded_web_file embedded_web_files[];
/* V of the asset URLs; "" when no web assets were built. */
extern const char embedded_web_version[];

#endif
