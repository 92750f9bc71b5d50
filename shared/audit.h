/* The tamper-evident audit log (SPEC §6): JSON Lines, one record per line,
 * chained with HMAC-SHA256.
 *
 * Record canonicalisation (what the MAC covers and what a line holds):
 *   body = json_dumps(record without "mac", AL_AUDIT_JSON_FLAGS)
 *   mac  = lowercase hex HMAC-SHA256(key, body)
 *   line = json_dumps(record with "mac", AL_AUDIT_JSON_FLAGS) + "\n"
 * with AL_AUDIT_JSON_FLAGS = compact, sorted keys, ASCII only (non-ASCII as
 * \uXXXX, so a log never carries raw terminal control bytes beyond what
 * JSON escapes anyway).  Every record carries, set by the writer and
 * overriding anything the caller put there:
 *   "ts"   RFC 3339 UTC with milliseconds,
 *   "seq"  1 for the first record of a file, then +1 per record,
 *   "prev" the previous record's "mac" (64 zeros for seq 1),
 *   "mac"  as above.
 * A verifier recomputes the MAC over the parsed record and also requires
 * the line's bytes to be exactly the canonical serialisation, so any
 * changed byte is detected, even one that leaves the JSON value equal.
 *
 * The key file holds the key as hex (64 hex digits = 32 bytes, the form the
 * writer creates, up to 128 bytes accepted; surrounding whitespace ignored);
 * the HMAC key is the decoded bytes.
 *
 * Secrets: a member named "token" (any case) is removed at every depth, and
 * string members named "authorization" or ending in "token" (any case, e.g.
 * "AGENTGW_TOKEN", "access_token") are replaced by "[redacted]".
 * "token_id" (the first 8 hex digits of the token's sha256) is kept.
 *
 * A handle is not thread-safe: one writer thread, or serialise the calls. */
#ifndef AL_AUDIT_H
#define AL_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef struct json_t json_t;

#define AL_AUDIT_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
/* Longest record line written or read back (bytes, newline included). */
#define AL_AUDIT_MAX_LINE (16u << 20)

struct al_audit;

/* Open (creating 0600 if missing; its directory must exist) the log at
 * path for appending and take an exclusive flock on it (a second writer is
 * refused).  key_path NULL means path + ".key".  A missing key file is
 * created 0600 with 32 random bytes (published atomically with link(2), so
 * racing openers agree on one key) -- but only while the log is empty: a
 * log with records and no key is refused.  An existing key file must be a
 * regular file owned by the effective uid with no group/other access.
 * When the log has records, the chain continues from the last one, whose
 * MAC and canonical form are checked; a damaged tail is refused with a
 * message pointing at --verify-audit.  fdatasync_each: fdatasync(2) after
 * every record. */
int al_audit_open(const char *path, const char *key_path, bool fdatasync_each,
		  struct al_audit **out, al_err *err);

/* Append one record.  rec (an object with a string "event") is borrowed and
 * not modified: the writer works on a deep copy, strips secrets and adds
 * ts, seq, prev and mac.  The line goes out in one write(2) (then
 * fdatasync if configured).  On any failure (ENOSPC, short write, EIO, the
 * file changed size behind the writer's back) the partial line is cut off
 * again with ftruncate(2), the in-memory chain state is unchanged (the
 * next write continues from the last good record) and -1 is returned: the
 * caller must not run the request.  If the cut-off itself fails, every later
 * write retries it first and fails until it succeeds. */
int al_audit_write(struct al_audit *a, json_t *rec, al_err *err);

/* Close the file and wipe the key.  NULL is fine. */
void al_audit_close(struct al_audit *a);

int64_t al_audit_seq(const struct al_audit *a);		 /* seq of the last record, 0 if none */
const char *al_audit_last_mac(const struct al_audit *a); /* 64 hex digits */
const char *al_audit_path(const struct al_audit *a);

/* Verify a whole log against its key (key_path NULL = path + ".key").
 * Returns 0 when every record verifies (report: "PATH: OK, N records"),
 * 1 at the first bad record (*first_bad_line = its 1-based line; report:
 * "PATH: line N: why" -- bad JSON, not an audit record, MAC mismatch
 * (changed), not canonical (changed), prev mismatch (dropped or
 * reordered), seq gap, truncated last line), -1 on an I/O error (err).
 * report may be NULL.  Dropping whole records from the end of a file is not
 * detectable from the file alone: compare the last seq with a trusted copy. */
int al_audit_verify_file(const char *path, const char *key_path, FILE *report, long *first_bad_line,
			 al_err *err);

/* Every record of run_id, in file order, as a new JSON array (empty when
 * none; the caller answers 404).  Lines that do not parse are skipped (a
 * record being written); MACs are not checked here. */
int al_audit_find_run(const char *path, const char *run_id, json_t **array_out, al_err *err);

#endif
