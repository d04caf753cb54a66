/* Outgoing mail as durable jobs (see mail.h and docs/internals/mail.md):
 * mail_job seals a message's fields (the links carry tokens) into a
 * "mail.send" job; the job renders the templates and sends the message
 * with libcurl's SMTP (smtp.c), or writes it to the log with its links
 * redacted when no SMTP server is configured. Neither a token nor a full
 * link nor a full address is ever logged. */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "jobs/jobs.h"
#include "mail/internal.h"
#include "mail/mail.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/embedded.h"
#include "util/err.h"
#include "util/jparse.h"
#include "util/jw.h"
#include "util/log.h"

#define MAIL_JOB_KIND "mail.send"

static const char *const kind_names[MAIL_KIND_COUNT] = {
    "verify_email", "password_reset", "password_changed", "email_changed", "mfa_enabled", "mfa_disabled",
};

/* ---- options ---- */

static bool
printable_ascii(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* An address fit for an envelope and a header: local@domain, printable
 * ASCII or UTF-8, no spaces, brackets, quotes, commas or control bytes. */
static bool
address_ok(const char *s, size_t n)
{
    if (n < 3 || n > 254)
        return false;
    const char *at = memchr(s, '@', n);
    if (at == NULL || at == s || at == s + n - 1 || memchr(at + 1, '@', (size_t)(s + n - at - 1)) != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || strchr("<>,;:\"()[]\\", c) != NULL)
            return false;
    }
    return true;
}

/* The address inside a From ("name <a@b>" or "a@b") into addr (malloc). */
static int
from_address(const char *from, char **addr)
{
    const char *lt = strrchr(from, '<');
    const char *s = from;
    size_t n = strlen(from);
    if (lt != NULL) {
        const char *gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0')
            return ERR_INVALID;
        s = lt + 1;
        n = (size_t)(gt - s);
    }
    if (!address_ok(s, n))
        return ERR_INVALID;
    *addr = xstrndup(s, n);
    return OK;
}

bool
mail_template_exists(enum mail_kind k)
{
    char path[96];
    snprintf(path, sizeof(path), "src/mail/templates/%s.txt", kind_names[k]);
    const struct embedded_file *t = embedded_find(path);
    if (t == NULL || strncmp(t->data, "Subject: ", 9) != 0 || strchr(t->data, '\n') == NULL)
        return false;
    snprintf(path, sizeof(path), "src/mail/templates/%s.html", kind_names[k]);
    return embedded_find(path) != NULL;
}

