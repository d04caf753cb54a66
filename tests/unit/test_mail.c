/* Unit tests for mail/mail.c and the parts of smtp.c without a server:
 * every kind's job payload is sealed (no token, address, link or name in
 * clear) and opens back to the message; rendering gives a one-line
 * subject, a text and an HTML part with the link under the public URL, the
 * valid minutes and the username; values are HTML-escaped in the HTML part
 * and only there; the log's redaction keeps 4 characters of a token; the
 * options mail_new refuses; the address mask; the SMTP host of a URL.
 * No store: mail_job fills a job without enqueueing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "check.h"
#include "mail/internal.h"
#include "mail/mail.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/log.h"
#include "util/seal.h"

static const char SECRET[] = "the server secret of the mail tests";
static const char PUBLIC_URL[] = "https://app.example.com";

static struct mail *
make(const char *smtp_url, const char *public_url)
{
    struct mail_opts o = {
        .smtp_url = smtp_url,
        .from = "pace <no-reply@example.com>",
        .public_url = public_url,
        .secret = SECRET,
    };
    struct mail *m = NULL;
    const char *why = NULL;
    int err = mail_new(&o, NULL, &m, &why);
    CHECK_EQ_INT(err, OK);
    return m;
}

static bool
is_linked(enum mail_kind k)
{
    return k == MAIL_VERIFY_EMAIL || k == MAIL_PASSWORD_RESET;
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Every kind: job, payload, opening, rendering, redaction. */
static void
test_kinds(void)
{
    struct mail *m = make(NULL, PUBLIC_URL);
    CHECK(!mail_smtp_configured(m));
    for (int k = 0; k < MAIL_KIND_COUNT; k++) {
        CHECK(mail_template_exists((enum mail_kind)k));
        struct arena a;
        arena_init(&a);
        char token[AUTH_REFRESH_TEXT];
        uint8_t th[AUTH_REFRESH_HASH];
        auth_token_new(token, th);
        struct mail_message msg = {
            .kind = (enum mail_kind)k,
            .to = "jane.doe@example.org",
            .username = "janedoe_runner",
            .token = is_linked((enum mail_kind)k) ? token : NULL,
            .new_email = k == MAIL_EMAIL_CHANGED ? "new.address@example.net" : NULL,
            .valid_minutes = is_linked((enum mail_kind)k) ? 47 : 0,
            .request_id = "req-0123",
        };
        struct store_job job;
        memset(&job, 0, sizeof(job));
        CHECK_EQ_INT(mail_job(m, &msg, 42, &a, &job), OK);
        CHECK_EQ_STR(job.kind, "mail.send");
        CHECK_EQ_INT(job.user_id, 42);
        CHECK(job.unique_key == NULL);
        CHECK(job.payload != NULL && strncmp(job.payload, "s1.", 3) == 0);
        const char *link = NULL;
        if (k == MAIL_VERIFY_EMAIL)
            link = arena_printf(&a, "%s/app/verify-email#token=%s", PUBLIC_URL, token);
        else if (k == MAIL_PASSWORD_RESET)
            link = arena_printf(&a, "%s/app/reset-password#token=%s", PUBLIC_URL, token);

        /* Sealed: nothing of the message in clear. */
        CHECK(strstr(job.payload, token) == NULL);
        CHECK(strstr(job.payload, "jane.doe") == NULL);
        CHECK(strstr(job.payload, "example") == NULL);
        CHECK(strstr(job.payload, "janedoe_runner") == NULL);
        CHECK(strstr(job.payload, "token") == NULL);
        CHECK(strstr(job.payload, "{") == NULL);
        /* Opened with a key of the same secret: the JSON of the message. */
        struct seal_key key;
        seal_key_derive(&key, SECRET, "mailjob1");
        const char *plain = seal_open(&key, job.payload, &a, NULL);
        seal_key_wipe(&key);
        CHECK(plain != NULL && plain[0] == '{');
        if (link != NULL && plain != NULL)
            CHECK(strstr(plain, token) != NULL);

        /* Opens back to the message. */
        struct mail_rendered r;
        CHECK_EQ_INT(mail_payload_open(m, job.payload, &a, &r), OK);
        CHECK_EQ_INT(r.kind, k);
        CHECK_EQ_STR(r.to, "jane.doe@example.org");
        CHECK_EQ_STR(r.username, "janedoe_runner");
        CHECK_EQ_STR(r.request_id, "req-0123");
        CHECK_EQ_INT(r.valid_minutes, msg.valid_minutes);
        CHECK(r.message_id != NULL && strlen(r.message_id) == 24 &&
              strspn(r.message_id, "0123456789abcdef") == 24);
        if (link != NULL)
            CHECK_EQ_STR(r.link, link);
        else
            CHECK(r.link == NULL);
        if (k == MAIL_EMAIL_CHANGED)
            CHECK_EQ_STR(r.new_email, "new.address@example.net");
        else
            CHECK(r.new_email == NULL);
        CHECK(r.subject == NULL && r.text == NULL && r.html == NULL);

        /* Rendered. */
        CHECK_EQ_INT(mail_render(m, &r, &a), OK);
        CHECK(r.subject != NULL && r.subject[0] != '\0');
        CHECK(r.subject != NULL && strpbrk(r.subject, "\r\n") == NULL);
        CHECK(r.subject != NULL && strstr(r.subject, "{{") == NULL && strncmp(r.subject, "Subject", 7) != 0);
        CHECK(r.text != NULL && strstr(r.text, "Subject:") == NULL);
        CHECK(r.text != NULL && strstr(r.text, "Hello janedoe_runner") != NULL);
        CHECK(r.html != NULL && strstr(r.html, "janedoe_runner") != NULL);
        CHECK(r.text != NULL && strstr(r.text, "{{") == NULL && strstr(r.text, "}}") == NULL);
        CHECK(r.html != NULL && strstr(r.html, "{{") == NULL && strstr(r.html, "}}") == NULL);
        CHECK(r.html != NULL && strncmp(r.html, "<!DOCTYPE html>", 15) == 0);
        CHECK(r.html != NULL && strstr(r.html, arena_printf(&a, "<title>%s</title>", r.subject)) != NULL);
        CHECK(r.html != NULL && strstr(r.html, "</body></html>") != NULL);
        CHECK(r.text != NULL && strstr(r.text, PUBLIC_URL) != NULL);
        if (link != NULL) {
            CHECK(strstr(r.text, link) != NULL);
            CHECK(strstr(r.html, arena_printf(&a, "href=\"%s\"", link)) != NULL);
            CHECK(strstr(r.text, "47 minutes") != NULL);
            CHECK(strstr(r.html, "47 minutes") != NULL);
            CHECK_EQ_INT(count(r.text, token), 1);
        } else {
            CHECK(strstr(r.text, "#token=") == NULL);
            CHECK(strstr(r.html, "#token=") == NULL);
        }
        if (k == MAIL_EMAIL_CHANGED) {
            CHECK(strstr(r.text, "new.address@example.net") != NULL);
            CHECK(strstr(r.html, "new.address@example.net") != NULL);
        }
        /* The log's text: no token, its first 4 characters and "…". */
        char *red = mail_redact_links(r.text, &a);
        CHECK(strstr(red, token) == NULL);
        CHECK(strstr(red, token + 4) == NULL);
        if (link != NULL) {
            const char *shown =
                arena_printf(&a, "%s/app/%s#token=%.4s\xe2\x80\xa6", PUBLIC_URL,
                             k == MAIL_VERIFY_EMAIL ? "verify-email" : "reset-password", token);
            CHECK(strstr(red, shown) != NULL);
        } else {
            CHECK_EQ_STR(red, r.text); /* nothing to redact */
        }
        /* The subject carries nothing secret. */
        CHECK(strstr(r.subject, token) == NULL);
        arena_cleanup(&a);
    }
    mail_free(m);
}

