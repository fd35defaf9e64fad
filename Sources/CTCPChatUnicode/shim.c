// The definitions of CTCPChatUnicode.h over ICU (see the header for the contract).
#if !defined(__has_include) || !__has_include(<unicode/uspoof.h>)
#error "tcpchat needs the ICU headers for Unicode names: install them (Debian/Ubuntu: apt-get install libicu-dev; Fedora: dnf install libicu-devel)"
#endif
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include <unicode/uversion.h>
#include "CTCPChatUnicode.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const UNormalizer2 *nfkc;
static const UNormalizer2 *nfkc_cf;
static USpoofChecker *checker;  /* configured once, then only read: thread-safe (ICU's uspoof.h) */

static void set_up(void) {
    UErrorCode status = U_ZERO_ERROR;
    nfkc = unorm2_getNFKCInstance(&status);
    if (U_FAILURE(status)) nfkc = NULL;
    status = U_ZERO_ERROR;
    nfkc_cf = unorm2_getNFKCCasefoldInstance(&status);
    if (U_FAILURE(status)) nfkc_cf = NULL;
    status = U_ZERO_ERROR;
    USpoofChecker *made = uspoof_open(&status);
    if (U_FAILURE(status)) return;
    uspoof_setChecks(made, USPOOF_RESTRICTION_LEVEL | USPOOF_MIXED_NUMBERS, &status);
    uspoof_setRestrictionLevel(made, USPOOF_HIGHLY_RESTRICTIVE);
    if (U_FAILURE(status)) {
        uspoof_close(made);
        return;
    }
    checker = made;
}

/* UTF-8 -> normalizer -> UTF-8, through UTF-16 (ICU's C API normalizes UTF-16 only). */
static long normalize(const UNormalizer2 *normalizer, const char *in, size_t length, char *out, size_t capacity) {
    if (normalizer == NULL || length > 65536) return CTU_ERROR;
    UChar small_source[256], small_result[512];
    UChar *source = small_source, *result = small_result;
    int32_t source_capacity = 256, result_capacity = 512;
    long answer = CTU_ERROR;
    UErrorCode status = U_ZERO_ERROR;
    int32_t source_length = 0;
    u_strFromUTF8(source, source_capacity, &source_length, in, (int32_t)length, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) {
        source_capacity = source_length + 1;
        source = malloc(sizeof(UChar) * (size_t)source_capacity);
        if (source == NULL) return CTU_ERROR;
        status = U_ZERO_ERROR;
        u_strFromUTF8(source, source_capacity, &source_length, in, (int32_t)length, &status);
    }
    if (U_FAILURE(status)) goto done;
    int32_t result_length = unorm2_normalize(normalizer, source, source_length, result, result_capacity, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) {
        result_capacity = result_length + 1;
        result = malloc(sizeof(UChar) * (size_t)result_capacity);
        if (result == NULL) goto done;
        status = U_ZERO_ERROR;
        result_length = unorm2_normalize(normalizer, source, source_length, result, result_capacity, &status);
    }
    if (U_FAILURE(status)) goto done;
    int32_t written = 0;
    status = U_ZERO_ERROR;
    u_strToUTF8(out, capacity > INT32_MAX ? INT32_MAX : (int32_t)capacity, &written, result, result_length, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) answer = CTU_TOO_SMALL;
    else if (U_SUCCESS(status)) answer = written;
done:
    if (source != small_source) free(source);
    if (result != small_result) free(result);
    return answer;
}

long ctu_nfkc(const char *in, size_t length, char *out, size_t capacity) {
    pthread_once(&once, set_up);
    return normalize(nfkc, in, length, out, capacity);
}

long ctu_nfkc_casefold(const char *in, size_t length, char *out, size_t capacity) {
    pthread_once(&once, set_up);
    return normalize(nfkc_cf, in, length, out, capacity);
}

long ctu_skeleton(const char *in, size_t length, char *out, size_t capacity) {
    pthread_once(&once, set_up);
    if (checker == NULL || length > 65536) return CTU_ERROR;
    UErrorCode status = U_ZERO_ERROR;
    int32_t written = uspoof_getSkeletonUTF8(checker, 0, in, (int32_t)length, out,
                                             capacity > INT32_MAX ? INT32_MAX : (int32_t)capacity, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) return CTU_TOO_SMALL;
    if (U_FAILURE(status)) return CTU_ERROR;
    return written;
}

/* Appends `name` to the comma-separated list in `scripts` unless it is there already. */
static void add_script(char *scripts, size_t capacity, const char *name) {
    size_t used = strlen(scripts), name_length = strlen(name);
    for (const char *at = scripts; *at; ) {
        const char *end = strchr(at, ',');
        size_t item = end ? (size_t)(end - at) : strlen(at);
        if (item == name_length && memcmp(at, name, item) == 0) return;
        at += item + (end ? 1 : 0);
    }
    size_t needed = used + (used ? 1 : 0) + name_length;
    if (needed + 1 > capacity) return;
    if (used) scripts[used++] = ',';
    memcpy(scripts + used, name, name_length + 1);
}

int ctu_check(const char *in, size_t length, char *scripts, size_t scripts_capacity) {
    pthread_once(&once, set_up);
    if (scripts && scripts_capacity) scripts[0] = 0;
    if (checker == NULL || length > 65536) return CTU_ERROR;
    if (scripts && scripts_capacity) {
        int32_t i = 0;
        while (i < (int32_t)length) {
            UChar32 c;
            U8_NEXT(in, i, (int32_t)length, c);
            if (c < 0) return CTU_ERROR;
            UErrorCode status = U_ZERO_ERROR;
            UScriptCode script = uscript_getScript(c, &status);
            if (U_FAILURE(status) || script == USCRIPT_COMMON || script == USCRIPT_INHERITED || script == USCRIPT_UNKNOWN) continue;
            const char *name = uscript_getName(script);
            if (name) add_script(scripts, scripts_capacity, name);
        }
    }
    UErrorCode status = U_ZERO_ERROR;
    int32_t failed = uspoof_check2UTF8(checker, in, (int32_t)length, NULL, &status);
    if (U_FAILURE(status)) return CTU_ERROR;
    int result = 0;
    if (failed & USPOOF_RESTRICTION_LEVEL) result |= CTU_MIXED_SCRIPTS;
    if (failed & USPOOF_MIXED_NUMBERS) result |= CTU_MIXED_NUMBERS;
    return result;
}

static char version_text[U_MAX_VERSION_STRING_LENGTH];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void fill_version(void) {
    UVersionInfo info;
    u_getVersion(info);
    u_versionToString(info, version_text);
}

const char *ctu_library_version(void) {
    pthread_once(&version_once, fill_version);
    return version_text;
}