int
mail_new(const struct mail_opts *o, struct store *st, struct mail **out, const char **why)
{
    *out = NULL;
    const char *url = o->smtp_url != NULL ? o->smtp_url : "";
    char *host = NULL, *from_addr = NULL;
    if (o->secret == NULL || o->secret[0] == '\0') {
        *why = "no server secret to seal mail payloads with";
        return ERR_INVALID;
    }
    if (url[0] != '\0' && mail_smtp_host(url, &host) != OK) {
        *why = "PACE_SMTP_URL must be smtp://host[:port] or smtps://host[:port]";
        return ERR_INVALID;
    }
    if (o->from == NULL || !printable_ascii(o->from) || from_address(o->from, &from_addr) != OK) {
        free(host);
        *why =
            "PACE_MAIL_FROM must be an address (a@example.com) or a name and one (pace <a@example.com>) in "
            "printable ASCII";
        return ERR_INVALID;
    }
    const char *pu = o->public_url != NULL ? o->public_url : "";
    size_t pl = strlen(pu);
    while (pl > 0 && pu[pl - 1] == '/')
        pl--;
    size_t scheme = strncmp(pu, "https://", 8) == 0 ? 8 : strncmp(pu, "http://", 7) == 0 ? 7 : 0;
    bool pu_ok = scheme > 0 && pl > scheme && pu[scheme] != '/';
    for (size_t i = 0; pu_ok && i < pl; i++) {
        unsigned char c = (unsigned char)pu[i];
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '?' || c == '"' || c == '<' || c == '>' || c == '\\')
            pu_ok = false;
    }
    if (!pu_ok) {
        free(host);
        free(from_addr);
        *why = "PACE_PUBLIC_URL must be an http:// or https:// URL without query or fragment";
        return ERR_INVALID;
    }
    for (int k = 0; k < MAIL_KIND_COUNT; k++) {
        if (!mail_template_exists((enum mail_kind)k)) {
            free(host);
            free(from_addr);
            *why = "a mail template is missing from the build (src/mail/templates/)";
            return ERR_INVALID;
        }
    }

    struct mail *m = xcalloc(1, sizeof(*m));
    m->st = st;
    m->smtp_url = url[0] != '\0' ? xstrdup(url) : NULL;
    m->smtp_host = host;
    m->smtp_user = o->smtp_user != NULL && o->smtp_user[0] != '\0' ? xstrdup(o->smtp_user) : NULL;
    m->smtp_password =
        o->smtp_password != NULL && o->smtp_password[0] != '\0' ? xstrdup(o->smtp_password) : NULL;
    m->from = xstrdup(o->from);
    m->from_addr = from_addr;
    m->from_domain = strchr(from_addr, '@') + 1;
    m->public_url = xstrndup(pu, pl);
    m->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    seal_key_derive(&m->key, o->secret, "mailjob1");
    if (m->smtp_url != NULL) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_info("mail", "mail goes to the SMTP server %s (%s%s), from %s, links under %s", m->smtp_host,
                 strncmp(url, "smtps:", 6) == 0 ? "TLS" : "STARTTLS when offered",
                 m->smtp_user != NULL ? ", with authentication" : "", m->from_addr, m->public_url);
    } else {
        log_info("mail", "no PACE_SMTP_URL: mail is written to the log (links redacted), links under %s",
                 m->public_url);
    }
    *out = m;
    return OK;
}

static void
wipe_free(char *s)
{
    if (s != NULL)
        sodium_memzero(s, strlen(s));
    free(s);
}

void
mail_free(struct mail *m)
{
    if (m == NULL)
        return;
    if (m->smtp_url != NULL)
        curl_global_cleanup();
    wipe_free(m->smtp_url);
    free(m->smtp_host);
    free(m->smtp_user);
    wipe_free(m->smtp_password);
    free(m->from);
    free(m->from_addr);
    free(m->public_url);
    seal_key_wipe(&m->key);
    free(m);
}

bool
mail_smtp_configured(const struct mail *m)
{
    return m != NULL && m->smtp_url != NULL;
}

/* ---- queueing ---- */

static bool
has_control(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int
mail_job(struct mail *m, const struct mail_message *msg, int64_t user_id, struct arena *a,
         struct store_job *job)
{
    if (msg->kind < 0 || msg->kind >= MAIL_KIND_COUNT || msg->to == NULL ||
        !address_ok(msg->to, strlen(msg->to)) || has_control(msg->username))
        return ERR_INVALID;
    bool linked = msg->kind == MAIL_VERIFY_EMAIL || msg->kind == MAIL_PASSWORD_RESET;
    if (linked && (msg->token == NULL || msg->token[0] == '\0' || has_control(msg->token)))
        return ERR_INVALID;
    if (msg->kind == MAIL_EMAIL_CHANGED && (msg->new_email == NULL || has_control(msg->new_email)))
        return ERR_INVALID;

    const char *link = NULL;
    if (linked)
        link = arena_printf(a, "%s/app/%s#token=%s", m->public_url,
                            msg->kind == MAIL_VERIFY_EMAIL ? "verify-email" : "reset-password", msg->token);
    uint8_t rnd[12];
    randombytes_buf(rnd, sizeof(rnd));
    char mid[sizeof(rnd) * 2 + 1];
    sodium_bin2hex(mid, sizeof(mid), rnd, sizeof(rnd));

    struct buf b;
    buf_init(&b, a, 512);
    struct jw w;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "kind");
    jw_str(&w, kind_names[msg->kind]);
    jw_key(&w, "to");
    jw_str(&w, msg->to);
    jw_key(&w, "username");
    jw_str(&w, msg->username != NULL ? msg->username : "");
    jw_key(&w, "link");
    jw_str_or_null(&w, link);
    jw_key(&w, "new_email");
    jw_str_or_null(&w, msg->kind == MAIL_EMAIL_CHANGED ? msg->new_email : NULL);
    jw_key(&w, "valid_minutes");
    jw_int(&w, msg->valid_minutes);
    jw_key(&w, "request_id");
    jw_str_or_null(&w, msg->request_id);
    jw_key(&w, "message_id");
    jw_str(&w, mid);
    jw_obj_end(&w);

    char *sealed = seal(&m->key, b.data, b.len, a);
    sodium_memzero(b.data, b.len); /* the link's token */
    *job = (struct store_job){
        .kind = MAIL_JOB_KIND,
        .payload = sealed,
        .user_id = user_id,
    };
    return OK;
}

