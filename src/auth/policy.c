/* Input rules for accounts: usernames, email addresses and the password
 * policy. "Common" passwords are found two ways, each applied to the
 * password and to the password without the digits and symbols people pad
 * words with ("Summer2024!" is "Summer"): libpwquality's cracklib check
 * against Debian's cracklib dictionary (words), and the published lists of
 * leaked passwords that Debian packages ship, loaded at start-up into a
 * read-only hash set compared without regard to case (auth_policy_load).
 * cracklib is not known to be reentrant, so its calls are serialised. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pwquality.h>

#include "auth/auth.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

enum {
    DICT_CHECK_MAX = 128, /* longer passwords are not in anyone's list */
    DICT_WORD_MIN = 6     /* cracklib's own minimum */
};

static pwquality_settings_t *pwq;
static pthread_mutex_t pwq_mu = PTHREAD_MUTEX_INITIALIZER;

/* The common-password set: lower-case entries, NUL-separated in `text`,
 * found through open addressing in `slots` (offsets + 1; 0 is empty).
 * Written once by auth_policy_load before any check, then only read. */
static struct {
    char *text;
    size_t len, cap;
    uint32_t *slots;
    size_t nslots, n;
} common;

static uint64_t
fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The slot where lower-case s[0..n) is, or the empty one it would take. */
static size_t
common_slot(const char *s, size_t n)
{
    size_t i = (size_t)fnv1a(s, n) & (common.nslots - 1);
    while (common.slots[i] != 0) {
        const char *e = common.text + common.slots[i] - 1;
        if (strlen(e) == n && memcmp(e, s, n) == 0)
            break;
        i = (i + 1) & (common.nslots - 1);
    }
    return i;
}

static void
common_grow(void)
{
    size_t nslots = common.nslots == 0 ? 1u << 16 : common.nslots * 2;
    uint32_t *old = common.slots;
    size_t oldn = common.nslots;
    common.slots = xcalloc(nslots, sizeof(*common.slots));
    common.nslots = nslots;
    for (size_t i = 0; i < oldn; i++)
        if (old[i] != 0) {
            const char *e = common.text + old[i] - 1;
            common.slots[common_slot(e, strlen(e))] = old[i];
        }
    free(old);
}

/* Adds one entry (any case; trimmed of blanks and CR). */
static void
common_add(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n == 0 || n > DICT_CHECK_MAX || common.len + n + 1 >= UINT32_MAX)
        return;
    if ((common.n + 1) * 2 > common.nslots)
        common_grow();
    if (common.len + n + 1 > common.cap) {
        common.cap = (common.len + n + 1) * 2;
        common.text = xrealloc(common.text, common.cap);
    }
    char *e = common.text + common.len;
    for (size_t i = 0; i < n; i++)
        e[i] = (char)tolower((unsigned char)s[i]);
    e[n] = '\0';
    size_t slot = common_slot(e, n);
    if (common.slots[slot] != 0)
        return; /* already there */
    common.slots[slot] = (uint32_t)(common.len + 1);
    common.len += n + 1;
    common.n++;
}

static bool
is_listed(const char *pw, size_t n)
{
    if (common.n == 0 || n > DICT_CHECK_MAX)
        return false;
    char low[DICT_CHECK_MAX];
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)pw[i]);
    return common.slots[common_slot(low, n)] != 0;
}

/* The zxcvbn module's list (python3-zxcvbn): one line
 *     "passwords": "123456,password,...",
 * of a Python file generated from the published top lists. */
static const char ZXCVBN_KEY[] = "\"passwords\": \"";

/* Reads one file: a plain list (one password a line, "#!comment:" lines
 * skipped: john-data's password.lst), or zxcvbn's frequency_lists.py.
 * Returns how many entries it held, or -1 with errno. */
static long
load_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    bool zx = strstr(path, "frequency_lists.py") != NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long seen = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t n = (size_t)got;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (!zx) {
            if (n >= 2 && line[0] == '#' && line[1] == '!')
                continue;
            common_add(line, n);
            seen++;
            continue;
        }
        const char *k = strstr(line, ZXCVBN_KEY);
        if (k == NULL)
            continue;
        const char *p = k + sizeof(ZXCVBN_KEY) - 1, *end = line + n;
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            break;
        while (p < q) {
            const char *c = memchr(p, ',', (size_t)(q - p));
            const char *e = c != NULL ? c : q;
            common_add(p, (size_t)(e - p));
            seen++;
            p = e + 1;
        }
        break;
    }
    free(line);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        errno = EIO;
        return -1;
    }
    return seen;
}

