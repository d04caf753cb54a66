/* What mail.c and smtp.c share; not for other modules. */
#ifndef PACE_MAIL_INTERNAL_H
#define PACE_MAIL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "jobs/jobs.h"
#include "mail/mail.h"
#include "util/seal.h"

struct mail {
    struct store *st;  /* borrowed */
    struct jobs *jobs; /* borrowed; set by mail_register */
    char *smtp_url;    /* NULL: log only */
    char *smtp_host;   /* host[:port] of smtp_url, for log lines (no credentials) */
    char *smtp_user;   /* NULL: no authentication */
    char *smtp_password;
    char *from;              /* the From header as configured */
    char *from_addr;         /* its address (the envelope sender) */
    const char *from_domain; /* inside from_addr: Message-IDs end with it */
    char *public_url;        /* no trailing slash */
    int timeout_ms;
    struct seal_key key; /* "mailjob1" */
    atomic_ulong sent, logged, retried, given_up;
};

/* A message as the job sees it: the payload's fields (arena strings), then
 * the rendered subject and bodies. */
struct mail_rendered {
    enum mail_kind kind;
    const char *to;
    const char *username;
    const char *link; /* NULL for notices */
    const char *new_email;
    int valid_minutes;
    const char *request_id;
    const char *message_id; /* the random left part */
    const char *subject;
    const char *text;
    const char *html; /* a whole document */
};

/* Opens and checks a job's payload: OK with *out, or ERR_INVALID. */
int mail_payload_open(struct mail *m, const char *payload, struct arena *a, struct mail_rendered *out);
/* Fills r's subject, text and html from its kind's templates. */
int mail_render(struct mail *m, struct mail_rendered *r, struct arena *a);
/* True when both templates of k are built in and the .txt starts with "Subject: ". */
bool mail_template_exists(enum mail_kind k);
/* "j***@example.com": what log lines show of an address. */
const char *mail_mask_address(const char *addr, struct arena *a);
/* text with every "#token=" followed by at most 4 of its characters and "…". */
char *mail_redact_links(const char *text, struct arena *a);
/* The host[:port] of an smtp:// or smtps:// URL (malloc) or ERR_INVALID. */
int mail_smtp_host(const char *url, char **host);
/* Sends r over SMTP: JOBS_DONE, JOBS_RETRY or JOBS_FAIL with *why (arena
 * text, no secrets), or JOBS_RELEASE when the run was asked to stop. */
enum jobs_result mail_smtp_send(struct mail *m, const struct mail_rendered *r, struct jobs_run *run,
                                const char **why);

#endif
