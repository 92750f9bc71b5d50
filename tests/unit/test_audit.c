/* Unit tests for shared/audit.c: the HMAC chain, its verifier, key handling
 * and failure behaviour on a full filesystem. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/audit.h"
#include "shared/cleanup.h"
#include "shared/util.h"

static char base[128]; /* made once per test case, removed afterwards */
static char dir[256];  /* a fresh directory per test */
static char logp[400];
static char keyp[410];

static void base_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/al-test-audit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void base_teardown(void)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static void test_setup(void)
{
	static int n;
	snprintf(dir, sizeof(dir), "%s/t%d-%d", base, (int)getpid(), n++);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(logp, sizeof(logp), "%s/audit.log", dir);
	snprintf(keyp, sizeof(keyp), "%s/audit.log.key", dir);
}

/* ---- helpers ------------------------------------------------------------ */

static json_t *make_rec(int i)
{
	char run_id[32];
	snprintf(run_id, sizeof(run_id), "r-%d", i % 7);
	return json_pack("{s:s, s:s, s:b, s:s, s:i, s:s, s:{s:i, s:f}}", "event", "exec",
			 "identity", "agent-1", "identity_verified", 1, "run_id", run_id, "n", i,
			 "note", "caf\xc3\xa9 \"q\" \\ \x01", "limits", "mem_max_mb", 512, "ratio",
			 0.1);
}

static void write_records(const char *path, int from, int count)
{
	struct al_audit *a = NULL;
	al_err err = {0};

	ck_assert_msg(al_audit_open(path, NULL, false, &a, &err) == 0, "%s", err.msg);
	for (int i = from; i < from + count; i++) {
		cleanup_json json_t *r = make_rec(i);
		ck_assert_msg(al_audit_write(a, r, &err) == 0, "%s", err.msg);
	}
	al_audit_close(a);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	char chunk[8192];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, r, m);
	fclose(f);
	fclose(m);
	*len = n;
	return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Offset of the start of 1-based line `line` (or len past the end). */
static size_t line_start(const char *buf, size_t len, int line)
{
	size_t off = 0;
	for (int l = 1; l < line && off < len; l++) {
		const char *nl = memchr(buf + off, '\n', len - off);
		ck_assert_ptr_nonnull(nl);
		off = (size_t)(nl - buf) + 1;
	}
	return off;
}

/* Verify and return the result; *bad = first bad line; report text in *msg. */
static int verify(const char *path, const char *key, long *bad, char **msg)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	al_err err = {0};

	int r = al_audit_verify_file(path, key, m, bad, &err);
	fclose(m);
	ck_assert_msg(r >= 0, "verify I/O error: %s", err.msg);
	if (msg)
		*msg = buf;
	else
		free(buf);
	return r;
}

static void expect_bad(const char *path, long want_line, const char *frag)
{
	long bad = -1;
	char *msg = NULL;

	int r = verify(path, NULL, &bad, &msg);
	ck_assert_msg(r == 1, "verify passed but line %ld was damaged", want_line);
	ck_assert_msg(bad == want_line, "first bad line %ld, want %ld (%s)", bad, want_line, msg);
	if (frag)
		ck_assert_msg(strstr(msg, frag), "report [%s] lacks [%s]", msg, frag);
	free(msg);
}

