/* Unit tests for policy/words.c: POSIX word splitting without a shell. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/words.h"
#include "shared/cleanup.h"

/* Split cmd and compare with the expected words (NULL-terminated). */
static void expect_words(const char *cmd, ...)
{
	char **v = NULL;
	size_t n = 0;
	al_err err = {0};
	va_list ap;

	int r = al_split_words(cmd, strlen(cmd), &v, &n, &err);
	ck_assert_msg(r == 0, "split [%s] failed (%d): %s", cmd, r, err.msg);
	va_start(ap, cmd);
	size_t i = 0;
	for (const char *w; (w = va_arg(ap, const char *)) != NULL; i++) {
		ck_assert_msg(i < n, "[%s]: only %zu words, expected more", cmd, n);
		ck_assert_msg(strcmp(v[i], w) == 0, "[%s] word %zu: got [%s], want [%s]", cmd, i,
			      v[i], w);
	}
	va_end(ap);
	ck_assert_msg(i == n, "[%s]: got %zu words, want %zu", cmd, n, i);
	ck_assert_ptr_null(v[n]);
	al_strv_free(v);
}

/* Expect AL_WORDS_SHELL_SYNTAX with a message containing each fragment. */
static void expect_syntax(const char *cmd, const char *frag1, const char *frag2)
{
	char **v = (char **)1;
	size_t n = 99;
	al_err err = {0};

	int r = al_split_words(cmd, strlen(cmd), &v, &n, &err);
	ck_assert_msg(r == AL_WORDS_SHELL_SYNTAX, "[%s]: want shell_syntax, got %d (%s)", cmd, r,
		      err.msg);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	if (frag1)
		ck_assert_msg(strstr(err.msg, frag1), "[%s]: message [%s] lacks [%s]", cmd, err.msg,
			      frag1);
	if (frag2)
		ck_assert_msg(strstr(err.msg, frag2), "[%s]: message [%s] lacks [%s]", cmd, err.msg,
			      frag2);
}

static void expect_error(const char *cmd, size_t len, const char *frag)
{
	char **v = NULL;
	size_t n = 0;
	al_err err = {0};

	int r = al_split_words(cmd, len, &v, &n, &err);
	ck_assert_msg(r == -1, "[%.*s]: want -1, got %d (%s)", (int)len, cmd, r, err.msg);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(err.errnum, EINVAL);
	ck_assert_msg(strstr(err.msg, frag), "message [%s] lacks [%s]", err.msg, frag);
}

START_TEST(plain_words)
{
	expect_words("git status", "git", "status", NULL);
	expect_words("  ls   -la  /tmp  ", "ls", "-la", "/tmp", NULL);
	expect_words("a\tb\t\tc", "a", "b", "c", NULL);
	expect_words("x", "x", NULL);
	expect_words("a]b {x} ! %^+,.:@", "a]b", "{x}", "!", "%^+,.:@", NULL);
	expect_words("a#b c", "a#b", "c", NULL);
	expect_words("dd if=/dev/zero of=x", "dd", "if=/dev/zero", "of=x", NULL);
	expect_words("make CC=gcc", "make", "CC=gcc", NULL);
	expect_words("echo a~b", "echo", "a~b", NULL);
	expect_words("scp host:~/x .", "scp", "host:~/x", ".", NULL);
	expect_words("echo a\rb", "echo", "a\rb", NULL);
	expect_words("echo é", "echo", "é", NULL);
}
END_TEST

START_TEST(single_quotes)
{
	expect_words("echo 'a b'", "echo", "a b", NULL);
	expect_words("echo 'it'\\''s'", "echo", "it's", NULL);
	expect_words("echo '$HOME'", "echo", "$HOME", NULL);
	expect_words("echo 'a;b'", "echo", "a;b", NULL);
	expect_words("echo '\\n\\'", "echo", "\\n\\", NULL);
	expect_words("echo 'a\"b'", "echo", "a\"b", NULL);
	expect_words("echo '`x` $(y) ${z} | & ; > < ( ) * ? [ # ~'", "echo",
		     "`x` $(y) ${z} | & ; > < ( ) * ? [ # ~", NULL);
	expect_words("echo 'line1\nline2'", "echo", "line1\nline2", NULL);
	expect_words("grep -E '^(a|b)*$' f", "grep", "-E", "^(a|b)*$", "f", NULL);
}
END_TEST