void
mail_notify(struct mail *m)
{
    if (m != NULL)
        jobs_notify(m->jobs);
}

int
mail_queue(struct mail *m, const struct mail_message *msg, int64_t user_id, struct arena *a)
{
    struct store_job job;
    int err = mail_job(m, msg, user_id, a, &job);
    if (err != OK)
        return err;
    err = store_job_enqueue(m->st, &job);
    if (err == OK)
        mail_notify(m);
    return err;
}

/* ---- the job ---- */

static const char *
json_str(const json_t *o, const char *key, struct arena *a)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? arena_strndup(a, json_string_value(v), json_string_length(v)) : NULL;
}

int
mail_payload_open(struct mail *m, const char *payload, struct arena *a, struct mail_rendered *out)
{
    size_t n = 0;
    char *plain = seal_open(&m->key, payload, a, &n);
    if (plain == NULL)
        return ERR_INVALID;
    struct jparse_error e;
    json_t *root = jparse(plain, n, &e);
    sodium_memzero(plain, n);
    int err = ERR_INVALID;
    memset(out, 0, sizeof(*out));
    const char *kind = json_str(root, "kind", a);
    out->kind = MAIL_KIND_COUNT;
    for (int k = 0; kind != NULL && k < MAIL_KIND_COUNT; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            out->kind = (enum mail_kind)k;
    out->to = json_str(root, "to", a);
    out->username = json_str(root, "username", a);
    out->link = json_str(root, "link", a);
    out->new_email = json_str(root, "new_email", a);
    out->request_id = json_str(root, "request_id", a);
    out->message_id = json_str(root, "message_id", a);
    const json_t *vm = json_object_get(root, "valid_minutes");
    out->valid_minutes = json_is_integer(vm) ? (int)json_integer_value(vm) : 0;
    if (out->kind != MAIL_KIND_COUNT && out->to != NULL && address_ok(out->to, strlen(out->to)) &&
        out->username != NULL && out->message_id != NULL && !has_control(out->message_id) &&
        ((out->kind != MAIL_VERIFY_EMAIL && out->kind != MAIL_PASSWORD_RESET) || out->link != NULL))
        err = OK;
    json_decref(root);
    return err;
}

/* Appends s, HTML-escaped when html. */
static void
append_value(struct buf *b, const char *s, bool html)
{
    if (!html) {
        buf_appends(b, s);
        return;
    }
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            buf_appends(b, "&amp;");
            break;
        case '<':
            buf_appends(b, "&lt;");
            break;
        case '>':
            buf_appends(b, "&gt;");
            break;
        case '"':
            buf_appends(b, "&quot;");
            break;
        case '\'':
            buf_appends(b, "&#39;");
            break;
        default:
            buf_appendc(b, *s);
        }
    }
}

/* tmpl with every {{name}} replaced (HTML-escaped when html); an unknown
 * name becomes nothing. */