static json_t *parse_line(const char *buf, size_t len, int line)
{
	size_t s = line_start(buf, len, line);
	const char *nl = memchr(buf + s, '\n', len - s);
	ck_assert_ptr_nonnull(nl);
	json_t *j = json_loadb(buf + s, (size_t)(nl - buf) - s, 0, NULL);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* ---- the chain ---------------------------------------------------------- */

START_TEST(chain_of_50_verifies)
{
	size_t len;
	long bad = -1;
	char *msg = NULL;
	regex_t ts;

	write_records(logp, 0, 50);
	ck_assert_int_eq(verify(logp, NULL, &bad, &msg), 0);
	ck_assert_int_eq(bad, 0);
	ck_assert_ptr_nonnull(strstr(msg, "OK, 50 records"));
	free(msg);
	ck_assert_int_eq(verify(logp, keyp, &bad, NULL), 0);

	ck_assert_int_eq(
	    regcomp(&ts, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
		    REG_EXTENDED | REG_NOSUB),
	    0);
	cleanup_free char *buf = slurp(logp, &len);
	char prev[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	for (int i = 1; i <= 50; i++) {
		cleanup_json json_t *j = parse_line(buf, len, i);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "seq")), i);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), i - 1);
		ck_assert_str_eq(json_string_value(json_object_get(j, "prev")), prev);
		ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "exec");
		ck_assert_str_eq(json_string_value(json_object_get(j, "note")),
				 "caf\xc3\xa9 \"q\" \\ \x01");
		ck_assert_int_eq(
		    regexec(&ts, json_string_value(json_object_get(j, "ts")), 0, NULL, 0), 0);
		snprintf(prev, sizeof(prev), "%s", json_string_value(json_object_get(j, "mac")));
	}
	regfree(&ts);
	/* ASCII only, compact, sorted: the first line starts with "event" */
	for (size_t i = 0; i < len; i++)
		ck_assert_msg((unsigned char)buf[i] < 0x80, "non-ASCII byte at %zu", i);
	ck_assert(strncmp(buf, "{\"event\":\"exec\",\"identity\":", 27) == 0);
	ck_assert_ptr_null(strstr(buf, ": "));
}
END_TEST

START_TEST(mac_is_hmac_of_canonical_body)
{
	size_t len, klen;
	write_records(logp, 0, 2);
	cleanup_free char *buf = slurp(logp, &len);
	cleanup_free char *khex = slurp(keyp, &klen);
	unsigned char key[32];
	for (int i = 0; i < 32; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(khex + 2 * i, "%2x", &v), 1);
		key[i] = (unsigned char)v;
	}
	cleanup_json json_t *j = parse_line(buf, len, 2);
	char mac[65];
	snprintf(mac, sizeof(mac), "%s", json_string_value(json_object_get(j, "mac")));
	json_object_del(j, "mac");
	char *body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	char want[65];
	al_hmac_sha256_hex(key, 32, body, strlen(body), want);
	free(body);
	ck_assert_str_eq(mac, want);
}
END_TEST

START_TEST(every_flipped_byte_is_caught)
{
	size_t len;
	write_records(logp, 0, 50);
	cleanup_free char *orig = slurp(logp, &len);
	size_t s = line_start(orig, len, 25), e = line_start(orig, len, 26);
	cleanup_free char *buf = malloc(len);

	for (size_t i = s; i < e; i++) {
		memcpy(buf, orig, len);
		buf[i] ^= 0x01;
		spit(logp, buf, len);
		expect_bad(logp, 25, NULL);
	}
	/* a value change gives the MAC reason */
	memcpy(buf, orig, len);
	char *p = strstr(buf + s, "agent-1");
	ck_assert_ptr_nonnull(p);
	p[6] = '2';
	spit(logp, buf, len);
	expect_bad(logp, 25, "MAC mismatch");
}
END_TEST

START_TEST(equal_json_other_bytes_is_caught)
{
	size_t len;
	write_records(logp, 0, 50);
	cleanup_free char *buf = slurp(logp, &len);
	size_t s = line_start(buf, len, 25);
	/* \u00E9 -> \u00e9: the same JSON value, other bytes */
	char *p = strstr(buf + s, "\\u00E9");
	ck_assert_ptr_nonnull(p);
	p[4] = 'e';
	spit(logp, buf, len);
	expect_bad(logp, 25, "canonical");
}
END_TEST

START_TEST(deleted_line_is_caught)
{
	size_t len;
	write_records(logp, 0, 50);
	cleanup_free char *buf = slurp(logp, &len);
	cleanup_free char *out = malloc(len);

	size_t s = line_start(buf, len, 10), e = line_start(buf, len, 11);
	memcpy(out, buf, s);
	memcpy(out + s, buf + e, len - e);
	spit(logp, out, len - (e - s));
	expect_bad(logp, 10, "dropped");

	/* the first line */
	e = line_start(buf, len, 2);
	spit(logp, buf + e, len - e);
	expect_bad(logp, 1, "first record");
}
END_TEST

