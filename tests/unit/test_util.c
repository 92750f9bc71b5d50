/* shared/util.c: al_mkdir_p (walks up only as far as a parent is missing)
 * and al_make_mountpoint. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"

static char base[64];

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/al-util-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static bool is_dir(const char *p, mode_t mode)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == mode;
}

START_TEST(mkdir_p_creates_every_missing_component)
{
	char p[256], q[256];
	al_err err = {0};
	mode_t old = umask(0);

	snprintf(p, sizeof(p), "%s/a/b//c/", base);
	ck_assert_int_eq(al_mkdir_p(p, 0750, &err), 0);
	snprintf(q, sizeof(q), "%s/a", base);
	ck_assert(is_dir(q, 0750));
	snprintf(q, sizeof(q), "%s/a/b/c", base);
	ck_assert(is_dir(q, 0750));
	/* all there: nothing to do, no error */
	ck_assert_int_eq(al_mkdir_p(p, 0700, &err), 0);
	ck_assert(is_dir(q, 0750));
	/* one level more below existing parents */
	snprintf(p, sizeof(p), "%s/a/b/c/d", base);
	ck_assert_int_eq(al_mkdir_p(p, 0700, &err), 0);
	ck_assert(is_dir(p, 0700));
	umask(old);
}
END_TEST

START_TEST(mkdir_p_reports_a_file_in_the_way)
{
	char f[256], p[256];
	al_err err = {0};

	snprintf(f, sizeof(f), "%s/file", base);
	int fd = open(f, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/file/x/y", base);
	ck_assert_int_eq(al_mkdir_p(p, 0755, &err), -1);
	ck_assert_int_eq(err.errnum, ENOTDIR);
	ck_assert_msg(strstr(err.msg, "/file/x") != NULL, "message: %s", err.msg);
	/* the last component existing as a file is not an error (as mkdir -p
	 * was before); al_make_mountpoint relies on EEXIST being fine */
	ck_assert_int_eq(al_mkdir_p(f, 0755, &err), 0);
}
END_TEST

START_TEST(make_mountpoint_file_and_dir)
{
	char p[256];
	al_err err = {0};
	struct stat st;

	snprintf(p, sizeof(p), "%s/m/n/node", base);
	ck_assert_int_eq(al_make_mountpoint(p, false, &err), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	snprintf(p, sizeof(p), "%s/m/n/dir", base);
	ck_assert_int_eq(al_make_mountpoint(p, true, &err), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mkdir_p_creates_every_missing_component);
	tcase_add_test(tc, mkdir_p_reports_a_file_in_the_way);
	tcase_add_test(tc, make_mountpoint_file_and_dir);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