/* Values HTML-escaped in the HTML part (title included), as they are in
 * the text and the subject. */
static void
test_html_escape(void)
{
    struct mail *m = make(NULL, PUBLIC_URL);
    const char *evil = "<b>Tom & \"Jerry\" O'Neil</b>";
    const char *escaped = "&lt;b&gt;Tom &amp; &quot;Jerry&quot; O&#39;Neil&lt;/b&gt;";
    const char *evil_mail = "x\"><script>alert('&')</script>@example.com";
    const char *evil_mail_esc = "x&quot;&gt;&lt;script&gt;alert(&#39;&amp;&#39;)&lt;/script&gt;@example.com";
    for (int k = 0; k < MAIL_KIND_COUNT; k++) {
        struct arena a;
        arena_init(&a);
        struct mail_message msg = {
            .kind = (enum mail_kind)k,
            .to = "a@example.org",
            .username = evil,
            .token = is_linked((enum mail_kind)k) ? "tok_en-0123456789" : NULL,
            .new_email = k == MAIL_EMAIL_CHANGED ? evil_mail : NULL,
            .valid_minutes = 30,
        };
        struct store_job job;
        CHECK_EQ_INT(mail_job(m, &msg, 1, &a, &job), OK);
        struct mail_rendered r;
        CHECK_EQ_INT(mail_payload_open(m, job.payload, &a, &r), OK);
        CHECK_EQ_INT(mail_render(m, &r, &a), OK);
        CHECK(strstr(r.html, escaped) != NULL);
        CHECK(strstr(r.html, evil) == NULL);
        CHECK(strstr(r.html, "<b>") == NULL);
        CHECK(strstr(r.html, "<script>") == NULL);
        CHECK(strstr(r.html, "O'Neil") == NULL);
        CHECK(strstr(r.html, "\"Jerry\"") == NULL);
        CHECK(strstr(r.text, evil) != NULL); /* plain text: as it is */
        if (k == MAIL_EMAIL_CHANGED) {
            CHECK(strstr(r.html, evil_mail_esc) != NULL);
            CHECK(strstr(r.text, evil_mail) != NULL);
        }
        if (is_linked((enum mail_kind)k))
            CHECK(strstr(r.html, "#token=tok_en-0123456789\"") != NULL);
        arena_cleanup(&a);
    }
    /* A public URL with '&' (allowed by mail_new) is escaped in the HTML. */
    struct mail *m2 = make(NULL, "https://example.com/a&b");
    struct arena a;
    arena_init(&a);
    struct mail_message msg = {.kind = MAIL_PASSWORD_RESET,
                               .to = "a@example.org",
                               .username = "u",
                               .token = "abcdefgh",
                               .valid_minutes = 5};
    struct store_job job;
    CHECK_EQ_INT(mail_job(m2, &msg, 1, &a, &job), OK);
    struct mail_rendered r;
    CHECK_EQ_INT(mail_payload_open(m2, job.payload, &a, &r), OK);
    CHECK_EQ_INT(mail_render(m2, &r, &a), OK);
    CHECK(strstr(r.html, "href=\"https://example.com/a&amp;b/app/reset-password#token=abcdefgh\"") != NULL);
    CHECK(strstr(r.text, "https://example.com/a&b/app/reset-password#token=abcdefgh") != NULL);
    arena_cleanup(&a);
    mail_free(m2);
    mail_free(m);
}