int
auth_policy_load(const char *paths)
{
    if (paths == NULL || *paths == '\0') {
        log_warn("auth", "no common-password lists (PACE_COMMON_PASSWORDS_FILES is empty): only the cracklib "
                         "dictionary checks passwords");
        return OK;
    }
    int err = OK;
    const char *p = paths;
    while (err == OK && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char *path = xcalloc(1, n + 1);
        memcpy(path, p, n);
        p += comma != NULL ? n + 1 : n;
        char *start = path, *end = path + n;
        while (*start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            *--end = '\0';
        long got = *start != '\0' ? load_file(start) : 1;
        if (got < 0) {
            log_error("auth",
                      "cannot read the common-password list %s (%s): install john-data and "
                      "python3-zxcvbn, or set PACE_COMMON_PASSWORDS_FILES",
                      start, strerror(errno));
            err = ERR_INVALID;
        } else if (got == 0) {
            log_error("auth", "the common-password list %s holds no password", start);
            err = ERR_INVALID;
        }
        free(path);
    }
    if (err == OK)
        log_info("auth", "%zu common passwords loaded", common.n);
    return err;
}

static bool
fails_dictionary(const char *pw)
{
    /* The auxiliary error is cracklib's static text: not asked for. */
    pthread_mutex_lock(&pwq_mu);
    int rc = pwquality_check(pwq, pw, NULL, NULL, NULL);
    pthread_mutex_unlock(&pwq_mu);
    return rc < 0;
}

int
auth_policy_init(void)
{
    if (pwq != NULL)
        return OK;
    pwq = pwquality_default_settings();
    if (pwq == NULL)
        return ERR_NOMEM;
    /* Only the dictionary and its "simplistic" rules: length is ours, and
     * character classes are not required (NIST SP 800-63B). */
    static const struct {
        int setting, value;
    } settings[] = {
        {PWQ_SETTING_MIN_LENGTH, 6},  {PWQ_SETTING_DIG_CREDIT, 0},       {PWQ_SETTING_UP_CREDIT, 0},
        {PWQ_SETTING_LOW_CREDIT, 0},  {PWQ_SETTING_OTH_CREDIT, 0},       {PWQ_SETTING_MIN_CLASS, 0},
        {PWQ_SETTING_MAX_REPEAT, 0},  {PWQ_SETTING_MAX_CLASS_REPEAT, 0}, {PWQ_SETTING_MAX_SEQUENCE, 0},
        {PWQ_SETTING_GECOS_CHECK, 0}, {PWQ_SETTING_DICT_CHECK, 1},       {PWQ_SETTING_USER_CHECK, 0},
        {PWQ_SETTING_DIFF_OK, 0},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        pwquality_set_int_value(pwq, settings[i].setting, settings[i].value);
    /* A dictionary that does not load fails every password the same way:
     * make sure the check tells a word from a passphrase. */
    if (!fails_dictionary("password") || fails_dictionary("umbrella-quarterly-lantern")) {
        log_error("auth", "the cracklib dictionary did not load (install cracklib-runtime: "
                          "/var/cache/cracklib/cracklib_dict)");
        auth_policy_cleanup();
        return ERR_INVALID;
    }
    return OK;
}

void
auth_policy_cleanup(void)
{
    pwquality_free_settings(pwq);
    pwq = NULL;
    free(common.text);
    free(common.slots);
    memset(&common, 0, sizeof(common));
}

/* Case-insensitive (ASCII) search for needle[0..nl) in hay[0..hl). */
static bool
contains_nocase(const char *hay, size_t hl, const char *needle, size_t nl)
{
    if (nl == 0 || nl > hl)
        return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        size_t k = 0;
        while (k < nl && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == nl)
            return true;
    }
    return false;
}

static bool
is_pad(char c)
{
    return isdigit((unsigned char)c) || ispunct((unsigned char)c) || c == ' ';
}

/* The word inside the padding: [*start, *end) of pw, or false when there
 * is no padding or too little is left. */
static bool
core_of(const char *pw, size_t len, size_t *start, size_t *end)
{
    size_t s = 0, e = len;
    while (s < e && is_pad(pw[s]))
        s++;
    while (e > s && is_pad(pw[e - 1]))
        e--;
    *start = s;
    *end = e;
    return !(s == 0 && e == len) && e - s >= DICT_WORD_MIN;
}

/* On a published list of leaked passwords, whole or inside its padding. */
static bool
is_leaked(const char *pw, size_t len)
{
    size_t s, e;
    return is_listed(pw, len) || (core_of(pw, len, &s, &e) && is_listed(pw + s, e - s));
}

static bool
is_common(const char *pw, size_t len)
{
    if (len > DICT_CHECK_MAX)
        return false;
    char copy[DICT_CHECK_MAX + 1];
    memcpy(copy, pw, len);
    copy[len] = '\0';
    if (fails_dictionary(copy))
        return true;
    size_t start, end;
    if (!core_of(copy, len, &start, &end))
        return false;
    copy[end] = '\0';
    return fails_dictionary(copy + start);
}

static int
problem(struct auth_problem *p, const char *field, const char *code, const char *message)
{
    p->field = field;
    p->code = code;
    p->message = message;
    return ERR_INVALID;
}

int
auth_password_check(const char *pw, size_t len, const char *username, const char *email,
                    struct auth_problem *p)
{
    if (len < AUTH_PASSWORD_MIN)
        return problem(p, "password", "too_short", "must be at least 12 characters");
    if (len > AUTH_PASSWORD_MAX)
        return problem(p, "password", "too_long", "must be at most 1024 bytes");
    if (memchr(pw, '\0', len) != NULL)
        return problem(p, "password", "invalid_string", "must not contain NUL characters");
    if (username != NULL && strlen(username) >= AUTH_USERNAME_MIN &&
        contains_nocase(pw, len, username, strlen(username)))
        return problem(p, "password", "contains_username", "must not contain the username");
    if (email != NULL && *email != '\0') {
        const char *at = strchr(email, '@');
        size_t local = at != NULL ? (size_t)(at - email) : 0;
        if (contains_nocase(pw, len, email, strlen(email)) ||
            (local >= AUTH_USERNAME_MIN && contains_nocase(pw, len, email, local)))
            return problem(p, "password", "contains_email", "must not contain the email address");
    }
    if (is_leaked(pw, len))
        return problem(p, "password", "too_common",
                       "is on a published list of common passwords (leaked passwords are tried first)");
    if (is_common(pw, len))
        return problem(p, "password", "too_common", "is too common or too easy to guess");
    return OK;
}

int
auth_username_check(const char *s, struct auth_problem *p)
{
    size_t n = strlen(s);
    if (n < AUTH_USERNAME_MIN)
        return problem(p, "username", "too_short", "must be at least 3 characters");
    if (n > AUTH_USERNAME_MAX)
        return problem(p, "username", "too_long", "must be at most 32 characters");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) || c > 127) {
            if (c != '_' && c != '.' && c != '-')
                return problem(p, "username", "invalid_characters",
                               "may contain only letters, digits, '_', '.' and '-'");
        }
    }
    return OK;
}