START_TEST(double_quotes)
{
	expect_words("echo \"c d\"", "echo", "c d", NULL);
	expect_words("echo \"a\\\"b\"", "echo", "a\"b", NULL);
	expect_words("echo \"\\$HOME\"", "echo", "$HOME", NULL);
	expect_words("echo \"\\`x\\`\"", "echo", "`x`", NULL);
	expect_words("echo \"a\\\\b\"", "echo", "a\\b", NULL);
	/* backslash before any other character stays */
	expect_words("echo \"a\\nb\\'\"", "echo", "a\\nb\\'", NULL);
	expect_words("echo \"it's\"", "echo", "it's", NULL);
	expect_words("echo \"a;b|c&d>e<f(g)*?[#~\"", "echo", "a;b|c&d>e<f(g)*?[#~", NULL);
	/* backslash-newline inside double quotes is removed */
	expect_words("echo \"ab\\\ncd\"", "echo", "abcd", NULL);
	/* a plain newline inside double quotes is kept */
	expect_words("echo \"ab\ncd\"", "echo", "ab\ncd", NULL);
}
END_TEST

START_TEST(backslashes_and_mixing)
{
	expect_words("echo e\\ f", "echo", "e f", NULL);
	expect_words("'a b' \"c d\" e\\ f", "a b", "c d", "e f", NULL);
	expect_words("echo a\\;b", "echo", "a;b", NULL);
	expect_words("echo \\$HOME \\`x\\` \\* \\~ \\#", "echo", "$HOME", "`x`", "*", "~", "#",
		     NULL);
	expect_words("echo \\\\", "echo", "\\", NULL);
	expect_words("echo \\'", "echo", "'", NULL);
	expect_words("find . -exec rm {} \\;", "find", ".", "-exec", "rm", "{}", ";", NULL);
	/* adjacent quoted and unquoted parts make one word */
	expect_words("a'b'\"c\"d\\ e", "abcd e", NULL);
	/* a trailing lone backslash stays literal, as in sh */
	expect_words("echo a\\", "echo", "a\\", NULL);
	/* quoting the start of a word makes # and ~ literal */
	expect_words("echo ''#x \"\"~", "echo", "#x", "~", NULL);
	/* quoted assignment-looking first word is a command name */
	expect_words("'A=1' x", "A=1", "x", NULL);
	expect_words("A\\=1 x", "A=1", "x", NULL);
}
END_TEST

START_TEST(empty_args)
{
	expect_words("echo ''", "echo", "", NULL);
	expect_words("echo \"\"", "echo", "", NULL);
	expect_words("echo '' \"\" x", "echo", "", "", "x", NULL);
	expect_words("''", "", NULL);
}
END_TEST

START_TEST(line_continuation)
{
	expect_words("echo a\\\nb", "echo", "ab", NULL);
	expect_words("echo a \\\n b", "echo", "a", "b", NULL);
	expect_words("\\\necho x", "echo", "x", NULL);
	expect_words("echo x\\\n", "echo", "x", NULL);
}
END_TEST

START_TEST(operators)
{
	expect_syntax("echo a;b", "';'", "byte 6");
	expect_syntax("echo a ; b", "';'", "byte 7");
	expect_syntax("a&&b", "'&&'", "byte 1");
	expect_syntax("a || b", "'||'", "byte 2");
	expect_syntax("a | b", "'|'", "byte 2");
	expect_syntax("sleep 1 &", "'&'", "byte 8");
	expect_syntax(">x", "'>'", "byte 0");
	expect_syntax("echo a >> x", "'>>'", "byte 7");
	expect_syntax("cat < x", "'<'", "byte 4");
	expect_syntax("cmd 2>&1", "'>&'", "byte 5");
	expect_syntax("(x)", "'('", "byte 0");
	expect_syntax("x)", "')'", "byte 1");
	expect_syntax("a;;", "';;'", NULL);
	expect_syntax("a |& b", "'|&'", NULL);
	expect_syntax("a &> b", "'&>'", NULL);
	expect_syntax("echo a\nrm -rf /", "newline", "byte 6");
	expect_syntax("echo 'ok' ;x", "';'", "byte 10");
	expect_syntax("echo \"ok\"|x", "'|'", "byte 9");
	/* the message explains what to do */
	expect_syntax("a;b", "shell operator", "argv");
}
END_TEST