/* A value that looks like a placeholder is not expanded again: a
 * username cannot pull the link into a notice or another field. */
static void
test_no_reexpansion(void)
{
    struct mail *m = make(NULL, PUBLIC_URL);
    struct arena a;
    arena_init(&a);
    struct mail_message msg = {.kind = MAIL_VERIFY_EMAIL,
                               .to = "a@example.org",
                               .username = "{{link}}{{public_url}}{{valid_minutes}}{{",
                               .token = "secrettokenvalue",
                               .valid_minutes = 12};
    struct store_job job;
    CHECK_EQ_INT(mail_job(m, &msg, 1, &a, &job), OK);
    struct mail_rendered r;
    CHECK_EQ_INT(mail_payload_open(m, job.payload, &a, &r), OK);
    CHECK_EQ_INT(mail_render(m, &r, &a), OK);
    CHECK(strstr(r.text, "Hello {{link}}{{public_url}}{{valid_minutes}}{{,") != NULL);
    CHECK(strstr(r.html, "Hello {{link}}{{public_url}}{{valid_minutes}}{{,") != NULL);
    CHECK_EQ_INT(count(r.text, "secrettokenvalue"), 1);
    arena_cleanup(&a);
    mail_free(m);
}

/* The public URL: a trailing slash dropped, a path kept. */
static void
test_public_url(void)
{
    static const struct {
        const char *configured, *base;
    } v[] = {
        {"https://app.example.com/", "https://app.example.com"},
        {"https://app.example.com///", "https://app.example.com"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"https://example.com/pace/", "https://example.com/pace"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct mail *m = make(NULL, v[i].configured);
        if (m == NULL)
            continue;
        struct arena a;
        arena_init(&a);
        struct mail_message msg = {.kind = MAIL_VERIFY_EMAIL,
                                   .to = "a@example.org",
                                   .username = "u",
                                   .token = "T0KEN",
                                   .valid_minutes = 9};
        struct store_job job;
        CHECK_EQ_INT(mail_job(m, &msg, 1, &a, &job), OK);
        struct mail_rendered r;
        CHECK_EQ_INT(mail_payload_open(m, job.payload, &a, &r), OK);
        CHECK_EQ_STR(r.link, arena_printf(&a, "%s/app/verify-email#token=T0KEN", v[i].base));
        CHECK_EQ_INT(mail_render(m, &r, &a), OK);
        CHECK(strstr(r.text, arena_printf(&a, "%s/app/verify-email#token=T0KEN", v[i].base)) != NULL);
        CHECK(strstr(r.text, "//app/") == NULL);
        arena_cleanup(&a);
        mail_free(m);
    }
}

/* What mail_job refuses. */
static void
test_job_invalid(void)
{
    struct mail *m = make(NULL, PUBLIC_URL);
    struct arena a;
    arena_init(&a);
    struct store_job job;
    struct mail_message ok = {.kind = MAIL_VERIFY_EMAIL,
                              .to = "a@example.org",
                              .username = "u",
                              .token = "tok",
                              .valid_minutes = 1};
    CHECK_EQ_INT(mail_job(m, &ok, 1, &a, &job), OK);
    struct mail_message b = ok;
    b.to = NULL;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    static const char *bad_to[] = {"",        "a",       "@example.org", "a@",
                                   "a@b@c",   "a b@c.d", "<a@b.c>",      "a@b.c\r\nBcc: x@y.z",
                                   "a,b@c.d", "a@b;c",   "\"a\"@b.c"};
    for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
        b = ok;
        b.to = bad_to[i];
        CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    }
    b = ok;
    b.token = NULL;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b.token = "";
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b.token = "to\nken";
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b = ok;
    b.kind = MAIL_PASSWORD_RESET;
    b.token = NULL;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b = ok;
    b.username = "line\r\nBcc: x@y.z";
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b = ok;
    b.kind = MAIL_EMAIL_CHANGED;
    b.new_email = NULL;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b.new_email = "x@y.z\n";
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b = ok;
    b.kind = MAIL_KIND_COUNT;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    b.kind = (enum mail_kind) - 1;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), ERR_INVALID);
    /* Notices need no token; a NULL username is an empty greeting. */
    b = ok;
    b.kind = MAIL_MFA_ENABLED;
    b.token = NULL;
    b.username = NULL;
    CHECK_EQ_INT(mail_job(m, &b, 1, &a, &job), OK);
    struct mail_rendered r;
    CHECK_EQ_INT(mail_payload_open(m, job.payload, &a, &r), OK);
    CHECK_EQ_STR(r.username, "");
    CHECK(r.link == NULL);
    CHECK_EQ_INT(mail_render(m, &r, &a), OK);
    arena_cleanup(&a);
    mail_free(m);
}

