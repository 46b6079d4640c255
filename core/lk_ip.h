/*
 * lk_ip.h — IPv4/IPv6 addresses and CIDR ranges for API key allowlists.
 */
#ifndef LK_IP_H
#define LK_IP_H

#include <stddef.h>
#include <stdint.h>
#include "latchkey.h"

typedef struct lk_cidr {
    uint8_t family;    /* 4 or 6 */
    uint8_t prefix;    /* 0..32 or 0..128; a plain address has the full length */
    uint8_t addr[16];  /* network order; v4 uses the first 4 bytes; host bits are zero */
} lk_cidr;

/* "192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "::1". Rejects empty strings,
 * junk, prefix out of range, and host bits set beyond the prefix
 * ("10.0.0.1/8" is an error: the user probably meant something else).
 * LK_ERR_PARAM with a message naming the bad entry. */
lk_status lk_cidr_parse(const char *s, lk_cidr *out);
/* A single address (no "/len"): what a client presents. */
lk_status lk_ip_parse(const char *s, lk_cidr *out);
/* Canonical text ("2001:db8::/32", "192.0.2.1"); returns 0, -1 if buf too small. */
int lk_cidr_format(const lk_cidr *c, char *buf, size_t n);
/* 1 when ip (a parsed address) lies in net. An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1) matches IPv4 ranges. */
int lk_cidr_match(const lk_cidr *net, const lk_cidr *ip);

#endif
