/* Unit tests for the gateway's pure code: rate limiting, the connection
 * guard's head check, bearer tokens and authentication, request
 * validation and the decision (gateway/{ratelimit,conn,auth,req,decide}.c,
 * compiled in here: the Makefile links unit tests against libagentcore.a
 * only). */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/auth.c"
#include "gateway/conn.c"
#include "gateway/decide.c"
#include "gateway/log.c"
#include "gateway/ratelimit.c"
#include "gateway/req.c"

/* ---- rate limit ---------------------------------------------------------------- */

START_TEST(rl_sliding_window)
{
	struct gw_ratelimit *rl = gw_rl_new(100);

	ck_assert_int_eq(gw_rl_hit(rl, "a", 3, 10000, 1000), 0);
	ck_assert_int_eq(gw_rl_hit(rl, "a", 3, 10000, 2000), 0);
	ck_assert_int_eq(gw_rl_hit(rl, "a", 3, 10000, 3000), 0);
	/* full: the oldest (t=1000) frees at 11000 -> 9.5 s -> 10 */
	ck_assert_int_eq(gw_rl_hit(rl, "a", 3, 10000, 3000), 8);
	ck_assert_int_eq(gw_rl_hit(rl, "b", 3, 10000, 3000), 0); /* per identity */
	/* a refused request is not counted: at 11000 one slot is free */
	ck_assert_int_eq(gw_rl_hit(rl, "a", 3, 10000, 11000), 0);
	ck_assert_int_gt(gw_rl_hit(rl, "a", 3, 10000, 11001), 0);
	ck_assert_int_eq(gw_rl_hit(rl, "a", 0, 10000, 11001), 0); /* no limit */
	gw_rl_free(rl);
}
END_TEST

START_TEST(rl_lowered_limit_and_eviction)
{
	struct gw_ratelimit *rl = gw_rl_new(2);

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(gw_rl_hit(rl, "a", 10, 60000, 1000 + i), 0);
	/* policy reload lowers the limit below what is counted */
	ck_assert_int_gt(gw_rl_hit(rl, "a", 2, 60000, 2000), 0);
	ck_assert_int_eq(gw_rl_hit(rl, "b", 2, 60000, 2000), 0);
	ck_assert_int_eq(gw_rl_hit(rl, "c", 2, 60000, 2000), 0); /* evicts one */
	ck_assert_uint_le(gw_rl_tracked(rl), 2);
	gw_rl_free(rl);
}
END_TEST

/* ---- connection guard ------------------------------------------------------------ */