/* What mail_payload_open refuses. */
static void
test_payload_invalid(void)
{
    struct mail *m = make(NULL, PUBLIC_URL);
    struct arena a;
    arena_init(&a);
    struct mail_message msg = {.kind = MAIL_PASSWORD_RESET,
                               .to = "a@example.org",
                               .username = "u",
                               .token = "tok",
                               .valid_minutes = 1};
    struct store_job job;
    CHECK_EQ_INT(mail_job(m, &msg, 1, &a, &job), OK);
    struct mail_rendered r;
    /* Another server's secret. */
    struct mail_opts o2 = {.from = "a@example.com", .public_url = PUBLIC_URL, .secret = "another secret"};
    struct mail *other = NULL;
    const char *why = NULL;
    CHECK_EQ_INT(mail_new(&o2, NULL, &other, &why), OK);
    CHECK_EQ_INT(mail_payload_open(other, job.payload, &a, &r), ERR_INVALID);
    mail_free(other);
    /* Tampered, not sealed. */
    char *t = arena_strndup(&a, job.payload, strlen(job.payload));
    t[20] = t[20] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(mail_payload_open(m, t, &a, &r), ERR_INVALID);
    CHECK_EQ_INT(mail_payload_open(m, "{\"kind\":\"mfa_enabled\"}", &a, &r), ERR_INVALID);
    CHECK_EQ_INT(mail_payload_open(m, "", &a, &r), ERR_INVALID);
    /* Sealed with the right key, but not a message. */
    static const char *plains[] = {
        "not json",
        "[]",
        "{}",
        "{\"kind\":\"nope\",\"to\":\"a@b.c\",\"username\":\"u\",\"message_id\":\"ab\"}",
        "{\"kind\":\"mfa_enabled\",\"to\":\"not an address\",\"username\":\"u\",\"message_id\":\"ab\"}",
        "{\"kind\":\"mfa_enabled\",\"to\":\"a@b.c\",\"message_id\":\"ab\"}",
        "{\"kind\":\"mfa_enabled\",\"to\":\"a@b.c\",\"username\":\"u\"}",
        "{\"kind\":\"mfa_enabled\",\"to\":\"a@b.c\",\"username\":\"u\",\"message_id\":\"\"}",
        "{\"kind\":\"mfa_enabled\",\"to\":\"a@b.c\",\"username\":\"u\",\"message_id\":\"AB\\r\\nX: y\"}",
        "{\"kind\":\"verify_email\",\"to\":\"a@b.c\",\"username\":\"u\",\"message_id\":\"ab\"}",
        "{\"kind\":\"password_reset\",\"to\":\"a@b.c\",\"username\":\"u\",\"link\":null,\"message_id\":"
        "\"ab\"}",
    };
    for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++)
        CHECK_EQ_INT(mail_payload_open(m, seal(&m->key, plains[i], strlen(plains[i]), &a), &a, &r),
                     ERR_INVALID);
    const char *good = "{\"kind\":\"mfa_enabled\",\"to\":\"a@b.c\",\"username\":\"u\",\"message_id\":\"ab\"}";
    CHECK_EQ_INT(mail_payload_open(m, seal(&m->key, good, strlen(good), &a), &a, &r), OK);
    arena_cleanup(&a);
    mail_free(m);
}