START_TEST(swapped_lines_are_caught)
{
	size_t len;
	write_records(logp, 0, 50);
	cleanup_free char *buf = slurp(logp, &len);
	cleanup_free char *out = malloc(len);
	size_t a = line_start(buf, len, 20), b = line_start(buf, len, 21),
	       c = line_start(buf, len, 22);

	memcpy(out, buf, a);
	memcpy(out + a, buf + b, c - b);
	memcpy(out + a + (c - b), buf + a, b - a);
	memcpy(out + c, buf + c, len - c);
	spit(logp, out, len);
	expect_bad(logp, 20, "reordered");
}
END_TEST

START_TEST(truncated_tail_is_caught)
{
	size_t len;
	struct al_audit *a = NULL;
	al_err err = {0};

	write_records(logp, 0, 50);
	cleanup_free char *buf = slurp(logp, &len);
	size_t s = line_start(buf, len, 50);
	spit(logp, buf, s + (len - s) / 2);
	expect_bad(logp, 50, "truncated");
	/* the writer refuses to continue a damaged chain */
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(err.msg, "--verify-audit"));

	/* dropping the newline only */
	spit(logp, buf, len - 1);
	expect_bad(logp, 50, "truncated");

	/* cut at a record boundary: the file alone cannot tell (documented) */
	spit(logp, buf, s);
	long bad = -1;
	ck_assert_int_eq(verify(logp, NULL, &bad, NULL), 0);
}
END_TEST

START_TEST(other_damage)
{
	size_t len;
	write_records(logp, 0, 5);
	cleanup_free char *buf = slurp(logp, &len);
	size_t s = line_start(buf, len, 3);

	/* garbage line */
	cleanup_free char *out = malloc(len + 16);
	memcpy(out, buf, s);
	memcpy(out + s, "{not json}\n", 11);
	memcpy(out + s + 11, buf + s, len - s);
	spit(logp, out, len + 11);
	expect_bad(logp, 3, "bad JSON");

	/* an empty line */
	memcpy(out + s, "\n", 1);
	memcpy(out + s + 1, buf + s, len - s);
	spit(logp, out, len + 1);
	expect_bad(logp, 3, "bad JSON");

	/* a JSON object that is no record */
	memcpy(out + s, "{\"a\":1}\n", 8);
	memcpy(out + s + 8, buf + s, len - s);
	spit(logp, out, len + 8);
	expect_bad(logp, 3, "not an audit record");

	/* hostile bytes are not echoed raw into the report */
	memcpy(out + s, "\x1b[31m\n", 6);
	memcpy(out + s + 6, buf + s, len - s);
	spit(logp, out, len + 6);
	char *msg = NULL;
	long bad;
	ck_assert_int_eq(verify(logp, NULL, &bad, &msg), 1);
	ck_assert_ptr_null(strchr(msg, '\x1b'));
	free(msg);

	/* another key */
	spit(logp, buf, len);
	char other[320];
	snprintf(other, sizeof(other), "%s/other.key", dir);
	spit(other, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 65);
	ck_assert_int_eq(verify(logp, other, &bad, &msg), 1);
	ck_assert_int_eq(bad, 1);
	ck_assert_ptr_nonnull(strstr(msg, "MAC mismatch"));
	free(msg);

	/* an empty log verifies */
	spit(logp, "", 0);
	ck_assert_int_eq(verify(logp, NULL, &bad, NULL), 0);

	/* I/O errors are not verdicts */
	al_err err = {0};
	ck_assert_int_lt(al_audit_verify_file("/nonexistent/x.log", keyp, NULL, &bad, &err), 0);
	ck_assert_int_lt(al_audit_verify_file(logp, "/nonexistent/key", NULL, &bad, &err), 0);
}
END_TEST

START_TEST(reopen_continues_the_chain)
{
	struct al_audit *a = NULL;
	al_err err = {0};
	size_t len;

	write_records(logp, 0, 10);
	ck_assert_int_eq(al_audit_open(logp, NULL, true, &a, &err), 0);
	ck_assert_int_eq(al_audit_seq(a), 10);
	cleanup_free char *before = slurp(logp, &len);
	cleanup_json json_t *l10 = parse_line(before, len, 10);
	ck_assert_str_eq(al_audit_last_mac(a), json_string_value(json_object_get(l10, "mac")));
	for (int i = 10; i < 20; i++) {
		cleanup_json json_t *r = make_rec(i);
		ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	}
	ck_assert_int_eq(al_audit_seq(a), 20);
	ck_assert_str_eq(al_audit_path(a), logp);
	al_audit_close(a);
	long bad = -1;
	char *msg = NULL;
	ck_assert_int_eq(verify(logp, NULL, &bad, &msg), 0);
	ck_assert_ptr_nonnull(strstr(msg, "OK, 20 records"));
	free(msg);
	cleanup_free char *after = slurp(logp, &len);
	cleanup_json json_t *l11 = parse_line(after, len, 11);
	ck_assert_str_eq(json_string_value(json_object_get(l11, "prev")),
			 json_string_value(json_object_get(l10, "mac")));
	ck_assert_int_eq(json_integer_value(json_object_get(l11, "seq")), 11);
}
END_TEST

