/* POSIX shell word splitting without expansion; see words.h for the rules. */
#include "words.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shared/cleanup.h"

#define SHELL_HINT "commands run without a shell: quote or escape it, or send \"argv\""


struct splitter {
	const char *cmd;
	size_t len;
	char **v; /* owned, NULL-terminated once n > 0 */
	size_t n, cap;
	char *word; /* owned, len + 1 bytes: no word is longer than cmd */
	size_t wlen;
	bool in_word;	/* a word has started (even an empty quoted one) */
	bool all_plain; /* every char of the word so far was unquoted, unescaped */
	bool after_eq;	/* the last char appended was an unquoted '=' */
	al_err *err;
};

static void put(struct splitter *s, char c, bool plain)
{
	s->word[s->wlen++] = c;
	s->in_word = true;
	s->after_eq = plain && c == '=';
	if (!plain)
		s->all_plain = false;
}

static int finish_word(struct splitter *s)
{
	if (!s->in_word)
		return 0;
	if (s->n + 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		char **nv = reallocarray(s->v, ncap, sizeof(*nv));
		if (nv == NULL)
			return al_err_setx(s->err, ENOMEM, "split command: out of memory");
		s->v = nv;
		s->cap = ncap;
	}
	char *w = strndup(s->word, s->wlen);
	if (w == NULL)
		return al_err_setx(s->err, ENOMEM, "split command: out of memory");
	s->v[s->n++] = w;
	s->v[s->n] = NULL;
	s->wlen = 0;
	s->in_word = false;
	s->all_plain = true;
	s->after_eq = false;
	return 0;
}

static int syntax(struct splitter *s, const char *what, const char *tok, size_t off,
		  const char *where)
{
	al_err_setx(s->err, EINVAL, "%s '%s' at byte %zu%s: %s", what, tok, off, where, SHELL_HINT);
	return AL_WORDS_SHELL_SYNTAX;
}

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* '$' at cmd[i] (outside single quotes): name the expansion for the message. */
static int dollar(struct splitter *s, size_t i, const char *where)
{
	const char *c = s->cmd;
	char tok[40];
	const char *what = "expansion";

	if (i + 2 < s->len && c[i + 1] == '(' && c[i + 2] == '(') {
		what = "arithmetic expansion";
		snprintf(tok, sizeof(tok), "$((");
	} else if (i + 1 < s->len && c[i + 1] == '(') {
		what = "command substitution";
		snprintf(tok, sizeof(tok), "$(");
	} else if (i + 1 < s->len && c[i + 1] == '{') {
		what = "parameter expansion";
		snprintf(tok, sizeof(tok), "${");
	} else if (i + 1 < s->len && is_name_start(c[i + 1])) {
		size_t n = 1;
		while (i + 1 + n < s->len && is_name_char(c[i + 1 + n]) && n < 32)
			n++;
		what = "variable expansion";
		snprintf(tok, sizeof(tok), "$%.*s", (int)n, c + i + 1);
	} else if (i + 1 < s->len && strchr("0123456789?#@*!$-", c[i + 1]) != NULL &&
		   c[i + 1] != '\0') {
		what = "special parameter expansion";
		snprintf(tok, sizeof(tok), "$%c", c[i + 1]);
	} else {
		snprintf(tok, sizeof(tok), "$");
	}
	return syntax(s, what, tok, i, where);
}

/* A shell control or redirection operator starting at cmd[i]. */
static int operator(struct splitter *s, size_t i)
{
	static const char *const two[] = {"&&", "||", ";;", ">>", "<<", ">&",
					  "<&", "<>", ">|", "&>", "|&", NULL};
	char tok[3] = {s->cmd[i], '\0', '\0'};

	if (i + 1 < s->len) {
		for (size_t k = 0; two[k]; k++) {
			if (two[k][0] == s->cmd[i] && two[k][1] == s->cmd[i + 1]) {
				tok[1] = s->cmd[i + 1];
				break;
			}
		}
	}
	return syntax(s, "shell operator", tok, i, " outside quotes");
}

/* '...' starting at cmd[i]; returns the index after the closing quote. */
static int single_quoted(struct splitter *s, size_t i, size_t *next)
{
	const char *end = memchr(s->cmd + i + 1, '\'', s->len - i - 1);

	if (end == NULL)
		return al_err_setx(s->err, EINVAL, "unterminated single quote opened at byte %zu", i);
	s->in_word = true;
	s->all_plain = false;
	s->after_eq = false;
	for (const char *p = s->cmd + i + 1; p < end; p++)
		put(s, *p, false);
	*next = (size_t)(end - s->cmd) + 1;
	return 0;
}