/* The log's redaction on its own. */
static void
test_redact(void)
{
    struct arena a;
    arena_init(&a);
    CHECK_EQ_STR(mail_redact_links("no link here", &a), "no link here");
    CHECK_EQ_STR(mail_redact_links("", &a), "");
    CHECK_EQ_STR(mail_redact_links("https://x/app/verify-email#token=abcdefghijklmnop\nend", &a),
                 "https://x/app/verify-email#token=abcd\xe2\x80\xa6\nend");
    /* Every link, not only the first. */
    CHECK_EQ_STR(mail_redact_links("a #token=AAAAbbbb-_cc b #token=ZZZZyyyy c", &a),
                 "a #token=AAAA\xe2\x80\xa6 b #token=ZZZZ\xe2\x80\xa6 c");
    /* At most 4 characters: a token of 4 or fewer is shown as it is (real
     * tokens are 43). */
    CHECK_EQ_STR(mail_redact_links("#token=abcd", &a), "#token=abcd");
    CHECK_EQ_STR(mail_redact_links("#token=abcde", &a), "#token=abcd\xe2\x80\xa6");
    CHECK_EQ_STR(mail_redact_links("#token=", &a), "#token=");
    CHECK_EQ_STR(mail_redact_links("#token=#token=abcdef", &a), "#token=#token=abcd\xe2\x80\xa6");
    /* A real token at the end of the text. */
    char token[AUTH_REFRESH_TEXT];
    uint8_t th[AUTH_REFRESH_HASH];
    for (int i = 0; i < 20; i++) {
        auth_token_new(token, th);
        char *red =
            mail_redact_links(arena_printf(&a, "see https://h/app/reset-password#token=%s", token), &a);
        CHECK(strstr(red, token + 4) == NULL);
        CHECK_EQ_STR(red, arena_printf(&a, "see https://h/app/reset-password#token=%.4s\xe2\x80\xa6", token));
    }
    arena_cleanup(&a);
}

