/* The card's file names on FAT (FatFs with long names, as ESP-IDF mounts it): which names of the ABI's rule
 * FAT stores as given, and FAT's sameness of names. Portable; tests/firmware-esp-port.test.ts runs it. */
#ifndef SHIDI_FAT_NAMES_H
#define SHIDI_FAT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* false for an ABI name (already checked: 1..96 bytes of [A-Za-z0-9._~-], not "." or "..") that FAT would
 * not keep as one file of its own:
 * - a trailing '.': FAT drops trailing dots, so "a." would be the file "a";
 * - an 8.3-shaped name with a '~' ("20260~1.CRY"): FatFs matches a name against every file's short alias
 *   too, and that is the form the aliases it generates for long names take, so the name may be another
 *   file. */
bool shidi_fat_keeps(const char *name);

/* FAT compares names without regard to ASCII case: "A.crypt" and "a.crypt" are one file. */
bool shidi_fat_same(const char *a, const char *b);

/* root "/" name into out; 0, or -1 when it does not fit in cap bytes. */
int shidi_fat_path(const char *root, const char *name, char *out, size_t cap);

#endif
