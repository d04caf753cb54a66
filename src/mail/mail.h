/* Outgoing mail (docs/internals/mail.md). A message is a durable job of
 * kind "mail.send" whose payload is sealed (util/seal.h: the links in it
 * carry tokens), so it survives restarts, is retried with back-off and is
 * given up (dead, logged, counted) after the job queue's last attempt.
 * The job sends it over SMTP with libcurl (PACE_SMTP_URL); without
 * PACE_SMTP_URL it is written to the log at info with its links redacted
 * (development). Bodies are plain text and HTML from the templates in
 * src/mail/templates/, every link under PACE_PUBLIC_URL. */
#ifndef PACE_MAIL_MAIL_H
#define PACE_MAIL_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct jobs;
struct store;
struct store_job;

struct mail_opts {
    const char *smtp_url;      /* smtp://host:port or smtps://host:port; NULL or "": log only */
    const char *smtp_user;     /* NULL or "": no authentication */
    const char *smtp_password; /* NULL or "" */
    const char *from;          /* the From address, "pace <no-reply@example.com>" or a bare address */
    const char *public_url;    /* the base of every link ("https://app.example.com"), no trailing slash */
    int timeout_ms;            /* one SMTP conversation's deadline */
    const char *secret;        /* the server secret: seals the payloads */
};

/* What a message is about: one template each. */
enum mail_kind {
    MAIL_VERIFY_EMAIL,     /* link: /app/verify-email#token=... */
    MAIL_PASSWORD_RESET,   /* link: /app/reset-password#token=... */
    MAIL_PASSWORD_CHANGED, /* notice: by a change or by a reset */
    MAIL_EMAIL_CHANGED,    /* notice to the old address, naming the new one */
    MAIL_MFA_ENABLED,      /* notice */
    MAIL_MFA_DISABLED,     /* notice */
    MAIL_KIND_COUNT
};

struct mail_message {
    enum mail_kind kind;
    const char *to;         /* the recipient's address */
    const char *username;   /* the greeting's name */
    const char *token;      /* MAIL_VERIFY_EMAIL, MAIL_PASSWORD_RESET: what the link carries; else NULL */
    const char *new_email;  /* MAIL_EMAIL_CHANGED: the new address; else NULL */
    int valid_minutes;      /* links: how long the link works (said in the text); else 0 */
    const char *request_id; /* the request that caused it (logged with the send); may be NULL */
};

struct mail;

/* Checks the options (an SMTP URL libcurl knows, smtp or smtps; a From
 * address; a public URL of http or https). OK with *out, or ERR_INVALID
 * with *why (static text). */
int mail_new(const struct mail_opts *o, struct store *st, struct mail **out, const char **why);
void mail_free(struct mail *m);
/* Registers the "mail.send" kind with j (before jobs_start), and keeps j
 * to wake a worker when a message is queued. */
int mail_register(struct mail *m, struct jobs *j);
/* True when messages go to an SMTP server, false when only to the log. */
bool mail_smtp_configured(const struct mail *m);

/* Fills *job so that it sends msg to the user user_id (kind "mail.send",
 * the payload sealed, strings from a; no unique key): for callers that
 * enqueue it in a transaction of their own (store_token_create), then call
 * mail_notify. OK or ERR_INVALID (no recipient, or a kind without its
 * fields). */
int mail_job(struct mail *m, const struct mail_message *msg, int64_t user_id, struct arena *a,
             struct store_job *job);
/* Wakes a job worker: a message was just queued. */
void mail_notify(struct mail *m);
/* mail_job, store_job_enqueue and mail_notify: OK or the store's error. */
int mail_queue(struct mail *m, const struct mail_message *msg, int64_t user_id, struct arena *a);

#endif