static char *
render(const char *tmpl, size_t len, const struct mail_rendered *r, const char *public_url, bool html,
       struct arena *a)
{
    struct buf b;
    buf_init(&b, a, len + 256);
    char minutes[16];
    snprintf(minutes, sizeof(minutes), "%d", r->valid_minutes);
    const char *end = tmpl + len;
    for (const char *p = tmpl; p < end;) {
        const char *open = strstr(p, "{{");
        const char *close = open != NULL ? strstr(open + 2, "}}") : NULL;
        if (open == NULL || open >= end || close == NULL || close >= end) {
            buf_append(&b, p, (size_t)(end - p));
            break;
        }
        buf_append(&b, p, (size_t)(open - p));
        const char *name = open + 2;
        size_t nl = (size_t)(close - name);
        const char *v = "";
        if (nl == 8 && memcmp(name, "username", 8) == 0)
            v = r->username;
        else if (nl == 4 && memcmp(name, "link", 4) == 0)
            v = r->link;
        else if (nl == 9 && memcmp(name, "new_email", 9) == 0)
            v = r->new_email;
        else if (nl == 13 && memcmp(name, "valid_minutes", 13) == 0)
            v = minutes;
        else if (nl == 10 && memcmp(name, "public_url", 10) == 0)
            v = public_url;
        append_value(&b, v != NULL ? v : "", html);
        p = close + 2;
    }
    buf_appendc(&b, '\0');
    return b.data;
}

