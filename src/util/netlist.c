/* Address lists (netlist.h). */
#include "util/netlist.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"

bool
net_parse_ip(const char *s, struct net *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix = 32;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->addr) != 1)
        return false;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->addr, mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        out->prefix = 32;
        return true;
    }
    out->family = AF_INET6;
    out->prefix = 128;
    return true;
}

bool
net_contains(const struct net *n, const struct net *ip)
{
    if (n->family != ip->family)
        return false;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, ip->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (ip->addr[full] & mask);
}

void
netlist_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

int
netlist_parse(const char *spec, struct netlist *out)
{
    memset(out, 0, sizeof(*out));
    const char *s = spec != NULL ? spec : "";
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        const char *e = s;
        size_t el = n;
        netlist_trim(&e, &el);
        s += n + (comma != NULL ? 1 : 0);
        if (el == 0)
            continue;
        char text[64];
        if (el >= sizeof(text) || out->n == NETLIST_MAX)
            return ERR_INVALID;
        memcpy(text, e, el);
        text[el] = '\0';
        char *slash = strchr(text, '/');
        long prefix = -1;
        if (slash != NULL) {
            *slash = '\0';
            char *end = NULL;
            prefix = strtol(slash + 1, &end, 10);
            if (slash[1] == '\0' || *end != '\0' || prefix < 0)
                return ERR_INVALID;
        }
        struct net *net = &out->nets[out->n];
        if (!net_parse_ip(text, net))
            return ERR_INVALID;
        if (prefix >= 0) {
            if (prefix > net->prefix)
                return ERR_INVALID;
            net->prefix = (int)prefix;
        }
        out->n++;
    }
    return OK;
}

bool
netlist_has(const struct netlist *l, const struct net *ip)
{
    for (size_t i = 0; i < l->n; i++)
        if (net_contains(&l->nets[i], ip))
            return true;
    return false;
}

bool
netlist_has_text(const struct netlist *l, const char *ip)
{
    struct net n;
    return net_parse_ip(ip, &n) && netlist_has(l, &n);
}
