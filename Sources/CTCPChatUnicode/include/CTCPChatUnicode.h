// Unicode for tcpchat's names: a thin layer over the system's ICU (libicu-dev), so that the
// Swift code sees a few plain functions instead of ICU's per-version renamed symbols
// (`uspoof_open` is a macro for `uspoof_open_72`, which a module map cannot import).
// What it gives Names.swift: Unicode normalization (NFKC, and NFKC_Casefold: NFKC plus full
// case folding, the comparison form), UTS #39 confusable skeletons (uspoof), and UTS #39's
// restriction-level and mixed-number checks.
//
// The header names no ICU type (shim.c includes <unicode/...>), so the Swift module needs no
// ICU headers at import time; the library links libicuuc and libicui18n (which need libicudata).
//
// Strings are UTF-8 in and UTF-8 out, not NUL-terminated on input. Results of the functions
// that write a string:
//   >= 0           the length written to `out` (bytes; a NUL follows when it fits)
//   CTU_TOO_SMALL  `out` is too small: call again with a larger buffer (NFKC and folding can
//                  grow a string up to 18 times, e.g. U+FDFA; a skeleton up to 18 times too)
//   CTU_ERROR      ICU failed (malformed UTF-8, or ICU's data could not be loaded)
// Every function may be called from any thread at any time: the ICU objects are created once
// (pthread_once) and ICU's normalizers and a configured spoof checker are thread-safe for use.
#ifndef CTCPCHAT_UNICODE_H
#define CTCPCHAT_UNICODE_H

#include <stddef.h>

#define CTU_TOO_SMALL (-1)
#define CTU_ERROR     (-2)

/* Results of ctu_check: 0, or a bit mask of these. */
#define CTU_MIXED_SCRIPTS 1  /* beyond UTS #39 "highly restrictive" (e.g. Latin with Cyrillic) */
#define CTU_MIXED_NUMBERS 2  /* digits of more than one decimal system (e.g. 1 and ١) */

/* NFKC: compatibility characters (fullwidth, mathematical alphanumerics, ligatures) become
** their ordinary forms; case is kept. The display form of a name. */
long ctu_nfkc(const char *in, size_t length, char *out, size_t capacity);
/* NFKC_Casefold (Unicode's NFKC_CF: NFKC, full case folding, default ignorables removed):
** the comparison form of a name. */
long ctu_nfkc_casefold(const char *in, size_t length, char *out, size_t capacity);
/* The UTS #39 confusable skeleton of `in` as given (apply ctu_nfkc_casefold first for a
** case-insensitive one). */
long ctu_skeleton(const char *in, size_t length, char *out, size_t capacity);
/* UTS #39's checks of `in`: 0 when it stays within "highly restrictive" and uses one decimal
** system, else CTU_MIXED_SCRIPTS and/or CTU_MIXED_NUMBERS; CTU_ERROR when ICU failed.
** `scripts` (may be NULL) receives the scripts of `in`'s letters in order of appearance, as
** ICU names them, separated by commas ("Latin,Cyrillic"), NUL-terminated, truncated to fit. */
int ctu_check(const char *in, size_t length, char *scripts, size_t scripts_capacity);
/* The version of the ICU in use, e.g. "72.1". */
const char *ctu_library_version(void);

#endif
