/* Interleaved wall-clock benchmark of whole commands.
 *
 *   al-timeit [-n RUNS] [-w WARMUP] SPECFILE
 *
 * SPECFILE has one command per line: "label|arg0|arg1|...".  Each round runs
 * every command once, in order (so all commands see the same machine state),
 * with stdout/stderr to /dev/null; prints median, p10, p90 in ms.  A
 * command that exits non-zero is reported and makes the tool exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	char label[128];
	char *argv[64];
	double *t;
	int failures;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double run_once(struct cmd *c, int *status)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	double t0 = now_ms();
	if (posix_spawn(&pid, c->argv[0], &fa, NULL, c->argv, environ) != 0) {
		*status = -1;
		return 0;
	}
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	double t = now_ms() - t0;
	posix_spawn_file_actions_destroy(&fa);
	return t;
}

int main(int argc, char **argv)
{
	int runs = 100, warm = 5, opt;
	struct cmd cmds[32];
	int n = 0, bad = 0;
	char line[4096];

	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		if (opt == 'n')
			runs = atoi(optarg);
		else if (opt == 'w')
			warm = atoi(optarg);
		else
			return 2;
	}
	if (optind >= argc || runs < 1) {
		fprintf(stderr, "usage: al-timeit [-n RUNS] [-w WARMUP] SPECFILE\n");
		return 2;
	}
	FILE *f = fopen(argv[optind], "r");
	if (!f) {
		perror(argv[optind]);
		return 2;
	}
	while (n < 32 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *save = NULL, *tok = strtok_r(line, "|", &save);
		snprintf(cmds[n].label, sizeof(cmds[n].label), "%s", tok);
		int k = 0;
		while ((tok = strtok_r(NULL, "|", &save)) && k < 63)
			cmds[n].argv[k++] = strdup(tok);
		cmds[n].argv[k] = NULL;
		cmds[n].t = calloc((size_t)runs, sizeof(double));
		cmds[n].failures = 0;
		n++;
	}
	fclose(f);
	for (int r = -warm; r < runs; r++) {
		for (int i = 0; i < n; i++) {
			int st = 0;
			double t = run_once(&cmds[i], &st);
			if (st != 0)
				cmds[i].failures++;
			if (r >= 0)
				cmds[i].t[r] = t;
		}
	}
	for (int i = 0; i < n; i++) {
		qsort(cmds[i].t, (size_t)runs, sizeof(double), cmpd);
		printf("%-40s median %8.3f ms  p10 %8.3f  p90 %8.3f  (n=%d%s)\n", cmds[i].label,
		       cmds[i].t[runs / 2], cmds[i].t[runs / 10], cmds[i].t[runs * 9 / 10], runs,
		       cmds[i].failures ? ", FAILURES" : "");
		if (cmds[i].failures)
			bad = 1;
	}
	return bad;
}