int
mail_render(struct mail *m, struct mail_rendered *r, struct arena *a)
{
    char path[96];
    snprintf(path, sizeof(path), "src/mail/templates/%s.txt", kind_names[r->kind]);
    const struct embedded_file *txt = embedded_find(path);
    snprintf(path, sizeof(path), "src/mail/templates/%s.html", kind_names[r->kind]);
    const struct embedded_file *html = embedded_find(path);
    if (txt == NULL || html == NULL)
        return ERR_INTERNAL;
    /* The .txt's first line is "Subject: ...", then a blank line, then the body. */
    const char *nl = strchr(txt->data, '\n');
    const char *body = nl + 1;
    while (*body == '\n')
        body++;
    char *subject = render(txt->data + 9, (size_t)(nl - txt->data - 9), r, m->public_url, false, a);
    for (char *s = subject; *s != '\0'; s++) /* a header: one line */
        if (*s == '\r' || *s == '\n')
            *s = ' ';
    r->subject = subject;
    r->text = render(body, txt->len - (size_t)(body - txt->data), r, m->public_url, false, a);
    char *inner = render(html->data, html->len, r, m->public_url, true, a);
    struct buf b;
    buf_init(&b, a, strlen(inner) + 256);
    buf_appends(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    append_value(&b, subject, true);
    buf_appends(&b, "</title></head>\n<body>\n");
    buf_appends(&b, inner);
    buf_appends(&b, "</body></html>\n");
    buf_appendc(&b, '\0');
    r->html = b.data;
    return OK;
}

const char *
mail_mask_address(const char *addr, struct arena *a)
{
    const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
    if (at == NULL || at == addr)
        return "***";
    return arena_printf(a, "%c***%s", addr[0], at);
}

char *
mail_redact_links(const char *text, struct arena *a)
{
    struct buf b;
    buf_init(&b, a, strlen(text) + 16);
    static const char mark[] = "#token=";
    const char *p = text;
    for (const char *t; (t = strstr(p, mark)) != NULL;) {
        t += sizeof(mark) - 1;
        buf_append(&b, p, (size_t)(t - p));
        size_t n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        buf_append(&b, t, n < 4 ? n : 4);
        if (n > 4)
            buf_appends(&b, "\xe2\x80\xa6"); /* … */
        p = t + n;
    }
    buf_appends(&b, p);
    buf_appendc(&b, '\0');
    return b.data;
}

static enum jobs_result
run_send(struct jobs_run *run, void *arg)
{
    struct mail *m = arg;
    struct mail_rendered r;
    if (mail_payload_open(m, run->job->payload, run->arena, &r) != OK) {
        run->error = "the job's payload is not a mail message sealed with this server's secret";
        return JOBS_FAIL;
    }
    const char *masked = mail_mask_address(r.to, run->arena);
    if (m->smtp_url == NULL && r.new_email != NULL)
        r.new_email = mail_mask_address(r.new_email, run->arena); /* the log shows no whole address */
    if (mail_render(m, &r, run->arena) != OK) {
        run->error = "a mail template is missing";
        return JOBS_FAIL;
    }
    if (m->smtp_url == NULL) {
        log_write(LOG_INFO, "mail", r.request_id,
                  "mail to %s not sent (no PACE_SMTP_URL), job %" PRId64 ", Subject: %s\n%s", masked,
                  run->job->id, r.subject, mail_redact_links(r.text, run->arena));
        atomic_fetch_add_explicit(&m->logged, 1, memory_order_relaxed);
        return JOBS_DONE;
    }
    const char *why = NULL;
    enum jobs_result res = mail_smtp_send(m, &r, run, &why);
    switch (res) {
    case JOBS_DONE:
        atomic_fetch_add_explicit(&m->sent, 1, memory_order_relaxed);
        log_write(LOG_INFO, "mail", r.request_id, "mail to %s sent (%s, job %" PRId64 ", Message-ID %s@%s)",
                  masked, kind_names[r.kind], run->job->id, r.message_id, m->from_domain);
        break;
    case JOBS_RETRY:
        atomic_fetch_add_explicit(&m->retried, 1, memory_order_relaxed);
        run->error = why;
        break;
    case JOBS_FAIL:
        run->error = why;
        break;
    case JOBS_RELEASE:
        break;
    }
    return res;
}

static void
give_up(struct store *st, const struct store_job *job, const char *error, void *arg)
{
    (void)st;
    struct mail *m = arg;
    struct arena a;
    arena_init(&a);
    struct mail_rendered r;
    const char *to = "(unreadable payload)";
    const char *rid = NULL;
    if (mail_payload_open(m, job->payload, &a, &r) == OK) {
        to = mail_mask_address(r.to, &a);
        rid = r.request_id;
    }
    atomic_fetch_add_explicit(&m->given_up, 1, memory_order_relaxed);
    log_write(LOG_ERROR, "mail", rid, "mail to %s given up: %s (job %" PRId64 ", %d attempts)", to,
              error != NULL ? error : "unknown", job->id, job->attempts);
    arena_cleanup(&a);
}

static void
metrics(struct buf *out, void *arg)
{
    struct mail *m = arg;
    buf_printf(out,
               "# HELP pace_mail_sent_total Messages this instance handed to the SMTP server.\n"
               "# TYPE pace_mail_sent_total counter\n"
               "pace_mail_sent_total %lu\n"
               "# HELP pace_mail_logged_total Messages written to the log instead (no PACE_SMTP_URL).\n"
               "# TYPE pace_mail_logged_total counter\n"
               "pace_mail_logged_total %lu\n"
               "# HELP pace_mail_failed_total Failed sends: retried later, or given up (dead).\n"
               "# TYPE pace_mail_failed_total counter\n"
               "pace_mail_failed_total{reason=\"retry\"} %lu\n"
               "pace_mail_failed_total{reason=\"gave_up\"} %lu\n",
               atomic_load_explicit(&m->sent, memory_order_relaxed),
               atomic_load_explicit(&m->logged, memory_order_relaxed),
               atomic_load_explicit(&m->retried, memory_order_relaxed),
               atomic_load_explicit(&m->given_up, memory_order_relaxed));
}

int
mail_register(struct mail *m, struct jobs *j)
{
    m->jobs = j;
    struct jobs_kind k = {MAIL_JOB_KIND, run_send, give_up, metrics, m};
    return jobs_register(j, &k);
}