START_TEST(reopen_refuses_forged_tail)
{
	struct al_audit *a = NULL;
	al_err err = {0};
	size_t len;

	write_records(logp, 0, 3);
	cleanup_free char *buf = slurp(logp, &len);
	char *p = strstr(buf + line_start(buf, len, 3), "agent-1");
	p[0] = 'A';
	spit(logp, buf, len);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not verify"));
	ck_assert_ptr_nonnull(strstr(err.msg, "--verify-audit"));

	/* a last line that is not JSON */
	spit(logp, "junk\n", 5);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not valid JSON"));
}
END_TEST

/* ---- keys --------------------------------------------------------------- */

START_TEST(key_created_0600)
{
	struct al_audit *a = NULL;
	al_err err = {0};
	struct stat st;
	size_t len;

	umask(0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), 0);
	ck_assert_int_eq(stat(keyp, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(logp, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	cleanup_free char *k = slurp(keyp, &len);
	ck_assert_uint_eq(len, 65);
	ck_assert_int_eq(k[64], '\n');
	ck_assert_uint_eq(strspn(k, "0123456789abcdef"), 64);
	al_audit_close(a);

	/* no temporary files are left next to it */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 2", dir);
	ck_assert_int_eq(system(cmd), 0);

	/* an explicit key path (the log is still empty: a new key is fine) */
	char kp[320];
	snprintf(kp, sizeof(kp), "%s/explicit.key", dir);
	ck_assert_msg(al_audit_open(logp, kp, false, &a, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(stat(kp, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	cleanup_json json_t *r = make_rec(0);
	ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	al_audit_close(a);
	/* the chain does not verify with the default key: reopening is refused */
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "MAC mismatch"));
	ck_assert_int_eq(al_audit_open(logp, kp, false, &a, &err), 0);
	ck_assert_int_eq(al_audit_seq(a), 1);
	al_audit_close(a);
}
END_TEST

START_TEST(key_checks)
{
	struct al_audit *a = NULL;
	al_err err = {0};

	write_records(logp, 0, 2);

	ck_assert_int_eq(chmod(keyp, 0644), 0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert_ptr_nonnull(strstr(err.msg, "chmod 600"));
	ck_assert_int_eq(chmod(keyp, 0640), 0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_int_eq(chmod(keyp, 0602), 0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);

	/* owned by someone else */
	ck_assert_int_eq(chmod(keyp, 0600), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(keyp, 65534, 65534), 0);
		ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "owned by uid 65534"));
		ck_assert_int_eq(chown(keyp, 0, 0), 0);
	}
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), 0);
	al_audit_close(a);

	/* records but no key: refused, and no new key is made */
	char moved[320];
	snprintf(moved, sizeof(moved), "%s/moved.key", dir);
	ck_assert_int_eq(rename(keyp, moved), 0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "key"));
	ck_assert_ptr_nonnull(strstr(err.msg, "missing"));
	ck_assert_int_eq(access(keyp, F_OK), -1);

	/* malformed key contents */
	int fd = open(keyp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abc\n", 4), 4);
	close(fd);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "hex digits"));

	/* restored key works (whitespace around it is fine) */
	ck_assert_int_eq(rename(moved, keyp), 0);
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), 0);
	al_audit_close(a);

	/* missing directory */
	char nodir[320];
	snprintf(nodir, sizeof(nodir), "%s/missing/audit.log", dir);
	ck_assert_int_eq(al_audit_open(nodir, NULL, false, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
}
END_TEST

START_TEST(racing_key_creation_agrees)
{
	enum { N = 8 };
	char kp[320];
	pid_t pids[N];

	snprintf(kp, sizeof(kp), "%s/shared.key", dir);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char lp[330];
			struct al_audit *a = NULL;
			al_err err = {0};
			snprintf(lp, sizeof(lp), "%s/log%d", dir, i);
			if (al_audit_open(lp, kp, false, &a, &err) < 0)
				_exit(1);
			json_t *r = json_pack("{s:s}", "event", "x");
			int rc = al_audit_write(a, r, &err);
			_exit(rc == 0 ? 0 : 2);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < N; i++) {
		char lp[330];
		long bad;
		snprintf(lp, sizeof(lp), "%s/log%d", dir, i);
		ck_assert_int_eq(verify(lp, kp, &bad, NULL), 0);
	}
}
END_TEST

