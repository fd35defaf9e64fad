// readline.h uses FILE without including <stdio.h> itself, so the module includes it first.
#ifndef TCPCHAT_CREADLINE_SHIM_H
#define TCPCHAT_CREADLINE_SHIM_H

#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>

#endif
