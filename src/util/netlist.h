/* IP addresses and lists of addresses and CIDR ranges (v4 and v6), as
 * settings give them: "10.0.0.0/8, 192.0.2.7, ::1". Used for
 * PACE_TRUSTED_PROXIES and PACE_METRICS_ALLOW. */
#ifndef PACE_UTIL_NETLIST_H
#define PACE_UTIL_NETLIST_H

#include <stdbool.h>
#include <stddef.h>

enum { NETLIST_MAX = 64 };

struct net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

struct netlist {
    struct net nets[NETLIST_MAX];
    size_t n;
};

/* Parses an address (no prefix); IPv4-mapped IPv6 becomes IPv4. */
bool net_parse_ip(const char *s, struct net *out);
/* Whether ip is inside n. */
bool net_contains(const struct net *n, const struct net *ip);
/* Parses a comma list of addresses and CIDRs; NULL or "" is the empty
 * list. OK, or ERR_INVALID (too long, or an element is no address). */
int netlist_parse(const char *spec, struct netlist *out);
/* Drops the spaces and tabs around the n bytes at *s (a list element). */
void netlist_trim(const char **s, size_t *n);
bool netlist_has(const struct netlist *l, const struct net *ip);
/* The same for an address in text; false when it is none. */
bool netlist_has_text(const struct netlist *l, const char *ip);

#endif