START_TEST(head_check)
{
	uint64_t body;
	int chunked;
	const char *ok = "POST /v1/exec HTTP/1.1\r\nHost: x\r\ncontent-length:  12 \r\n\r\n";

	ck_assert_int_eq(gw_conn_check_head(ok, strlen(ok), 4096, 100, &body, &chunked), 0);
	ck_assert_int_eq(body, 12);
	ck_assert_int_eq(chunked, 0);
	const char *big = "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
	ck_assert_int_eq(gw_conn_check_head(big, strlen(big), 4096, 100, &body, &chunked), 413);
	const char *huge = "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
	ck_assert_int_eq(gw_conn_check_head(huge, strlen(huge), 4096, 100, &body, &chunked), 0);
	const char *te = "POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n";
	ck_assert_int_eq(gw_conn_check_head(te, strlen(te), 4096, 100, &body, &chunked), 0);
	ck_assert_int_eq(chunked, 1);
	const char *uri = "GET /aaaaaaaaaa HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(gw_conn_check_head(uri, strlen(uri), 8, 100, &body, &chunked), 414);
	ck_assert_int_eq(head_length("GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 29), 24);
	ck_assert_int_eq(head_length("GET / HTTP/1.0\n\nX", 17), 16);
	ck_assert_int_eq(head_length("GET / HTTP/1.1\r\nA: b\r\n", 22), 0);
}
END_TEST

static char *head_out(const char *in, bool *close)
{
	struct evbuffer *b = evbuffer_new();
	*close = pass_head(in, strlen(in), b);
	size_t n = evbuffer_get_length(b);
	char *s = calloc(1, n + 1);
	evbuffer_remove(b, s, n);
	evbuffer_free(b);
	return s;
}

START_TEST(head_connection_headers)
{
	bool close;
	char *s = head_out("GET / HTTP/1.1\r\nConnection: close\r\nHost: x\r\n\r\n", &close);
	ck_assert(close);
	ck_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	free(s);
	s = head_out("GET / HTTP/1.0\r\nHost: x\r\n\r\n", &close);
	ck_assert(close);
	ck_assert_str_eq(s, "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
	free(s);
	s = head_out("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n", &close);
	ck_assert(!close);
	free(s);
	s = head_out("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &close);
	ck_assert(!close);
	ck_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	free(s);
}
END_TEST

/* ---- tokens ------------------------------------------------------------------------ */

START_TEST(bearer_parse)
{
	size_t n = 0;
	const char *t = gw_bearer_token("Bearer abc.DEF-1_~+/=", &n);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(n, 14);
	t = gw_bearer_token("bearer   tok  ", &n);
	ck_assert(t && n == 3 && strncmp(t, "tok", 3) == 0);
	ck_assert_ptr_null(gw_bearer_token("Basic abc", &n));
	ck_assert_ptr_null(gw_bearer_token("Bearer a b", &n));
	ck_assert_ptr_null(gw_bearer_token("Bearer", &n));
	ck_assert_ptr_null(gw_bearer_token("Bearerabc", &n));
	ck_assert_ptr_null(gw_bearer_token(NULL, &n));
}
END_TEST

START_TEST(authenticate)
{
	struct gw_auth a = {0};
	struct gw_who who;
	struct gw_apierr e;
	al_err err = {0};
	int p[2];
	char hex[65];

	al_sha256_hex("s3cret", 6, hex);
	ck_assert_int_eq(pipe(p), 0);
	dprintf(p[1], "agent-1 %s\n\nagent-2 %s\n", hex, hex);
	close(p[1]);
	ck_assert_msg(gw_auth_load_fd(&a, p[0], &err) == 0, "%s", err.msg);
	ck_assert(a.enabled && a.n == 2);
	ck_assert_int_eq(gw_authenticate(&a, NULL, 0, NULL, &who, &e), -1);
	ck_assert_int_eq(e.status, 401);
	ck_assert_int_eq(gw_authenticate(&a, "nope", 4, NULL, &who, &e), -1);
	ck_assert_int_eq(e.status, 401);
	ck_assert_int_eq(gw_authenticate(&a, "s3cret", 6, NULL, &who, &e), 0);
	ck_assert_str_eq(who.identity, "agent-1"); /* the first entry with that hash */
	ck_assert(who.verified);
	ck_assert_int_eq(strncmp(who.token_id, hex, 8), 0);
	ck_assert_int_eq(gw_authenticate(&a, "s3cret", 6, "agent-9", &who, &e), -1);
	ck_assert_str_eq(e.code, "identity_mismatch");
	gw_auth_free(&a);

	struct gw_auth none = {0};
	ck_assert_int_eq(gw_authenticate(&none, "x", 1, NULL, &who, &e), 0);
	ck_assert_str_eq(who.identity, "anonymous");
	ck_assert(!who.verified);
	ck_assert_int_eq(gw_authenticate(&none, NULL, 0, "..", &who, &e), -1);
	ck_assert_str_eq(e.code, "bad_field");

	ck_assert_int_eq(pipe(p), 0);
	dprintf(p[1], "agent-1 nothex\n");
	close(p[1]);
	ck_assert_int_eq(gw_auth_load_fd(&a, p[0], &err), -1);
	gw_auth_free(&a);
}
END_TEST

/* ---- request bodies --------------------------------------------------------------- */

static int parse(enum gw_route r, const char *body, struct gw_apierr *e)
{
	struct gw_request rq;
	json_t *j = gw_req_load(body, strlen(body), e);
	if (j == NULL)
		return -1;
	int rc = gw_req_parse(r, j, &rq, e);
	gw_req_free(&rq);
	json_decref(j);
	return rc;
}

START_TEST(request_validation)
{
	struct gw_apierr e;

	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls -l\",\"timeout_sec\":5}", &e), 0);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":", &e), -1);
	ck_assert_str_eq(e.code, "bad_json");
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "\"ls\"", &e), -1);
	ck_assert_str_eq(e.code, "bad_json");
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"command\":\"id\"}", &e), -1);
	ck_assert_str_eq(e.code, "bad_json");
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"x\":1}", &e), -1);
	ck_assert_str_eq(e.code, "bad_field");
	ck_assert_ptr_nonnull(strstr(e.msg, "'x'"));
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"timeout_sec\":1.5}", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "timeout_sec"));
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"pids_max\":0}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"argv\":[]}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"argv\":[\"a\\u0000b\"]}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"   \"}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"cwd\":\"work\"}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"command\":\"ls\",\"env\":{\"1A\":\"x\"}}", &e),
			 -1);
	ck_assert_int_eq(parse(GW_ROUTE_EXEC, "{\"code\":\"print(1)\"}", &e), -1); /* not here */
	ck_assert_int_eq(parse(GW_ROUTE_RUN, "{\"code\":\"\"}", &e), -1);
	ck_assert_str_eq(e.code, "empty_code");
	ck_assert_int_eq(parse(GW_ROUTE_RUN, "{\"code\":\"x\",\"argv\":[\"ls\"]}", &e), -1);
	ck_assert_int_eq(parse(GW_ROUTE_PLAN, "{\"code\":\"print(1)\"}", &e), 0);
	ck_assert_int_eq(parse(GW_ROUTE_PLAN, "{\"argv\":[\"ls\"]}", &e), 0);
}
END_TEST

/* ---- decisions ----------------------------------------------------------------------- */

