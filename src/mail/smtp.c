/* One message over SMTP with libcurl: STARTTLS when the server offers it
 * (smtp://) or TLS from the start (smtps://), authentication when set, a
 * deadline for the whole conversation, and an abort when the job is asked
 * to stop. The message is multipart/alternative (text, HTML) in UTF-8.
 * Failures are classified by the server's last reply: 5xx is final, the
 * rest (4xx, no answer, a dropped connection) is tried again later. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "mail/internal.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/err.h"

int
mail_smtp_host(const char *url, char **host)
{
    int err = ERR_INVALID;
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *port = NULL;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0')
        goto out;
    if (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    size_t n = strlen(h) + (port != NULL ? strlen(port) : 0) + 2;
    *host = xmalloc(n);
    snprintf(*host, n, "%s%s%s", h, port != NULL ? ":" : "", port != NULL ? port : "");
    err = OK;
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(port);
    curl_url_cleanup(u);
    return err;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return jobs_run_should_stop(arg) ? 1 : 0;
}

/* A header value: as is when ASCII, else one RFC 2047 encoded word. */
static const char *
header_text(const char *s, struct arena *a)
{
    bool ascii = true;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            ascii = false;
    if (ascii)
        return s;
    size_t n = strlen(s);
    size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *enc = arena_alloc(a, b64);
    sodium_bin2base64(enc, b64, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    return arena_printf(a, "=?UTF-8?B?%s?=", enc);
}

/* s with every line ending CRLF: quoted-printable breaks lines only there. */
static const char *
crlf(const char *s, struct arena *a)
{
    size_t n = 0;
    for (const char *p = s; *p != '\0'; p++)
        n += *p == '\n' ? 2 : 1;
    char *out = arena_alloc(a, n + 1), *o = out;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            *o++ = '\r';
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

enum jobs_result
mail_smtp_send(struct mail *m, const struct mail_rendered *r, struct jobs_run *run, const char **why)
{
    struct arena *a = run->arena;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        *why = "libcurl could not start a transfer";
        return JOBS_RETRY;
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);

    struct curl_slist *h = NULL;
    h = curl_slist_append(h, date);
    h = curl_slist_append(h, arena_printf(a, "From: %s", m->from));
    h = curl_slist_append(h, arena_printf(a, "To: %s", r->to));
    h = curl_slist_append(h, arena_printf(a, "Subject: %s", header_text(r->subject, a)));
    h = curl_slist_append(h, arena_printf(a, "Message-ID: <%s@%s>", r->message_id, m->from_domain));
    h = curl_slist_append(h, "MIME-Version: 1.0");
    h = curl_slist_append(h, "Auto-Submitted: auto-generated");
    struct curl_slist *rcpt = curl_slist_append(NULL, arena_printf(a, "<%s>", r->to));

    /* multipart/alternative (plain text first, the preferred HTML last)
     * as the message's top-level part. */
    h = curl_slist_append(h, "Content-Type: multipart/alternative");
    curl_mime *mime = curl_mime_init(c);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_data(part, crlf(r->text, a), CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/plain; charset=UTF-8");
    curl_mime_encoder(part, "quoted-printable");
    part = curl_mime_addpart(mime);
    curl_mime_data(part, crlf(r->html, a), CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/html; charset=UTF-8");
    curl_mime_encoder(part, "quoted-printable");

    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, m->smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, arena_printf(a, "<%s>", m->from_addr));
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (m->smtp_user != NULL) {
        curl_easy_setopt(c, CURLOPT_USERNAME, m->smtp_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, m->smtp_password != NULL ? m->smtp_password : "");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(m->timeout_ms < 10000 ? m->timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, run);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_slist_free_all(rcpt);

    if (rc == CURLE_OK)
        return JOBS_DONE;
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return JOBS_RELEASE;
    /* errbuf is curl's text about the conversation ("RCPT failed: 550"):
     * no address, no credentials. */
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    if (code >= 500 && code <= 599 && rc != CURLE_LOGIN_DENIED) {
        /* Refused for good (no such mailbox, a policy): trying again would
         * be refused again. A refused login is the operator's to fix, so it
         * is tried again like a temporary failure. */
        *why = arena_printf(a, "the SMTP server refused the message with %ld (%s)", code, detail);
        return JOBS_FAIL;
    }
    /* 4xx, no connection, no answer in time, a dropped connection: later. */
    if (code >= 400 && code <= 499)
        *why = arena_printf(a, "the SMTP server answered %ld, try later (%s)", code, detail);
    else
        *why = arena_printf(a, "the SMTP conversation failed (%s; last reply %ld)", detail, code);
    return JOBS_RETRY;
}