/* ---- writing ------------------------------------------------------------ */

START_TEST(tokens_never_logged)
{
	struct al_audit *a = NULL;
	al_err err = {0};
	size_t len;

	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), 0);
	cleanup_json json_t *r =
	    json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:[{s:s}]}, s:s}", "event", "exec",
		      "token", "SECRET-A", "Token", "SECRET-B", "request", "Authorization",
		      "Bearer SECRET-C", "AGENTGW_TOKEN", "SECRET-D", "token_id", "abcd1234",
		      "list", "TOKEN", "SECRET-E", "mac", "caller-mac");
	ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	al_audit_close(a);

	cleanup_free char *buf = slurp(logp, &len);
	ck_assert_ptr_null(strstr(buf, "SECRET"));
	ck_assert_ptr_null(strstr(buf, "\"token\""));
	ck_assert_ptr_null(strstr(buf, "\"Token\""));
	ck_assert_ptr_null(strstr(buf, "\"TOKEN\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"token_id\":\"abcd1234\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"AGENTGW_TOKEN\":\"[redacted]\""));
	ck_assert_ptr_null(strstr(buf, "caller-mac"));
	long bad;
	ck_assert_int_eq(verify(logp, NULL, &bad, NULL), 0);

	/* the caller's record is untouched */
	ck_assert_str_eq(json_string_value(json_object_get(r, "token")), "SECRET-A");
	ck_assert_ptr_null(json_object_get(r, "seq"));
	ck_assert_ptr_null(json_object_get(r, "prev"));
	ck_assert_str_eq(json_string_value(json_object_get(r, "mac")), "caller-mac");
}
END_TEST

