/* POSIX shell word splitting without a shell (SPEC §3, "command").
 *
 * al_split_words() turns a command line into argv the way a POSIX shell
 * splits words, but performs no expansion and runs nothing.  It refuses
 * anything a shell would treat differently from a plain word, so what the
 * policy matches is exactly what runs:
 *
 *   split:     blanks (space, tab) outside quotes separate words;
 *              '...'   literal, no escapes ('' is an empty argument);
 *              "..."   backslash escapes only $ ` " \ and newline;
 *                      any other backslash stays literal;
 *              \c      outside quotes: c literally;
 *              \<newline>  line continuation: removed (inside "..." too);
 *              a lone backslash at the very end stays literal (as sh does).
 *
 *   AL_WORDS_SHELL_SYNTAX, outside quotes (unless escaped):
 *              operators  ; | & < > ( )  (so && || >> 2>&1 ;; ... too)
 *              a newline
 *              $ in any form ($VAR ${ $( $(( $? ...) and ` (also inside
 *                double quotes; never inside single quotes)
 *              glob characters * ? [  (a shell would expand them)
 *              # at the start of a word (a shell comment)
 *              ~ at the start of a word or right after an unquoted = (tilde
 *                expansion, as bash does in a=~/x)
 *              NAME=... as the first word (a variable assignment, which a
 *                shell would not run as a command)
 *   Not refused (POSIX sh leaves them literal): { } ] ! and reserved words
 *   (they are looked up as command names and fail to resolve).
 *
 *   Other errors (-1, err->errnum EINVAL): empty command (nothing but blanks
 *   and continuations), a NUL byte, an unterminated quote.
 *
 * Every message names what was found and its byte offset in cmd. */
#ifndef AL_WORDS_H
#define AL_WORDS_H

#include <stddef.h>

#include "../shared/err.h"

/* Returned (besides -1) when cmd holds shell syntax: HTTP 400 shell_syntax. */
#define AL_WORDS_SHELL_SYNTAX (-2)

/* Split cmd[0..len) into words.  On success returns 0, *argv_out is a
 * malloc'd NULL-terminated array of malloc'd strings (free with
 * al_strv_free() from shared/cleanup.h) and *argc_out >= 1 its length.
 * On failure returns -1 or AL_WORDS_SHELL_SYNTAX, sets err and leaves
 * *argv_out NULL and *argc_out 0. */
int al_split_words(const char *cmd, size_t len, char ***argv_out, size_t *argc_out, al_err *err);

#endif