static void
test_mask(void)
{
    struct arena a;
    arena_init(&a);
    CHECK_EQ_STR(mail_mask_address("jane@example.com", &a), "j***@example.com");
    CHECK_EQ_STR(mail_mask_address("j@example.com", &a), "j***@example.com");
    CHECK_EQ_STR(mail_mask_address("a@b@example.com", &a), "a***@example.com");
    CHECK_EQ_STR(mail_mask_address("@example.com", &a), "***");
    CHECK_EQ_STR(mail_mask_address("no address", &a), "***");
    CHECK_EQ_STR(mail_mask_address(NULL, &a), "***");
    arena_cleanup(&a);
}

static int
try_new(const char *smtp_url, const char *from, const char *public_url, const char *secret, bool *smtp)
{
    struct mail_opts o = {
        .smtp_url = smtp_url, .from = from, .public_url = public_url, .secret = secret, .timeout_ms = 1000};
    struct mail *m = (struct mail *)1;
    const char *why = NULL;
    int err = mail_new(&o, NULL, &m, &why);
    if (err == OK) {
        CHECK(m != NULL);
        if (smtp != NULL)
            *smtp = mail_smtp_configured(m);
        mail_free(m);
    } else {
        CHECK(m == NULL);
        CHECK(why != NULL && why[0] != '\0');
    }
    return err;
}

