/* `pace user import`: accounts from another system, one JSON object per
 * line, with their existing password hashes (bcrypt $2b$ or argon2id). The
 * same username and email rules as registration apply; a hash is never
 * printed, only the line number and what is wrong with it. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"
#include "store/store.h"
#include "util/err.h"
#include "util/jparse.h"

enum { LINE_MAX_BYTES = 16 * 1024 };

/* Checks one parsed line; NULL when it is fine, else why not (static). */
static const char *
check_line(const json_t *v, const char **username, const char **email, const char **hash)
{
    if (!json_is_object(v))
        return "not a JSON object";
    if (json_object_size(v) != 3)
        return "must have exactly the members username, email and password_hash";
    const json_t *u = json_object_get(v, "username"), *e = json_object_get(v, "email"),
                 *h = json_object_get(v, "password_hash");
    if (!json_is_string(u) || !json_is_string(e) || !json_is_string(h))
        return "username, email and password_hash must be strings";
    *username = json_string_value(u);
    *email = json_string_value(e);
    *hash = json_string_value(h);
    struct auth_problem p;
    if (strlen(*username) != json_string_length(u) || auth_username_check(*username, &p) != OK)
        return "invalid username (3 to 32 characters of [A-Za-z0-9_.-])";
    if (strlen(*email) != json_string_length(e) || auth_email_check(*email, &p) != OK)
        return "invalid email";
    if (!auth_password_hash_is_known(*hash))
        return "password_hash is not a bcrypt ($2b$) or argon2id hash";
    return NULL;
}

int
auth_user_import(struct store *st, FILE *in, FILE *err, size_t *imported, size_t *skipped)
{
    *imported = 0;
    *skipped = 0;
    char *line = NULL;
    size_t cap = 0;
    long no = 0;
    int rc = OK;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) >= 0) {
        no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        size_t i = 0;
        while (i < (size_t)len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)len)
            continue;
        if (len > LINE_MAX_BYTES) {
            fprintf(err, "pace: line %ld: longer than %d bytes; skipped\n", no, LINE_MAX_BYTES);
            (*skipped)++;
            continue;
        }
        struct jparse_error je;
        json_t *v = jparse(line, (size_t)len, &je);
        if (v == NULL) {
            fprintf(err, "pace: line %ld: %s; skipped\n", no, je.reason);
            (*skipped)++;
            continue;
        }
        const char *username = NULL, *email = NULL, *hash = NULL;
        const char *why = check_line(v, &username, &email, &hash);
        if (why != NULL) {
            fprintf(err, "pace: line %ld: %s; skipped\n", no, why);
            (*skipped)++;
            json_decref(v);
            continue;
        }
        struct store_user u = {.username = username, .email = email, .password_hash = hash};
        enum store_conflict conflict = STORE_CONFLICT_NONE;
        int e = store_user_create(st, &u, &conflict);
        if (e == ERR_CONFLICT) {
            fprintf(err, "pace: line %ld: the %s is already taken; skipped\n", no,
                    conflict == STORE_CONFLICT_EMAIL ? "email" : "username");
            (*skipped)++;
        } else if (e != OK) {
            fprintf(err, "pace: line %ld: the database refused the user (%s); stopping\n", no, err_name(e));
            rc = e;
        } else {
            (*imported)++;
        }
        json_decref(v);
        if (rc != OK)
            break;
    }
    free(line);
    return rc;
}
