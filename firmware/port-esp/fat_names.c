/* FAT's view of the card's names (fat_names.h). */
#include "fat_names.h"

#include <stdio.h>
#include <string.h>

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* At most 8 characters, then optionally one '.' and 1 to 3 more: the shape of a short (8.3) name. */
static bool short_shaped(const char *name)
{
    const char *dot = strchr(name, '.');
    size_t len = strlen(name);
    if (dot == NULL) return len >= 1 && len <= 8;
    size_t base = (size_t)(dot - name), ext = len - base - 1;
    return base >= 1 && base <= 8 && ext >= 1 && ext <= 3 && strchr(dot + 1, '.') == NULL;
}

bool shidi_fat_keeps(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || name[len - 1] == '.') return false;
    return !(strchr(name, '~') != NULL && short_shaped(name));
}

bool shidi_fat_same(const char *a, const char *b)
{
    for (; *a != 0 && *b != 0; a++, b++)
        if (lower(*a) != lower(*b)) return false;
    return *a == *b;
}

int shidi_fat_path(const char *root, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", root, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