static void
test_new(void)
{
    const char *from = "pace <no-reply@example.com>";
    bool smtp = false;
    CHECK_EQ_INT(try_new(NULL, from, PUBLIC_URL, SECRET, &smtp), OK);
    CHECK(!smtp);
    CHECK_EQ_INT(try_new("", from, PUBLIC_URL, SECRET, &smtp), OK);
    CHECK(!smtp);
    CHECK_EQ_INT(try_new("smtp://localhost:2525", from, PUBLIC_URL, SECRET, &smtp), OK);
    CHECK(smtp);
    CHECK_EQ_INT(try_new("smtps://mail.example.com", from, PUBLIC_URL, SECRET, &smtp), OK);
    CHECK(smtp);
    CHECK_EQ_INT(try_new(NULL, "no-reply@example.com", PUBLIC_URL, SECRET, NULL), OK);
    CHECK_EQ_INT(try_new(NULL, "<no-reply@example.com>", PUBLIC_URL, SECRET, NULL), OK);
    CHECK_EQ_INT(try_new(NULL, from, "http://localhost:8080", SECRET, NULL), OK);

    /* SMTP URLs of another scheme, or none, or no host. */
    static const char *bad_smtp[] = {"http://mail.example.com",
                                     "https://mail.example.com",
                                     "ftp://x",
                                     "mail.example.com:25",
                                     "smtp://",
                                     "smtp:",
                                     "imap://mail.example.com",
                                     "not a url"};
    for (size_t i = 0; i < sizeof(bad_smtp) / sizeof(bad_smtp[0]); i++)
        CHECK_EQ_INT(try_new(bad_smtp[i], from, PUBLIC_URL, SECRET, NULL), ERR_INVALID);
    /* From missing or not an address. */
    static const char *bad_from[] = {NULL,
                                     "",
                                     "pace",
                                     "pace <no-reply>",
                                     "pace <no-reply@example.com",
                                     "pace <no-reply@example.com> x",
                                     "@example.com",
                                     "a@",
                                     "a@b@c",
                                     "pace <a b@example.com>",
                                     "pace <a@example.com>\r\nBcc: x@y.z",
                                     "p\xc3\xa1"
                                     "ce <a@example.com>"};
    for (size_t i = 0; i < sizeof(bad_from) / sizeof(bad_from[0]); i++)
        CHECK_EQ_INT(try_new(NULL, bad_from[i], PUBLIC_URL, SECRET, NULL), ERR_INVALID);
    /* Public URLs that are not http(s) or carry a query or fragment. */
    static const char *bad_pu[] = {NULL,
                                   "",
                                   "app.example.com",
                                   "ftp://app.example.com",
                                   "javascript:alert(1)",
                                   "https://",
                                   "https:///",
                                   "https:///path",
                                   "https://app.example.com/?x=1",
                                   "https://app.example.com/#f",
                                   "https://app example.com",
                                   "https://app.example.com/\"><script>",
                                   "https://app.example.com\n"};
    for (size_t i = 0; i < sizeof(bad_pu) / sizeof(bad_pu[0]); i++)
        CHECK_EQ_INT(try_new(NULL, from, bad_pu[i], SECRET, NULL), ERR_INVALID);
    /* No server secret. */
    CHECK_EQ_INT(try_new(NULL, from, PUBLIC_URL, NULL, NULL), ERR_INVALID);
    CHECK_EQ_INT(try_new(NULL, from, PUBLIC_URL, "", NULL), ERR_INVALID);
}

static void
test_smtp_host(void)
{
    static const struct {
        const char *url, *host;
    } v[] = {
        {"smtp://mail.example.com", "mail.example.com"},
        {"smtp://mail.example.com:587", "mail.example.com:587"},
        {"smtps://mail.example.com:465/", "mail.example.com:465"},
        {"smtp://user:pass@mail.example.com:25", "mail.example.com:25"}, /* no credentials in log lines */
        {"smtp://127.0.0.1:2525", "127.0.0.1:2525"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *h = NULL;
        CHECK_EQ_INT(mail_smtp_host(v[i].url, &h), OK);
        CHECK_EQ_STR(h, v[i].host);
        free(h);
    }
    static const char *bad[] = {"http://mail.example.com", "smtp://", "", "mail.example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *h = NULL;
        CHECK_EQ_INT(mail_smtp_host(bad[i], &h), ERR_INVALID);
        CHECK(h == NULL);
    }
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    log_init(LOG_WARN, LOG_TEXT);
    test_kinds();
    test_html_escape();
    test_no_reexpansion();
    test_public_url();
    test_job_invalid();
    test_payload_invalid();
    test_redact();
    test_mask();
    test_new();
    test_smtp_host();
    return check_done();
}
