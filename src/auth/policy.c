/* Input rules for accounts: usernames, email addresses and the password
 * policy. "Common" passwords are found by libpwquality's cracklib check
 * against Debian's cracklib dictionary, applied to the password and to the
 * password without the digits and symbols people pad words with
 * ("Summer2024!" is "Summer"). cracklib is not known to be reentrant, so
 * its calls are serialised. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pwquality.h>

#include "auth/auth.h"
#include "util/err.h"
#include "util/log.h"

enum {
    DICT_CHECK_MAX = 128, /* longer passwords are not in anyone's list */
    DICT_WORD_MIN = 6     /* cracklib's own minimum */
};

static pwquality_settings_t *pwq;
static pthread_mutex_t pwq_mu = PTHREAD_MUTEX_INITIALIZER;

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
    /* The word inside the padding. */
    size_t start = 0, end = len;
    while (start < end && is_pad(copy[start]))
        start++;
    while (end > start && is_pad(copy[end - 1]))
        end--;
    if ((start == 0 && end == len) || end - start < DICT_WORD_MIN)
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