static bool
is_atext(unsigned char c)
{
    return (c < 128 && isalnum(c)) || (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL);
}

static bool
domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '.') {
            unsigned char c = (unsigned char)d[i];
            if (c > 127 || !(isalnum(c) || c == '-'))
                return false;
            continue;
        }
        size_t ll = i - start;
        if (ll == 0 || ll > 63 || d[start] == '-' || d[i - 1] == '-')
            return false;
        labels++;
        start = i + 1;
    }
    return labels >= 2;
}

int
auth_email_check(const char *s, struct auth_problem *p)
{
    size_t n = strlen(s);
    if (n > AUTH_EMAIL_MAX)
        return problem(p, "email", "too_long", "must be at most 254 bytes");
    const char *at = strchr(s, '@');
    bool ok = at != NULL && strchr(at + 1, '@') == NULL;
    size_t local = ok ? (size_t)(at - s) : 0;
    ok = ok && local >= 1 && local <= 64 && s[0] != '.' && s[local - 1] != '.';
    for (size_t i = 0; ok && i < local; i++)
        ok = is_atext((unsigned char)s[i]) && !(s[i] == '.' && s[i + 1] == '.');
    ok = ok && domain_ok(at + 1, n - local - 1);
    if (!ok)
        return problem(p, "email", "invalid_email", "must be an email address such as name@example.com");
    return OK;
}