START_TEST(expansions)
{
	expect_syntax("echo \"$HOME\"", "'$HOME'", "inside double quotes");
	expect_syntax("echo $HOME", "'$HOME'", "byte 5");
	expect_syntax("echo $(id)", "'$('", "command substitution");
	expect_syntax("echo ${x}", "'${'", "parameter expansion");
	expect_syntax("echo $((1+1))", "'$(('", "arithmetic");
	expect_syntax("echo $?", "'$?'", NULL);
	expect_syntax("echo $1", "'$1'", NULL);
	expect_syntax("echo $", "'$'", NULL);
	expect_syntax("echo `id`", "'`'", "byte 5");
	expect_syntax("echo \"`id`\"", "'`'", "inside double quotes");
	expect_syntax("echo \"a $(id)\"", "'$('", "byte 8");
	expect_syntax("echo a$b", "'$b'", NULL);
}
END_TEST

START_TEST(globs_tilde_comment_assignment)
{
	expect_syntax("ls *.c", "glob character '*'", "byte 3");
	expect_syntax("ls a?", "'?'", NULL);
	expect_syntax("ls [ab]", "'['", NULL);
	expect_syntax("ls ~", "tilde", "byte 3");
	expect_syntax("ls ~/x", "tilde", NULL);
	expect_syntax("ls ~root", "tilde", NULL);
	expect_syntax("dd if=~/x", "tilde", "byte 6");
	expect_syntax("echo a #comment", "comment", "byte 7");
	expect_syntax("#x", "comment", NULL);
	expect_syntax("FOO=bar ls", "variable assignment 'FOO='", "byte 0");
	expect_syntax("_x1=a", "'_x1='", NULL);
	expect_syntax("  PATH=/tmp ls", "'PATH='", "byte 2");
}
END_TEST

START_TEST(errors)
{
	expect_error("", 0, "empty command");
	expect_error("   \t ", 5, "empty command");
	expect_error("\\\n", 2, "empty command");
	expect_error("echo 'abc", 9, "unterminated single quote opened at byte 5");
	expect_error("echo \"abc", 9, "unterminated double quote opened at byte 5");
	expect_error("echo \"abc\\\"", 11, "unterminated double quote");
	expect_error("echo \"abc\\", 10, "unterminated double quote");
	expect_error("echo a\0b", 8, "NUL byte at byte 6");
	expect_error("echo 'a\0b'", 10, "NUL byte at byte 7");

	char **v = NULL;
	size_t n = 0;
	ck_assert_int_eq(al_split_words(NULL, 3, &v, &n, NULL), -1);
	/* a NULL err is allowed */
	ck_assert_int_eq(al_split_words("a;b", 3, &v, &n, NULL), AL_WORDS_SHELL_SYNTAX);
}
END_TEST

START_TEST(length_is_honoured)
{
	char **v = NULL;
	size_t n = 0;
	al_err err = {0};

	/* only the first 6 bytes count: the ';' after them is not seen */
	ck_assert_int_eq(al_split_words("echo a;rm", 6, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[1], "a");
	al_strv_free(v);
}
END_TEST

START_TEST(many_and_long_words)
{
	static char buf[200001];
	char **v = NULL;
	size_t n = 0;
	al_err err = {0};

	for (size_t i = 0; i < 100000; i++) {
		buf[2 * i] = 'x';
		buf[2 * i + 1] = ' ';
	}
	ck_assert_int_eq(al_split_words(buf, 200000, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 100000);
	ck_assert_str_eq(v[99999], "x");
	al_strv_free(v);

	memset(buf, 'y', 200000);
	ck_assert_int_eq(al_split_words(buf, 200000, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(strlen(v[0]), 200000);
	al_strv_free(v);
}
END_TEST

static Suite *words_suite(void)
{
	Suite *s = suite_create("words");
	TCase *tc = tcase_create("split");

	tcase_add_test(tc, plain_words);
	tcase_add_test(tc, single_quotes);
	tcase_add_test(tc, double_quotes);
	tcase_add_test(tc, backslashes_and_mixing);
	tcase_add_test(tc, empty_args);
	tcase_add_test(tc, line_continuation);
	tcase_add_test(tc, operators);
	tcase_add_test(tc, expansions);
	tcase_add_test(tc, globs_tilde_comment_assignment);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, length_is_honoured);
	tcase_add_test(tc, many_and_long_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(words_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