/* "..." starting at cmd[i]; returns the index after the closing quote. */
static int double_quoted(struct splitter *s, size_t i, size_t *next)
{
	const char *c = s->cmd;
	size_t j = i + 1;

	s->in_word = true;
	s->all_plain = false;
	s->after_eq = false;
	for (;;) {
		if (j >= s->len)
			return al_err_setx(s->err, EINVAL, "unterminated double quote opened at byte %zu",
				    i);
		char d = c[j];
		if (d == '"')
			break;
		if (d == '\\' && j + 1 < s->len) {
			char e = c[j + 1];
			if (e == '\n') {
				j += 2;
				continue;
			}
			if (e == '$' || e == '`' || e == '"' || e == '\\') {
				put(s, e, false);
				j += 2;
				continue;
			}
			put(s, '\\', false);
			j++;
			continue;
		}
		if (d == '$')
			return dollar(s, j, " inside double quotes (use single quotes)");
		if (d == '`')
			return syntax(s, "command substitution", "`", j,
				      " inside double quotes (use single quotes)");
		put(s, d, false);
		j++;
	}
	*next = j + 1;
	return 0;
}

static int split(struct splitter *s)
{
	const char *c = s->cmd;
	size_t i = 0;
	int r;

	while (i < s->len) {
		char ch = c[i];
		switch (ch) {
		case ' ':
		case '\t':
			if (finish_word(s) < 0)
				return -1;
			i++;
			continue;
		case '\\':
			if (i + 1 >= s->len) {
				put(s, '\\', false); /* sh keeps a trailing backslash */
				i++;
			} else if (c[i + 1] == '\n') {
				i += 2; /* line continuation */
			} else {
				put(s, c[i + 1], false);
				i += 2;
			}
			continue;
		case '\'':
			r = single_quoted(s, i, &i);
			if (r < 0)
				return r;
			continue;
		case '"':
			r = double_quoted(s, i, &i);
			if (r < 0)
				return r;
			continue;
		case '\n':
			al_err_setx(s->err, EINVAL, "newline at byte %zu outside quotes: %s", i,
			     SHELL_HINT);
			return AL_WORDS_SHELL_SYNTAX;
		case ';':
		case '|':
		case '&':
		case '<':
		case '>':
		case '(':
		case ')':
			return operator(s, i);
		case '$':
			return dollar(s, i, " outside quotes");
		case '`':
			return syntax(s, "command substitution", "`", i, " outside quotes");
		case '*':
		case '?':
		case '[': {
			char tok[2] = {ch, '\0'};
			return syntax(s, "glob character", tok, i, " outside quotes");
		}
		case '#':
			if (!s->in_word)
				return syntax(s, "comment", "#", i, " at the start of a word");
			break;
		case '~':
			if (!s->in_word || s->after_eq)
				return syntax(s, "tilde expansion", "~", i, " outside quotes");
			break;
		case '=':
			if (s->n == 0 && s->all_plain && s->wlen > 0 && is_name_start(s->word[0])) {
				bool name = true;
				for (size_t k = 1; k < s->wlen; k++)
					name = name && is_name_char(s->word[k]);
				if (name) {
					char tok[40];
					snprintf(tok, sizeof(tok),
						 "%.*s=", (int)(s->wlen > 32 ? 32 : s->wlen),
						 s->word);
					return syntax(s, "variable assignment", tok, i - s->wlen,
						      " in the first word");
				}
			}
			break;
		default:
			break;
		}
		put(s, ch, true);
		i++;
	}
	return finish_word(s);
}

int al_split_words(const char *cmd, size_t len, char ***argv_out, size_t *argc_out, al_err *err)
{
	*argv_out = NULL;
	*argc_out = 0;
	if (cmd == NULL || len == 0)
		return al_err_setx(err, EINVAL, "empty command");
	const char *nul = memchr(cmd, '\0', len);
	if (nul != NULL)
		return al_err_setx(err, EINVAL, "command contains a NUL byte at byte %zu",
			    (size_t)(nul - cmd));
	if (len >= SIZE_MAX / 2)
		return al_err_setx(err, E2BIG, "command too long");

	cleanup_free char *word = malloc(len + 1);
	if (word == NULL)
		return al_err_setx(err, ENOMEM, "split command: out of memory");
	struct splitter s = {.cmd = cmd, .len = len, .word = word, .all_plain = true, .err = err};
	int r = split(&s);
	if (r < 0) {
		al_strv_free(s.v);
		return r;
	}
	if (s.n == 0) {
		free(s.v);
		return al_err_setx(err, EINVAL, "empty command");
	}
	*argv_out = s.v;
	*argc_out = s.n;
	return 0;
}
