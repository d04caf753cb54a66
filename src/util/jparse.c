/* Capped JSON parsing. The depth scan walks the bytes once, skipping string
 * contents, so a body of a million '[' is refused in linear time without
 * recursion in the parser. */
#include <stdbool.h>
#include <string.h>

#include "util/jparse.h"

/* Returns false when brackets nest deeper than max outside strings. */
static bool
depth_ok(const char *s, size_t n, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

json_t *
jparse(const char *s, size_t n, struct jparse_error *e)
{
    e->line = 0;
    e->column = 0;
    e->reason = NULL;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == n) {
        e->reason = "the body is empty";
        return NULL;
    }
    if (memchr(s, '\0', n) != NULL) {
        e->reason = "invalid JSON"; /* a NUL byte is never valid JSON; jansson would skip it */
        return NULL;
    }
    if (!depth_ok(s, n, JPARSE_MAX_DEPTH)) {
        e->reason = "nesting is deeper than 32 levels";
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (v == NULL) {
        e->line = je.line;
        e->column = je.column;
        e->reason =
            json_error_code(&je) == json_error_duplicate_key ? "duplicate object key" : "invalid JSON";
    }
    return v;
}
