/* Tamper-evident audit log: an HMAC-SHA256 chain over JSON Lines. */
#include <jansson.h>

#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

#define KEY_MIN 32
#define KEY_MAX 128
#define KEY_FILE_MAX 1024
#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"
#define VERIFY_HINT "run `agentgw --verify-audit %s` to find the damage, then move the log aside"

struct al_audit {
	int fd;	    /* owned; O_RDWR|O_APPEND, flock'ed */
	char *path; /* owned */
	unsigned char key[KEY_MAX];
	size_t keylen;
	bool sync;	   /* fdatasync after each record */
	bool broken;	   /* a partial line could not be cut off */
	int64_t seq;	   /* seq of the last good record, 0 when none */
	char last_mac[65]; /* mac of the last good record, ZERO_MAC when none */
	off_t size;	   /* file size after the last good record */
};


static void json_free_str(char **s)
{
	free(*s);
}
#define cleanup_jstr __attribute__((cleanup(json_free_str)))

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define cleanup_file __attribute__((cleanup(fclosep)))

static bool is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- key ---------------------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Read and decode a hex key.  strict: the writer's checks (regular file,
 * ours, no group/other access). */
static int load_key(const char *kp, bool strict, unsigned char *key, size_t *keylen, al_err *err)
{
	char buf[KEY_FILE_MAX + 1];
	struct stat st;
	size_t n = 0;

	cleanup_close int fd = open(kp, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return al_err_set(err, errno, "open audit key %s", kp);
	if (fstat(fd, &st) < 0)
		return al_err_set(err, errno, "stat audit key %s", kp);
	if (!S_ISREG(st.st_mode))
		return al_err_setx(err, EINVAL, "audit key %s is not a regular file", kp);
	if (strict && (st.st_mode & 077) != 0)
		return al_err_setx(err, EACCES,
			    "audit key %s is accessible by group/other (mode %04o): anyone who can "
			    "read it can forge the log; run chmod 600 %s (and consider a new key "
			    "and log)",
			    kp, (unsigned)(st.st_mode & 07777), kp);
	if (strict && st.st_uid != geteuid())
		return al_err_setx(err, EACCES,
			    "audit key %s is owned by uid %u, not by this process (uid %u): chown "
			    "it to the user the gateway runs as",
			    kp, (unsigned)st.st_uid, (unsigned)geteuid());
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return al_err_set(err, errno, "read audit key %s", kp);
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf))
			return al_err_setx(err, EFBIG, "audit key %s is larger than %d bytes", kp,
				    KEY_FILE_MAX);
	}
	size_t b = 0, e = n;
	while (b < e && is_space(buf[b]))
		b++;
	while (e > b && is_space(buf[e - 1]))
		e--;
	size_t hl = e - b;
	if (hl % 2 != 0 || hl < 2 * KEY_MIN || hl > 2 * KEY_MAX)
		goto bad;
	for (size_t i = 0; i < hl / 2; i++) {
		int hi = hexval(buf[b + 2 * i]), lo = hexval(buf[b + 2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	*keylen = hl / 2;
	explicit_bzero(buf, sizeof(buf));
	return 0;
bad:
	explicit_bzero(buf, sizeof(buf));
	return al_err_setx(err, EINVAL,
		    "audit key %s: expected %d to %d hex digits (e.g. from `openssl rand -hex 32`)",
		    kp, 2 * KEY_MIN, 2 * KEY_MAX);
}

static void fsync_dir_of(const char *path)
{
	cleanup_free char *copy = strdup(path);
	if (copy == NULL)
		return;
	cleanup_close int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
}

/* Create kp with a fresh random key unless it exists.  The key is written
 * to a private temporary file first and published with link(2), which
 * fails if kp exists: racing creators agree on one complete key. */
static int create_key(const char *kp, al_err *err)
{
	char hex[2 * 32 + 2];
	cleanup_free char *tmp = NULL;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", kp) < 0) {
		tmp = NULL;
		return al_err_setx(err, ENOMEM, "audit key %s: out of memory", kp);
	}
	if (al_random_hex(hex, 32, err) < 0)
		return al_err_wrap(err, "create audit key %s", kp);
	hex[64] = '\n';
	hex[65] = '\0';
	cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return al_err_set(err, errno, "create audit key %s (temporary %s)", kp, tmp);
	int r = fchmod(fd, 0600) < 0 ? -errno : al_write_all(fd, hex, 65);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	explicit_bzero(hex, sizeof(hex));
	if (r == 0 && link(tmp, kp) < 0 && errno != EEXIST)
		r = -errno;
	unlink(tmp);
	if (r < 0)
		return al_err_set(err, -r, "create audit key %s", kp);
	fsync_dir_of(kp);
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static bool ends_with_token(const char *k)
{
	size_t n = strlen(k);
	return n >= 5 && strcasecmp(k + n - 5, "token") == 0;
}

/* Remove / redact secrets at every depth (see audit.h). */
static int strip_secrets(json_t *j)
{
	const char *k;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach_safe(j, tmp, k, v)
		{
			if (strcasecmp(k, "token") == 0) {
				json_object_del(j, k);
				continue;
			}
			if (json_is_string(v) &&
			    (ends_with_token(k) || strcasecmp(k, "authorization") == 0)) {
				if (json_object_set_new(j, k, json_string("[redacted]")) < 0)
					return -1;
				continue;
			}
			if (strip_secrets(v) < 0)
				return -1;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (strip_secrets(v) < 0)
				return -1;
		}
	}
	return 0;
}

/* Check one parsed line: shape, MAC, canonical bytes.  On success fills
 * seq, mac and prev.  Returns 0, or 1 with why set. */
static int check_record(json_t *rec, const char *raw, size_t rawlen, const unsigned char *key,
			size_t keylen, int64_t *seq, char mac[65], char prev[65], char *why,
			size_t whysz)
{
	if (!json_is_object(rec)) {
		snprintf(why, whysz, "not an audit record: not a JSON object");
		return 1;
	}
	json_t *jm = json_object_get(rec, "mac"), *jp = json_object_get(rec, "prev"),
	       *js = json_object_get(rec, "seq");
	if (!json_is_string(jm) || !is_hex64(json_string_value(jm))) {
		snprintf(why, whysz, "not an audit record: \"mac\" is not 64 hex digits");
		return 1;
	}
	if (!json_is_string(jp) || !is_hex64(json_string_value(jp))) {
		snprintf(why, whysz, "not an audit record: \"prev\" is not 64 hex digits");
		return 1;
	}
	if (!json_is_integer(js) || json_integer_value(js) < 1) {
		snprintf(why, whysz, "not an audit record: \"seq\" is not a positive integer");
		return 1;
	}

	cleanup_json json_t *body = json_copy(rec);
	if (body == NULL || json_object_del(body, "mac") < 0) {
		snprintf(why, whysz, "out of memory");
		return 1;
	}
	cleanup_jstr char *s = json_dumps(body, AL_AUDIT_JSON_FLAGS);
	if (s == NULL) {
		snprintf(why, whysz, "cannot serialise the record");
		return 1;
	}
	char want[65];
	al_hmac_sha256_hex(key, keylen, s, strlen(s), want);
	if (!al_ct_equal(want, json_string_value(jm), 64)) {
		snprintf(
		    why, whysz,
		    "MAC mismatch: the record was changed (or the log was written with another "
		    "key)");
		return 1;
	}
	cleanup_jstr char *full = json_dumps(rec, AL_AUDIT_JSON_FLAGS);
	if (full == NULL || strlen(full) != rawlen || memcmp(full, raw, rawlen) != 0) {
		snprintf(why, whysz,
			 "the record's bytes were changed: the line is not the canonical "
			 "serialisation of its (MAC-valid) content");
		return 1;
	}
	*seq = json_integer_value(js);
	memcpy(mac, json_string_value(jm), 65);
	memcpy(prev, json_string_value(jp), 65);
	return 0;
}

/* ---- open --------------------------------------------------------------- */

static int pread_full(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the file shrank under us */
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Continue the chain: read, parse and check the last line of a non-empty
 * log of `size` bytes. */
static int load_tail(struct al_audit *a, off_t size, al_err *err)
{
	char chunk[65536];
	char last;
	int r;

	if ((r = pread_full(a->fd, &last, 1, size - 1)) < 0)
		return al_err_set(err, -r, "read audit log %s", a->path);
	if (last != '\n')
		return al_err_setx(err, EBADMSG,
			    "audit log %s ends with an incomplete record (truncated write or "
			    "tampering): " VERIFY_HINT,
			    a->path, a->path);

	off_t end = size - 1, start = 0, scan = end;
	while (scan > 0) {
		size_t n = scan > (off_t)sizeof(chunk) ? sizeof(chunk) : (size_t)scan;
		off_t off = scan - (off_t)n;
		if ((r = pread_full(a->fd, chunk, n, off)) < 0)
			return al_err_set(err, -r, "read audit log %s", a->path);
		char *nl = memrchr(chunk, '\n', n);
		if (nl != NULL) {
			start = off + (nl - chunk) + 1;
			break;
		}
		scan = off;
		if (end - scan > (off_t)AL_AUDIT_MAX_LINE)
			break;
	}
	size_t len = (size_t)(end - start);
	if (len + 1 > AL_AUDIT_MAX_LINE)
		return al_err_setx(err, EFBIG,
			    "audit log %s: the last record is longer than %u bytes: " VERIFY_HINT,
			    a->path, AL_AUDIT_MAX_LINE, a->path);
	cleanup_free char *line = malloc(len + 1);
	if (line == NULL)
		return al_err_setx(err, ENOMEM, "audit log %s: out of memory", a->path);
	if ((r = pread_full(a->fd, line, len, start)) < 0)
		return al_err_set(err, -r, "read audit log %s", a->path);
	line[len] = '\0';

	json_error_t jerr;
	cleanup_json json_t *rec =
	    json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (rec == NULL)
		return al_err_setx(err, EBADMSG,
			    "audit log %s: the last record is not valid JSON (%s): " VERIFY_HINT,
			    a->path, jerr.text, a->path);
	char why[256], prev[65];
	if (check_record(rec, line, len, a->key, a->keylen, &a->seq, a->last_mac, prev, why,
			 sizeof(why)) != 0)
		return al_err_setx(err, EBADMSG,
			    "audit log %s: the last record does not verify (%s): " VERIFY_HINT,
			    a->path, why, a->path);
	a->size = size;
	return 0;
}

int al_audit_open(const char *path, const char *key_path, bool fdatasync_each,
		  struct al_audit **out, al_err *err)
{
	cleanup_free char *kp_buf = NULL;
	struct stat st;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return al_err_setx(err, EINVAL, "no audit log path");
	if (key_path == NULL) {
		if (asprintf(&kp_buf, "%s.key", path) < 0) {
			kp_buf = NULL;
			return al_err_setx(err, ENOMEM, "audit log %s: out of memory", path);
		}
		key_path = kp_buf;
	}

	struct al_audit *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return al_err_setx(err, ENOMEM, "audit log %s: out of memory", path);
	a->fd = -1;
	a->sync = fdatasync_each;
	memcpy(a->last_mac, ZERO_MAC, 65);
	a->path = strdup(path);
	if (a->path == NULL) {
		al_audit_close(a);
		return al_err_setx(err, ENOMEM, "audit log %s: out of memory", path);
	}

	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (a->fd < 0) {
		int e = errno;
		al_audit_close(a);
		if (e == ENOENT)
			return al_err_set(err, e,
					  "open audit log %s (does its directory exist? create it "
					  "0750 for the gateway's user)",
					  path);
		return al_err_set(err, e, "open audit log %s", path);
	}
	if (fstat(a->fd, &st) < 0) {
		int e = errno;
		al_audit_close(a);
		return al_err_set(err, e, "stat audit log %s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		al_audit_close(a);
		return al_err_setx(err, EINVAL, "audit log %s is not a regular file", path);
	}
	if (flock(a->fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		al_audit_close(a);
		if (e == EWOULDBLOCK)
			return al_err_setx(err, EBUSY,
				    "audit log %s is in use by another process (another agentgw?): "
				    "each log has exactly one writer",
				    path);
		return al_err_set(err, e, "lock audit log %s", path);
	}

	if (faccessat(AT_FDCWD, key_path, F_OK, AT_EACCESS) < 0 && errno == ENOENT) {
		if (st.st_size > 0) {
			al_audit_close(a);
			return al_err_setx(err, ENOENT,
				    "audit log %s has records but its key %s is missing: restore "
				    "the key, or move the log aside to start a new chain",
				    path, key_path);
		}
		if (create_key(key_path, err) < 0) {
			al_audit_close(a);
			return -1;
		}
	}
	if (load_key(key_path, true, a->key, &a->keylen, err) < 0) {
		al_audit_close(a);
		return -1;
	}
	if (st.st_size > 0 && load_tail(a, st.st_size, err) < 0) {
		al_audit_close(a);
		return -1;
	}
	*out = a;
	return 0;
}

void al_audit_close(struct al_audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	explicit_bzero(a->key, sizeof(a->key));
	free(a->path);
	free(a);
}

int64_t al_audit_seq(const struct al_audit *a)
{
	return a->seq;
}

const char *al_audit_last_mac(const struct al_audit *a)
{
	return a->last_mac;
}

const char *al_audit_path(const struct al_audit *a)
{
	return a->path;
}

/* ---- write -------------------------------------------------------------- */

/* Cut the file back to the last good record. */
static int cut_back(struct al_audit *a)
{
	while (ftruncate(a->fd, a->size) < 0) {
		if (errno != EINTR) {
			a->broken = true;
			return -1;
		}
	}
	a->broken = false;
	return 0;
}

int al_audit_write(struct al_audit *a, json_t *rec, al_err *err)
{
	struct stat st;
	char ts[32], mac[65];

	if (a == NULL || !json_is_object(rec))
		return al_err_setx(err, EINVAL, "audit record is not a JSON object");
	json_t *ev = json_object_get(rec, "event");
	if (!json_is_string(ev) || json_string_length(ev) == 0)
		return al_err_setx(err, EINVAL, "audit record has no \"event\" string");
	if (a->broken && cut_back(a) < 0)
		return al_err_set(err, errno,
				  "audit log %s has a partial record after byte %jd that cannot be "
				  "removed",
				  a->path, (intmax_t)a->size);
	if (fstat(a->fd, &st) < 0)
		return al_err_set(err, errno, "stat audit log %s", a->path);
	if (st.st_size != a->size)
		return al_err_setx(err, ESTALE,
			    "audit log %s changed size behind its writer (%jd bytes expected, %jd "
			    "found): another writer, truncation or rotation; restart the gateway "
			    "and " VERIFY_HINT,
			    a->path, (intmax_t)a->size, (intmax_t)st.st_size, a->path);

	cleanup_json json_t *c = json_deep_copy(rec);
	if (c == NULL || strip_secrets(c) < 0)
		return al_err_setx(err, ENOMEM, "audit record: out of memory");
	json_object_del(c, "mac");
	al_rfc3339_now(ts);
	if (json_object_set_new(c, "ts", json_string(ts)) < 0 ||
	    json_object_set_new(c, "seq", json_integer(a->seq + 1)) < 0 ||
	    json_object_set_new(c, "prev", json_string(a->last_mac)) < 0)
		return al_err_setx(err, ENOMEM, "audit record: out of memory");

	cleanup_jstr char *body = json_dumps(c, AL_AUDIT_JSON_FLAGS);
	if (body == NULL)
		return al_err_setx(err, ENOMEM, "audit record: cannot serialise");
	al_hmac_sha256_hex(a->key, a->keylen, body, strlen(body), mac);
	if (json_object_set_new(c, "mac", json_string(mac)) < 0)
		return al_err_setx(err, ENOMEM, "audit record: out of memory");
	cleanup_jstr char *line = json_dumps(c, AL_AUDIT_JSON_FLAGS);
	if (line == NULL)
		return al_err_setx(err, ENOMEM, "audit record: cannot serialise");
	size_t len = strlen(line);
	if (len + 1 > AL_AUDIT_MAX_LINE)
		return al_err_setx(err, EFBIG, "audit record of %zu bytes exceeds the %u byte limit", len,
			    AL_AUDIT_MAX_LINE);
	char *nl = realloc(line, len + 2);
	if (nl == NULL)
		return al_err_setx(err, ENOMEM, "audit record: out of memory");
	line = nl;
	line[len] = '\n';
	line[len + 1] = '\0';

	ssize_t w;
	do
		w = write(a->fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(len + 1)) {
		int e = w < 0 ? errno : ENOSPC;
		if (w > 0 && cut_back(a) < 0)
			return al_err_setx(err, e,
				    "write audit record %" PRId64 " to %s: %s; the partial line "
				    "could not be removed (%s) and will be retried",
				    a->seq + 1, a->path, w < 0 ? strerror(e) : "short write",
				    strerror(errno));
		return al_err_setx(err, e, "write audit record %" PRId64 " to %s: %s (nothing recorded)",
			    a->seq + 1, a->path,
			    w < 0 ? strerror(e) : "short write, probably out of space");
	}
	if (a->sync && fdatasync(a->fd) < 0) {
		int e = errno;
		cut_back(a);
		return al_err_setx(err, e, "fdatasync audit log %s: %s (record %" PRId64 " withdrawn)",
			    a->path, strerror(e), a->seq + 1);
	}
	a->seq++;
	memcpy(a->last_mac, mac, 65);
	a->size += (off_t)(len + 1);
	return 0;
}

/* ---- read back ---------------------------------------------------------- */

int al_audit_verify_file(const char *path, const char *key_path, FILE *report, long *first_bad_line,
			 al_err *err)
{
	unsigned char key[KEY_MAX];
	size_t keylen = 0;
	cleanup_free char *kp_buf = NULL;
	cleanup_free char *line = NULL;
	size_t cap = 0;
	char why[512], exp_prev[65], mac[65], prev[65];
	int64_t exp_seq = 1, seq = 0;
	long lineno = 0;
	ssize_t n;

	if (first_bad_line)
		*first_bad_line = 0;
	if (key_path == NULL) {
		if (asprintf(&kp_buf, "%s.key", path) < 0) {
			kp_buf = NULL;
			return al_err_setx(err, ENOMEM, "out of memory");
		}
		key_path = kp_buf;
	}
	if (load_key(key_path, false, key, &keylen, err) < 0)
		return -1;
	cleanup_file FILE *f = fopen(path, "re");
	if (f == NULL) {
		explicit_bzero(key, sizeof(key));
		return al_err_set(err, errno, "open audit log %s", path);
	}
	memcpy(exp_prev, ZERO_MAC, 65);
	why[0] = '\0';
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			snprintf(why, sizeof(why),
				 "truncated record: the last line has no newline (an interrupted "
				 "write, or the tail was cut)");
			break;
		}
		json_error_t jerr;
		cleanup_json json_t *rec =
		    json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
		if (rec == NULL) {
			snprintf(why, sizeof(why), "bad JSON at column %d: %s", jerr.column,
				 jerr.text);
			break;
		}
		if (check_record(rec, line, (size_t)n - 1, key, keylen, &seq, mac, prev, why,
				 sizeof(why)) != 0)
			break;
		if (strcmp(prev, exp_prev) != 0) {
			if (lineno == 1)
				snprintf(why, sizeof(why),
					 "\"prev\" of the first record is not 64 zeros: records "
					 "before it were dropped");
			else
				snprintf(
				    why, sizeof(why),
				    "\"prev\" does not match the mac of line %ld: a record was "
				    "dropped or records were reordered",
				    lineno - 1);
			break;
		}
		if (seq != exp_seq) {
			snprintf(why, sizeof(why),
				 "seq gap: seq %" PRId64 ", expected %" PRId64
				 ": a record was dropped or records were reordered",
				 seq, exp_seq);
			break;
		}
		memcpy(exp_prev, mac, 65);
		exp_seq = seq + 1;
	}
	explicit_bzero(key, sizeof(key));
	if (why[0] != '\0') {
		if (first_bad_line)
			*first_bad_line = lineno;
		if (report) {
			/* why may quote bytes of the (hostile) file: keep it printable */
			for (char *p = why; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					*p = '?';
			fprintf(report, "%s: line %ld: %s\n", path, lineno, why);
		}
		return 1;
	}
	if (ferror(f))
		return al_err_set(err, EIO, "read audit log %s", path);
	if (report)
		fprintf(report, "%s: OK, %ld records, chain intact (last seq %" PRId64 ")\n", path,
			lineno, exp_seq - 1);
	return 0;
}

static bool id_is_plain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

int al_audit_find_run(const char *path, const char *run_id, json_t **array_out, al_err *err)
{
	cleanup_free char *line = NULL;
	cleanup_free char *needle = NULL;
	size_t cap = 0;
	ssize_t n;

	*array_out = NULL;
	if (run_id == NULL || run_id[0] == '\0' || strlen(run_id) > 256)
		return al_err_setx(err, EINVAL, "bad run id");
	/* The canonical form puts the member exactly like this, so lines
	 * without it need no parsing. */
	if (id_is_plain(run_id) && asprintf(&needle, "\"run_id\":\"%s\"", run_id) < 0)
		needle = NULL;
	cleanup_file FILE *f = fopen(path, "re");
	if (f == NULL)
		return al_err_set(err, errno, "open audit log %s", path);
	cleanup_json json_t *arr = json_array();
	if (arr == NULL)
		return al_err_setx(err, ENOMEM, "out of memory");
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break; /* a record being written */
		if (needle && strstr(line, needle) == NULL)
			continue;
		cleanup_json json_t *rec =
		    json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES, NULL);
		json_t *id = json_object_get(rec, "run_id");
		if (json_is_string(id) && strcmp(json_string_value(id), run_id) == 0 &&
		    json_array_append(arr, rec) < 0)
			return al_err_setx(err, ENOMEM, "out of memory");
	}
	if (ferror(f))
		return al_err_set(err, EIO, "read audit log %s", path);
	*array_out = TAKE_PTR(arr);
	return 0;
}