START_TEST(bad_records_and_second_writer)
{
	struct al_audit *a = NULL, *b = NULL;
	al_err err = {0};

	ck_assert_int_eq(al_audit_open(logp, NULL, false, &a, &err), 0);
	cleanup_json json_t *arr = json_array();
	ck_assert_int_eq(al_audit_write(a, arr, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
	cleanup_json json_t *noev = json_pack("{s:s}", "x", "y");
	ck_assert_int_eq(al_audit_write(a, noev, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "event"));
	ck_assert_int_eq(al_audit_write(a, NULL, &err), -1);
	ck_assert_int_eq(al_audit_seq(a), 0);

	/* one writer per log */
	ck_assert_int_eq(al_audit_open(logp, NULL, false, &b, &err), -1);
	ck_assert_int_eq(err.errnum, EBUSY);
	ck_assert_ptr_nonnull(strstr(err.msg, "in use"));

	/* an outside append is noticed, not chained over */
	cleanup_json json_t *r = make_rec(1);
	ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	int fd = open(logp, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x\n", 2), 2);
	close(fd);
	ck_assert_int_eq(al_audit_write(a, r, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "changed size"));
	ck_assert_int_eq(al_audit_seq(a), 1);
	al_audit_close(a);
	al_audit_close(NULL);
}
END_TEST

START_TEST(find_run)
{
	al_err err = {0};
	json_t *arr = NULL;

	write_records(logp, 0, 20); /* run ids r-0 .. r-6, n = 0..19 */
	ck_assert_int_eq(al_audit_find_run(logp, "r-3", &arr, &err), 0);
	ck_assert_uint_eq(json_array_size(arr), 3); /* n = 3, 10, 17 */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "n")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 2), "n")), 17);
	json_decref(arr);
	ck_assert_int_eq(al_audit_find_run(logp, "r-99", &arr, &err), 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	json_decref(arr);
	/* no prefix confusion: "r-" alone matches nothing */
	ck_assert_int_eq(al_audit_find_run(logp, "r-", &arr, &err), 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	json_decref(arr);
	/* an id with characters needing escapes takes the slow path */
	ck_assert_int_eq(al_audit_find_run(logp, "r\"3", &arr, &err), 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	json_decref(arr);
	ck_assert_int_eq(al_audit_find_run(logp, "", &arr, &err), -1);
	ck_assert_int_eq(al_audit_find_run("/nonexistent/log", "r-1", &arr, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);
}
END_TEST

/* ---- a full filesystem -------------------------------------------------- */

START_TEST(full_filesystem)
{
	char fs[300], filler[320];
	struct al_audit *a = NULL;
	al_err err = {0};
	struct stat st;

	/* A private mount namespace: the tmpfs vanishes with this process even
	 * if the test fails half-way; we still unmount it at the end. */
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s (needs root)", strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(fs, sizeof(fs), "%s/fs", dir);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	ck_assert_msg(mount("tmpfs", fs, "tmpfs", 0, "size=16k,mode=0700") == 0, "mount: %s",
		      strerror(errno));
	snprintf(logp, sizeof(logp), "%s/audit.log", fs);

	ck_assert_msg(al_audit_open(logp, NULL, false, &a, &err) == 0, "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		cleanup_json json_t *r = make_rec(i);
		ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	}
	/* fill the rest of the filesystem */
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	char block[4096];
	memset(block, 'f', sizeof(block));
	while (write(fd, block, sizeof(block)) > 0)
		;
	while (write(fd, block, 1) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);

	ck_assert_int_eq(stat(logp, &st), 0);
	off_t size = st.st_size;
	char mac[65];
	snprintf(mac, sizeof(mac), "%s", al_audit_last_mac(a));

	/* a record larger than the space left in the log's last page: the
	 * write is short or fails; either way nothing is left behind */
	static char pad[6001];
	memset(pad, 'p', 6000);
	cleanup_json json_t *big = json_pack("{s:s, s:s}", "event", "exec", "pad", pad);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(al_audit_write(a, big, &err), -1);
		ck_assert_int_eq(err.errnum, ENOSPC);
		ck_assert_ptr_nonnull(strstr(err.msg, "audit.log"));
		ck_assert_int_eq(stat(logp, &st), 0);
		ck_assert_int_eq(st.st_size, size);
		ck_assert_int_eq(al_audit_seq(a), 3);
		ck_assert_str_eq(al_audit_last_mac(a), mac);
	}

	/* free space: the chain continues from the last good record */
	ck_assert_int_eq(unlink(filler), 0);
	ck_assert_msg(al_audit_write(a, big, &err) == 0, "%s", err.msg);
	cleanup_json json_t *r = make_rec(9);
	ck_assert_int_eq(al_audit_write(a, r, &err), 0);
	ck_assert_int_eq(al_audit_seq(a), 5);
	al_audit_close(a);

	long bad = -1;
	char *msg = NULL;
	ck_assert_int_eq(verify(logp, NULL, &bad, &msg), 0);
	ck_assert_ptr_nonnull(strstr(msg, "OK, 5 records"));
	free(msg);
	ck_assert_int_eq(umount2(fs, MNT_DETACH), 0);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("chain");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, chain_of_50_verifies);
	tcase_add_test(tc, mac_is_hmac_of_canonical_body);
	tcase_add_test(tc, every_flipped_byte_is_caught);
	tcase_add_test(tc, equal_json_other_bytes_is_caught);
	tcase_add_test(tc, deleted_line_is_caught);
	tcase_add_test(tc, swapped_lines_are_caught);
	tcase_add_test(tc, truncated_tail_is_caught);
	tcase_add_test(tc, other_damage);
	tcase_add_test(tc, reopen_continues_the_chain);
	tcase_add_test(tc, reopen_refuses_forged_tail);
	tcase_add_test(tc, key_created_0600);
	tcase_add_test(tc, key_checks);
	tcase_add_test(tc, racing_key_creation_agrees);
	tcase_add_test(tc, tokens_never_logged);
	tcase_add_test(tc, bad_records_and_second_writer);
	tcase_add_test(tc, find_run);
	tcase_add_test(tc, full_filesystem);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(audit_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
