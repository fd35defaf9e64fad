/*
** libtcpchat as a guest in a C program: loading it must not take the host's signals.
**
** The Swift runtime the library needs installs its crash reporter when it is loaded
** (swift/stdlib/public/runtime/Backtrace.cpp, a static initialiser of libswiftCore.so): on
** Linux it is on by default, and it puts a handler on SIGQUIT, SIGABRT, SIGBUS, SIGFPE, SIGILL,
** SIGSEGV and SIGTRAP -- on each one whose disposition is still SIG_DFL (CrashHandlerLinux.cpp;
** a handler the host already has is left alone). A NULL dereference in the host's own code
** would then print Swift's crash report, and a host's crash reporter installed later would find
** the signal taken.
**
** The runtime initialises before this library does (it is our dependency, so the dynamic
** loader runs its initialisers first), and nothing in it can be configured from a dependent
** library: SWIFT_BACKTRACE is read from the environment at that moment. So this constructor,
** which runs right after, before the host's code runs again (after its dlopen() returns, or
** before its main()), puts back SIG_DFL wherever the handler is the Swift runtime's: since the
** runtime installs only over SIG_DFL, that is exactly the disposition the host had.
**
** Not when the main program is itself a Swift program (it links libswiftCore.so): then the
** crash reporter is the program's own, and our programs (tcpchat-server, tcpchat) keep theirs.
** Not either when the environment asks for the backtracer (SWIFT_BACKTRACE containing
** "enable=yes"/"on"/"true"/"1"): the user chose it. The alternate signal stack the runtime may
** have set up for the loading thread is left; without handlers that use it, it is inert.
**
** Tests/c/test_signals.c checks /proc/self/status SigCgt before and after dlopen() and use.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Does `name` (a path or a file name) name libswiftCore.so? */
static int is_swift_core(const char *name) {
    const char *slash;
    if (name == NULL) return 0;
    slash = strrchr(name, '/');
    return strncmp(slash ? slash + 1 : name, "libswiftCore.so", 15) == 0;
}

/* dl_iterate_phdr visits the main program first: does it list libswiftCore.so in DT_NEEDED? */
static int main_program_needs_swift(struct dl_phdr_info *info, size_t size, void *result) {
    int i;
    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Dyn) *entry;
        const char *strings = NULL;
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        entry = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        for (; entry->d_tag != DT_NULL; entry++) {
            if (entry->d_tag == DT_STRTAB) {
                ElfW(Addr) address = entry->d_un.d_ptr;
                /* glibc relocates .dynamic in place on most targets; where it does not, the
                ** address is still relative to the load address. */
                if (address < info->dlpi_addr) address += info->dlpi_addr;
                strings = (const char *)address;
            }
        }
        if (strings == NULL) break;
        entry = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        for (; entry->d_tag != DT_NULL; entry++) {
            if (entry->d_tag == DT_NEEDED && is_swift_core(strings + entry->d_un.d_val)) {
                *(int *)result = 1;
            }
        }
        break;
    }
    return 1; /* the main program only */
}

/* SWIFT_BACKTRACE=...enable=yes... : the user asked for the crash reporter. */
static int backtracer_requested(void) {
    const char *setting = getenv("SWIFT_BACKTRACE");
    const char *enable;
    if (setting == NULL || (enable = strstr(setting, "enable=")) == NULL) return 0;
    enable += 7;
    return strncmp(enable, "yes", 3) == 0 || strncmp(enable, "on", 2) == 0 ||
           strncmp(enable, "true", 4) == 0 || strncmp(enable, "1", 1) == 0 ||
           strncmp(enable, "tty", 3) == 0;
}

__attribute__((constructor)) static void tcpchat_give_back_host_signals(void) {
    static const int runtime_signals[] = {SIGQUIT, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
    int swift_program = 0;
    size_t i;
    if (backtracer_requested()) return;
    dl_iterate_phdr(main_program_needs_swift, &swift_program);
    if (swift_program) return;
    for (i = 0; i < sizeof runtime_signals / sizeof runtime_signals[0]; i++) {
        struct sigaction current;
        Dl_info where;
        void *handler;
        if (sigaction(runtime_signals[i], NULL, &current) != 0) continue;
        if (!(current.sa_flags & SA_SIGINFO) &&
            (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) continue;
        /* (ISO C has no cast from a function pointer to void *; dladdr() needs one.) */
        if (current.sa_flags & SA_SIGINFO) {
            memcpy(&handler, &current.sa_sigaction, sizeof handler);
        } else {
            memcpy(&handler, &current.sa_handler, sizeof handler);
        }
        if (dladdr(handler, &where) != 0 && is_swift_core(where.dli_fname)) {
            struct sigaction restore;
            memset(&restore, 0, sizeof restore);
            restore.sa_handler = SIG_DFL;
            sigemptyset(&restore.sa_mask);
            sigaction(runtime_signals[i], &restore, NULL);
        }
    }
}
