/* NMEA lines into fix frames (nmea_group.h). */
#include "nmea_group.h"

#include <string.h>

void nmea_group_init(nmea_group *g) { memset(g, 0, sizeof *g); }

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* '$' or '!', printable ASCII, and "*HH" at the end matching the XOR of the characters between. */
static int sentence_ok(const char *s, size_t n) {
    if (n < 4 || (s[0] != '$' && s[0] != '!') || s[n - 3] != '*') return 0;
    uint8_t x = 0;
    for (size_t i = 1; i < n - 3; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '*') return 0;
        x ^= (uint8_t)s[i];
    }
    int hi = hex_digit(s[n - 2]), lo = hex_digit(s[n - 1]);
    return hi >= 0 && lo >= 0 && (uint8_t)(hi << 4 | lo) == x;
}

/* The index-th comma-separated field of the sentence body, as [*start, *start + *len). */
static int field(const char *s, size_t n, int index, const char **start, size_t *len) {
    size_t i = 1;
    for (int f = 0; f < index; f++) {
        while (i < n && s[i] != ',' && s[i] != '*') i++;
        if (i >= n || s[i] != ',') return 0;
        i++;
    }
    size_t j = i;
    while (j < n && s[j] != ',' && s[j] != '*') j++;
    *start = s + i;
    *len = j - i;
    return 1;
}

static int digits(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}
static int two(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

static int is_rmc(const char *s, size_t n) {
    const char *a;
    size_t al;
    return field(s, n, 0, &a, &al) && al == 5 && memcmp(a + 2, "RMC", 3) == 0;
}

/* An RMC with hhmmss(.s…) and ddmmyy in range: only such a sentence can start a fix. */
static int rmc_with_time(const char *s, size_t n) {
    const char *t, *d;
    size_t tl, dl;
    if (!field(s, n, 1, &t, &tl) || !field(s, n, 9, &d, &dl)) return 0;
    if (tl < 6 || !digits(t, 6) || dl != 6 || !digits(d, 6)) return 0;
    if (tl > 6 && (t[6] != '.' || tl == 7 || !digits(t + 7, tl - 7))) return 0;
    int dd = two(d), mo = two(d + 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (two(t) > 23 || two(t + 2) > 59 || two(t + 4) > 60 || mo < 1 || mo > 12 || dd < 1 || dd > mdays[mo - 1]) return 0;
    if (mo == 2 && dd == 29 && two(d + 4) % 4 != 0) return 0;
    return 1;
}

void nmea_group_flush(nmea_group *g, void (*emit)(const uint8_t *, size_t, void *), void *ctx) {
    if (g->in_fix && g->fix_len > 0) emit(g->fix, g->fix_len, ctx);
    g->fix_len = 0;
    g->in_fix = 0;
}

static void append(nmea_group *g, const char *s, size_t n) {
    if (g->fix_len + n + 2 > NMEA_FIX_MAX) {
        g->dropped_sentences++;
        return;
    }
    memcpy(g->fix + g->fix_len, s, n);
    g->fix[g->fix_len + n] = '\r';
    g->fix[g->fix_len + n + 1] = '\n';
    g->fix_len += n + 2;
}

static void line_done(nmea_group *g, void (*emit)(const uint8_t *, size_t, void *), void *ctx) {
    const char *s = g->line;
    size_t n = g->line_len;
    /* Leading and trailing blanks are not part of a sentence (the capture reader trims them too). */
    while (n > 0 && (s[0] == ' ' || s[0] == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0) return;
    if (g->line_overflow || !sentence_ok(s, n)) {
        g->dropped_sentences++;
        return;
    }
    if (is_rmc(s, n)) {
        /* An RMC without a time and date starts nothing and belongs to no fix. */
        if (!rmc_with_time(s, n)) {
            g->dropped_sentences++;
            return;
        }
        nmea_group_flush(g, emit, ctx);
        g->in_fix = 1;
    } else if (!g->in_fix) {
        g->dropped_sentences++;
        return;
    }
    append(g, s, n);
}

void nmea_group_feed(nmea_group *g, const uint8_t *bytes, size_t n, void (*emit)(const uint8_t *, size_t, void *), void *ctx) {
    for (size_t i = 0; i < n; i++) {
        char c = (char)bytes[i];
        if (c == '\r' || c == '\n') {
            line_done(g, emit, ctx);
            g->line_len = 0;
            g->line_overflow = 0;
        } else if (g->line_len < NMEA_LINE_MAX) {
            g->line[g->line_len++] = c;
        } else {
            g->line_overflow = 1;
        }
    }
}
