/* Keyed crypto: the audit log's HMAC-SHA256 (RFC 2104) and constant-time
 * comparison for tokens and MACs.  Built on shared/sha256.c rather than
 * OpenSSL: the first OpenSSL HMAC of a process costs 1-5 ms of provider
 * initialisation, and agentlaunch, which starts once per agent, writes
 * audit records itself with --skip-gateway.  Results are identical to
 * OpenSSL's HMAC(EVP_sha256()). */
#include <string.h>

#include "util.h"

void al_hmac_sha256_hex(const void *key, size_t keylen, const void *buf, size_t len, char out[65])
{
	unsigned char k[64], pad[64], inner[32], md[32];

	memset(k, 0, sizeof(k));
	if (keylen > sizeof(k))
		al_sha256(key, keylen, k); /* long keys are hashed first */
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	al_sha256_after_block(pad, buf, len, inner);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	al_sha256_after_block(pad, inner, sizeof(inner), md);
	al_hex(md, 32, out);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

bool al_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}
