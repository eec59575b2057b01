/*
 * cm_conf_regex.h
 *		Regular expressions of pg_hba.conf and pg_ident.conf: the server's
 *		"advanced" syntax translated to POSIX, compiled and run in the C
 *		locale.
 *
 * From PostgreSQL 16 on, a pg_hba.conf database or role name starting with
 * "/" is a regular expression (quoted or not); on 15 it is part of a
 * literal name.  pg_ident.conf system users starting with "/" are regular
 * expressions on every version.  The server uses its own "advanced"
 * regular expressions; we use POSIX regcomp(REG_EXTENDED) in the C locale
 * after a translation that keeps the meaning: \d \s \w and their negations
 * become bracket expressions, "\<" and the like become the literal they
 * are in an ARE, and constructs whose meaning would differ or that ERE
 * lacks (non-greedy quantifiers, "(?", "***" directors, letter and digit
 * escapes other than \d \s \w \D \S \W and \1 to \9, and \] \- \^ \[
 * inside brackets) are refused as an invalid regular expression, as are
 * repetition counts above 255 (the server's limit too) and counts that
 * multiply to more than 100000 over a pattern (glibc copies the repeated
 * atom), so the file is rejected, not matched differently.  Remaining
 * differences: we match bytes where the server matches characters of the
 * database encoding (only non-ASCII names can tell), and the error text of
 * a bad pattern is glibc's.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CONF_REGEX_H
#define CM_CONF_REGEX_H

#include "cm_conf_store.h"
#include "cm_conf_token.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Compiles tok->text after its leading '/' into the store and makes tok a
 * CM_CONF_TOKEN_REGEX token; want_groups keeps the subexpressions for
 * "\1".  Returns NULL, or the error message for the line.
 */
extern const char *
cm_conf_regex_compile(CmConfStore *store, CmConfToken *tok, bool want_groups);

/* regexec() of a regex of the store, in the C locale; returns its result. */
extern int
cm_conf_regex_exec(const CmConfStore *store, const regex_t *re,
				   const char *subject, size_t nmatch, regmatch_t *match);

#endif /* CM_CONF_REGEX_H */
