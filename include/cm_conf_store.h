/*
 * cm_conf_store.h
 *		The memory of one parsed pg_hba.conf or pg_ident.conf: everything a
 *		parse allocates, and the regular expressions it compiles, freed in
 *		one call.
 *
 * An allocation that fails marks the store out of memory; the parsers then
 * replace what they read with a single "out of memory" error.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CONF_STORE_H
#define CM_CONF_STORE_H

#include <locale.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct CmConfStore CmConfStore;

/* NULL when out of memory. */
extern CmConfStore *cm_conf_store_new(void);
extern void cm_conf_store_free(CmConfStore *store);

/* Zeroed memory that lives as long as the store; NULL when out of memory. */
extern void *cm_conf_alloc(CmConfStore *store, size_t size);
extern char *cm_conf_strdup(CmConfStore *store, const char *s);
extern char *cm_conf_strndup(CmConfStore *store, const char *s, size_t len);
extern char *cm_conf_printf(CmConfStore *store, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Makes room for need elements in an array kept in the store, doubling;
 * returns the (maybe moved) array, or NULL when out of memory.
 */
extern void *cm_conf_grow(CmConfStore *store, void *array, int *cap, int need,
						  size_t elsize);

/* Has an allocation for this store failed? */
extern bool cm_conf_out_of_memory(const CmConfStore *store);
/* Marks the store out of memory after a failed allocation of its user. */
extern void cm_conf_note_out_of_memory(CmConfStore *store);

/*
 * The C locale, in which the store's regular expressions compile and run;
 * (locale_t) 0 when it could not be made.
 */
extern locale_t cm_conf_c_locale(const CmConfStore *store);

/*
 * Hands over a compiled regular expression (in the store's memory) to be
 * regfree()d with the store.  False when out of memory: it is freed now.
 */
extern bool cm_conf_keep_regex(CmConfStore *store, regex_t *re);

#endif /* CM_CONF_STORE_H */