static struct al_policy *test_policy(void)
{
	static const char pol[] =
	    "{\"version\":\"2.0\",\"mode\":\"enforce\",\"default\":\"deny\","
	    "\"rules\":["
	    "{\"id\":\"no_secret\",\"match\":{\"executable\":\"^echo$\",\"args_pattern\":"
	    "\"secret\"},\"effect\":\"deny\"},"
	    "{\"id\":\"tools\",\"match\":{\"kind\":\"command\",\"executable\":\"^(ls|echo)$\","
	    "\"path\":\"^/(usr/)?bin/\"},\"effect\":\"allow\",\"profile\":\"command_default\"},"
	    "{\"id\":\"py\",\"match\":{\"kind\":\"code\"},\"effect\":\"allow\"}],"
	    "\"profiles\":{\"command_default\":{\"path\":\"/usr/bin:/bin\",\"network\":\"none\","
	    "\"fs\":{\"cwd\":\"/work\",\"workspace\":\"/tmp/gwtest/{identity}\","
	    "\"read_only\":[\"/usr\",\"/bin\",\"/lib\"]},\"limits\":{\"timeout_sec\":60,"
	    "\"mem_max_mb\":256},\"syscall_profile\":\"r\"},"
	    "\"python_sandbox\":{\"language\":\"python\",\"interpreter\":\"/usr/bin/python3\","
	    "\"network\":\"none\",\"fs\":{\"cwd\":\"/work\",\"workspace\":\"/tmp/gwtest/"
	    "{identity}\",\"read_only\":[\"/usr\"]},\"limits\":{\"timeout_sec\":30},"
	    "\"syscall_profile\":\"r\"}},"
	    "\"syscall_profiles\":{\"r\":{\"default\":\"allow\",\"deny\":[\"ptrace\"]}}}";
	struct al_policy *p = NULL;
	al_err err = {0};
	ck_assert_msg(al_policy_load_buf(pol, strlen(pol), "test", &p, &err) == 0, "%s", err.msg);
	return p;
}

static void plan_of(const struct al_policy *p, enum gw_route r, const char *body,
		    struct gw_plan *pl)
{
	struct gw_apierr e;
	struct gw_request rq;
	json_t *j = gw_req_load(body, strlen(body), &e);
	ck_assert_ptr_nonnull(j);
	ck_assert_msg(gw_req_parse(r, j, &rq, &e) == 0, "%s", e.msg);
	gw_plan_build(p, &rq, "dev-1", pl);
	gw_req_free(&rq);
	json_decref(j);
}

START_TEST(decisions)
{
	struct al_policy *p = test_policy();
	struct gw_plan pl;

	plan_of(p, GW_ROUTE_EXEC, "{\"command\":\"ls -l\",\"timeout_sec\":999}", &pl);
	ck_assert(gw_plan_runs(&pl));
	ck_assert_str_eq(pl.rule->id, "tools");
	ck_assert_str_eq(pl.argv[0], "/usr/bin/ls");
	ck_assert_int_eq(pl.limits.timeout_sec, 60);
	ck_assert_int_eq(pl.limits.mem_max_mb, 256);
	ck_assert_str_eq(pl.workspace, "/tmp/gwtest/dev-1");
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_EXEC, "{\"command\":\"echo secret\"}", &pl);
	ck_assert(!gw_plan_runs(&pl));
	ck_assert_str_eq(pl.rule->id, "no_secret"); /* first match */
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_EXEC, "{\"command\":\"ls | wc\"}", &pl);
	ck_assert(pl.failed);
	ck_assert_str_eq(pl.err.code, "shell_syntax");
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_EXEC, "{\"command\":\"/nonexistent/echo x\"}", &pl);
	ck_assert(!pl.failed && !pl.runnable && !gw_plan_runs(&pl));
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_EXEC, "{\"argv\":[\"/usr/bin/echo\",\"x\"]}", &pl);
	ck_assert(gw_plan_runs(&pl)); /* named path, rule with a path pattern */
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_EXEC, "{\"command\":\"ls\",\"profile\":\"python_sandbox\"}", &pl);
	ck_assert(pl.failed);
	ck_assert_str_eq(pl.err.code, "bad_field");
	gw_plan_free(&pl);

	plan_of(p, GW_ROUTE_RUN, "{\"code\":\"print(1)\"}", &pl);
	ck_assert(gw_plan_runs(&pl));
	ck_assert_str_eq(pl.profile->name, "python_sandbox");
	ck_assert_str_eq(pl.matched_executable, "python3");
	ck_assert_int_eq(strlen(pl.code_sha256), 64);
	gw_plan_free(&pl);
	al_policy_free(p);
}
END_TEST

static Suite *gateway_suite(void)
{
	Suite *s = suite_create("gateway");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, rl_sliding_window);
	tcase_add_test(tc, rl_lowered_limit_and_eviction);
	tcase_add_test(tc, head_check);
	tcase_add_test(tc, head_connection_headers);
	tcase_add_test(tc, bearer_parse);
	tcase_add_test(tc, authenticate);
	tcase_add_test(tc, request_validation);
	tcase_add_test(tc, decisions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gateway_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
