/*
 * cmd_failpoints.c - `kiln failpoints`: list the named crash points of
 * base/failpoint.c (KILN_FAILPOINT=NAME[:N] kills the process there; the
 * fault tests, docs/faults.md).
 */
#include "cli.h"

#include <stdio.h>

static const kiln_opt failpoints_opts[] = {{"--names", 0, 0, NULL, "print only the names, one a line"}, KILN_OPT_END};

static const kiln_cmdspec failpoints_spec = {
    .name = "failpoints",
    .text = "List the failpoints: the commit points of a backfill where\n"
            "KILN_FAILPOINT=NAME[:N] makes the N-th pass kill the process (SIGKILL),\n"
            "for fault tests (docs/faults.md); then the test hooks that take a value\n"
            "(KILN_FAILPOINT=NAME=VALUE), such as the crash points of a multi-table\n"
            "commit (a branch backfill's publish).",
    .opts = failpoints_opts,
};

static int run_failpoints(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &failpoints_spec, argc, argv))
        return a.exit;
    size_t n = 0;
    const kiln_failpoint_info *fp = kiln_failpoint_list(&n);
    int names = kiln_opt_has(&a, "--names") > 0;
    for (size_t i = 0; i < n; i++) {
        if (names)
            printf("%s\n", fp[i].name);
        else
            printf("%-28s %s\n", fp[i].name, fp[i].what);
    }
    if (!names) { /* then the hooks with a value (a crash, a wait, a failed try) */
        fp = kiln_failpoint_hooks(&n);
        for (size_t i = 0; i < n; i++)
            printf("%s\n%-28s %s\n", fp[i].name, "", fp[i].what);
    }
    return KILN_EXIT_OK;
}

KILN_COMMAND(cmd_failpoints, "failpoints", "list the named crash points used by the fault tests", NULL, run_failpoints,
             96, NULL, 0, &failpoints_spec)
