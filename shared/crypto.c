/* Keyed crypto for the long-lived programs (gateway audit MACs, token
 * comparison), through OpenSSL.  Kept apart from util.c so that agentrun,
 * which starts once per run, does not link or initialise libcrypto. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util.h"

void al_hmac_sha256_hex(const void *key, size_t keylen, const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), key, (int)keylen, buf, len, md, &mdlen);
	al_hex(md, 32, out);
}

bool al_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
