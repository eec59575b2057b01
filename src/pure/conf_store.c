/*
 * pure/conf_store.c
 *		The store behind a parsed pg_hba.conf or pg_ident.conf: a bump
 *		allocator, plus the compiled regular expressions and the C locale
 *		they need, all released by cm_conf_store_free().
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_conf_store.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct StoreChunk
{
	struct StoreChunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
} StoreChunk;

struct CmConfStore
{
	StoreChunk *chunks;
	regex_t **regexes; /* malloc'd: each needs regfree() */
	int nregexes;
	int regexes_cap;
	locale_t c_locale; /* regexes compile and run in the C locale */
	bool oom;
};

#define STORE_CHUNK_SIZE 16384

CmConfStore *
cm_conf_store_new(void)
{
	CmConfStore *store = calloc(1, sizeof(CmConfStore));

	/* a failure here is reported by the first regex that needs it */
	if (store != NULL)
		store->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
	return store;
}

void
cm_conf_store_free(CmConfStore *store)
{
	StoreChunk *chunk;

	if (store == NULL)
		return;
	for (int i = 0; i < store->nregexes; i++)
		regfree(store->regexes[i]);
	free(store->regexes);
	if (store->c_locale != (locale_t) 0)
		freelocale(store->c_locale);
	chunk = store->chunks;
	while (chunk != NULL)
	{
		StoreChunk *next = chunk->next;

		free(chunk);
		chunk = next;
	}
	free(store);
}

bool
cm_conf_out_of_memory(const CmConfStore *store)
{
	return store->oom;
}

void
cm_conf_note_out_of_memory(CmConfStore *store)
{
	store->oom = true;
}

void *
cm_conf_alloc(CmConfStore *store, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	StoreChunk *chunk = store->chunks;
	void *p;

	if (size > SIZE_MAX / 2)
	{
		store->oom = true;
		return NULL;
	}
	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	if (chunk == NULL || chunk->size - chunk->used < size)
	{
		size_t want = size > STORE_CHUNK_SIZE ? size : STORE_CHUNK_SIZE;

		chunk = malloc(sizeof(StoreChunk) + want);
		if (chunk == NULL)
		{
			store->oom = true;
			return NULL;
		}
		chunk->size = want;
		chunk->used = 0;
		/* a big block gets its own chunk behind the current one */
		if (store->chunks != NULL && want > STORE_CHUNK_SIZE)
		{
			chunk->next = store->chunks->next;
			store->chunks->next = chunk;
		}
		else
		{
			chunk->next = store->chunks;
			store->chunks = chunk;
		}
	}
	p = (char *) chunk->data + chunk->used;
	chunk->used += size;
	memset(p, 0, size);
	return p;
}

char *
cm_conf_strndup(CmConfStore *store, const char *s, size_t len)
{
	char *copy = cm_conf_alloc(store, len + 1);

	if (copy != NULL)
	{
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

char *
cm_conf_strdup(CmConfStore *store, const char *s)
{
	return cm_conf_strndup(store, s, strlen(s));
}

char *
cm_conf_printf(CmConfStore *store, const char *fmt, ...)
{
	va_list ap;
	int len;
	char *out;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return NULL;
	out = cm_conf_alloc(store, (size_t) len + 1);
	if (out == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(out, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return out;
}

void *
cm_conf_grow(CmConfStore *store, void *array, int *cap, int need, size_t elsize)
{
	int newcap;
	void *bigger;

	if (need <= *cap)
		return array;
	newcap = *cap > 0 ? *cap : 8;
	while (newcap < need)
		newcap *= 2;
	bigger = cm_conf_alloc(store, (size_t) newcap * elsize);
	if (bigger == NULL)
		return NULL;
	if (array != NULL)
		memcpy(bigger, array, (size_t) *cap * elsize);
	*cap = newcap;
	return bigger;
}

locale_t
cm_conf_c_locale(const CmConfStore *store)
{
	return store->c_locale;
}

bool
cm_conf_keep_regex(CmConfStore *store, regex_t *re)
{
	if (store->nregexes == store->regexes_cap)
	{
		int newcap = store->regexes_cap > 0 ? store->regexes_cap * 2 : 16;
		regex_t **bigger =
			realloc(store->regexes, (size_t) newcap * sizeof(regex_t *));

		if (bigger == NULL)
		{
			regfree(re);
			store->oom = true;
			return false;
		}
		store->regexes = bigger;
		store->regexes_cap = newcap;
	}
	store->regexes[store->nregexes++] = re;
	return true;
}
