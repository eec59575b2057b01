/*
 * test_encoding.c
 *		Unit tests of the strict base64 and hex codecs in src/pure/encoding.c.
 *
 * Decoders read heap copies of exactly the text handed over, so
 * AddressSanitizer reports any read past the end.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_encoding.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static char *heap_text;

static const char *
exact(const char *s)
{
	size_t len = strlen(s);

	free(heap_text);
	heap_text = malloc(len > 0 ? len : 1);
	memcpy(heap_text, s, len);
	return heap_text;
}

static bool
decode(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
	return cm_base64_decode(exact(s), strlen(s), out, cap, out_len);
}

static void
test_base64_vectors(void)
{
	/* RFC 4648 section 10 */
	static const char *plain[] = {"",	  "f",	   "fo",	"foo",
								  "foob", "fooba", "foobar"};
	static const char *coded[] = {"",		  "Zg==",	  "Zm8=",	 "Zm9v",
								  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

	for (int i = 0; i < 7; i++)
	{
		char text[16];
		uint8_t bytes[16];
		size_t n = 99;

		ok(cm_base64_encode((const uint8_t *) plain[i], strlen(plain[i]), text,
							sizeof(text), &n),
		   "encode \"%s\"", plain[i]);
		is_str(text, coded[i], "encode \"%s\" gives %s", plain[i], coded[i]);
		is_int(n, strlen(coded[i]), "encode \"%s\": length", plain[i]);
		is_int(CM_BASE64_ENCODED_LEN(strlen(plain[i])), strlen(coded[i]),
			   "encoded length macro for %zu bytes", strlen(plain[i]));
		ok(decode(coded[i], bytes, sizeof(bytes), &n), "decode %s", coded[i]);
		ok(n == strlen(plain[i]) && memcmp(bytes, plain[i], n) == 0,
		   "decode %s gives \"%s\"", coded[i], plain[i]);
	}
}

static void
test_base64_strict(void)
{
	static const char *bad[] = {
		"Zg=",								/* length not a multiple of four */
		"Zg",								/* padding missing */
		"Zm9vY",							/* a lone character */
		"Zh==",								/* unused bits set */
		"Zm9=",								/* unused bits set, one pad */
		"Z===",								/* three pads */
		"====",								/* nothing but padding */
		"=Zg=",								/* pad first */
		"Zg==Zg==",							/* padding in the middle */
		"Zm9v Zg==",						/* whitespace */
		"Zm9v\nZg==", "Zm9vZg==\n", "Zm-_", /* URL alphabet */
		"Zm9\x80",							/* high byte */
		"Zm9vYg=a",							/* data after a pad */
	};
	uint8_t out[16];
	size_t n;
	char text[8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!decode(bad[i], out, sizeof(out), &n), "rejects \"%s\"", bad[i]);

	/* an embedded NUL is just a bad character */
	ok(!cm_base64_decode("Zm\0v", 4, out, sizeof(out), &n),
	   "rejects an embedded NUL");

	/* capacity is exact */
	ok(decode("Zm9vYmFy", out, 6, &n) && n == 6, "decodes into exactly 6");
	ok(!decode("Zm9vYmFy", out, 5, &n), "refuses a 5-byte buffer for 6");
	ok(!decode("Zm9vYg==", out, 3, &n), "refuses 3 bytes for 4");
	ok(decode("", out, 0, &n) && n == 0, "empty text into no space");

	ok(cm_base64_encode((const uint8_t *) "foo", 3, text, 5, &n),
	   "encode fits 4 + NUL");
	ok(!cm_base64_encode((const uint8_t *) "foo", 3, text, 4, &n),
	   "encode refuses a buffer without room for the NUL");
	ok(!cm_base64_encode((const uint8_t *) "", 0, text, 0, &n),
	   "encode refuses no room at all");
}

static void
test_base64_round_trip(void)
{
	uint8_t bytes[70];
	uint8_t back[70];
	char text[CM_BASE64_ENCODED_LEN(70) + 1];
	int all = 1;
	unsigned seed = 12345;

	for (size_t len = 0; len <= sizeof(bytes); len++)
	{
		size_t n = 0;
		size_t m = 0;

		for (size_t i = 0; i < len; i++)
		{
			seed = seed * 1103515245u + 12345u;
			bytes[i] = (uint8_t) (seed >> 16);
		}
		if (!cm_base64_encode(bytes, len, text, sizeof(text), &n) ||
			n != CM_BASE64_ENCODED_LEN(len) ||
			!cm_base64_decode(text, n, back, len, &m) || m != len ||
			memcmp(bytes, back, len) != 0)
			all = 0;
	}
	ok(all, "random bytes of every length 0..70 survive a round trip");
}

static void
test_hex(void)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char text[13];
	uint8_t back[6];
	size_t n = 0;

	ok(cm_hex_encode(bytes, sizeof(bytes), text, sizeof(text)), "hex encode");
	is_str(text, "00017f80abff", "hex is lower case");
	ok(!cm_hex_encode(bytes, sizeof(bytes), text, 12),
	   "hex encode refuses a buffer without room for the NUL");
	ok(cm_hex_decode("00017F80ABff", 12, back, sizeof(back), &n) && n == 6 &&
		   memcmp(back, bytes, 6) == 0,
	   "hex decode takes either case");
	ok(!cm_hex_decode("abc", 3, back, sizeof(back), &n), "odd length");
	ok(!cm_hex_decode("zz", 2, back, sizeof(back), &n), "bad digit");
	ok(!cm_hex_decode("0g", 2, back, sizeof(back), &n), "bad low digit");
	ok(!cm_hex_decode("00017f80abff00", 14, back, sizeof(back), &n),
	   "too long for the buffer");
}

int
main(void)
{
	test_base64_vectors();
	test_base64_strict();
	test_base64_round_trip();
	test_hex();
	free(heap_text);
	return done_testing();
}
