/*
 * cmd_serve.c - `kiln serve`: parse the flags, read the secret files, and
 * run the server (serve/serve.h) until SIGTERM or SIGINT.
 */
#include "cli.h"
#include "serve/serve.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const kiln_opt serve_opts[] = {
    {"--listen", 'l', KILN_OPT_VALUE, "ADDR",
     "address to bind (default 127.0.0.1:8080; port 0 picks a free\nport, printed at start)"},
    {"--token-file", 0, KILN_OPT_VALUE, "F",
     "file holding the bearer token required for every non-GET\nrequest (and every request off loopback)"},
    {"--webhook-secret-file", 0, KILN_OPT_VALUE, "F",
     "file holding the GitHub webhook secret (else $KILN_WEBHOOK_SECRET);\nwithout one /hooks/github answers 503"},
    {"--raw", 0, KILN_OPT_VALUE, "DIR", "raw zone root; webhooks land in DIR/webhooks/date=D/ (default ./raw)"},
    {"--ingest-every", 0, KILN_OPT_VALUE, "S",
     "every S seconds load the days with new webhook deliveries into\ngithub.pushes/github.commits (the gh-events job; "
     "needs --warehouse\nand a webhook secret; default off)"},
    {"--project-dir", 0, KILN_OPT_VALUE, "DIR",
     "orchestrator project (dags/, kiln.yml, .kiln/) whose DAGs, runs,\nlogs and lineage the UI and /api/v1 show "
     "(default . when ./dags\nexists)"},
    {"--models-dir", 0, KILN_OPT_VALUE, "DIR",
     "models project whose artifacts (target/manifest.json,\nrun_results.json) the models pages show (default . "
     "when\n./dbt_project.yml exists)"},
    {"--scheduler", 0, 0, NULL,
     "also run the scheduler (kiln scheduler), in a process of its\nown started with the server; the first SIGTERM "
     "drains it, then\nthe server stops"},
    {"--threads", 0, KILN_OPT_VALUE, "N", "HTTP worker threads (default 4)"},
    {"--max-body-mb", 0, KILN_OPT_VALUE, "N", "request body limit in MiB (default 16)"},
    {"--timeout", 0, KILN_OPT_VALUE, "S", "idle connection timeout in seconds (default 30)"},
    KILN_OPT_END};

static const kiln_cmdspec serve_spec = {
    .name = "serve",
    .text = "Serve the Iceberg REST catalog over the warehouse (--warehouse), Prometheus\n"
            "metrics at /metrics, the GitHub webhook receiver at /hooks/github, and the\n"
            "web UI and /api/v1 (tables; DAGs, runs, logs and lineage of --project-dir).\n"
            "Binds 127.0.0.1 unless --listen says otherwise; SIGTERM stops it cleanly.",
    .opts = serve_opts,
    .footer = "exit codes: 0 stopped by a signal, 1 could not listen, 2 usage, 3 config\n",
};

/* A secret from a file: first line, trailing whitespace cut. Caller frees. */
static int read_secret(const char *path, char **out, kiln_err *err)
{
    size_t len = 0;
    int rc = kiln_file_read(path, 4096, out, &len, err);
    if (rc)
        return rc;
    char *s = *out;
    s[strcspn(s, "\r\n")] = 0;
    len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = 0;
    if (!len) {
        kiln_free(s);
        *out = NULL;
        return kiln_err_set(err, KILN_ECONFIG, "%s: empty secret", path);
    }
    return 0;
}

static int run_serve(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &serve_spec, argc, argv))
        return a.exit;
    kiln_serve_opts o = {0};
    kiln_err err = {0};
    char *token = NULL, *secret = NULL;
    long long x;
    int rc, ex = KILN_EXIT_OK;
    o.listen = kiln_opt_get(&a, "--listen");
    o.warehouse = kiln_cli_warehouse();
    struct stat st;
    if (!o.warehouse && stat("warehouse", &st) == 0 && S_ISDIR(st.st_mode))
        o.warehouse = "warehouse"; /* the global default, as `kiln sql` uses it */
    o.raw_dir = kiln_opt_get(&a, "--raw");
    o.project_dir = kiln_opt_get(&a, "--project-dir");
    if (!o.project_dir && stat("dags", &st) == 0 && S_ISDIR(st.st_mode))
        o.project_dir = ".";
    o.scheduler = kiln_opt_has(&a, "--scheduler");
    o.models_dir = kiln_opt_get(&a, "--models-dir");
    if (!o.models_dir && stat("dbt_project.yml", &st) == 0)
        o.models_dir = ".";
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl > 0) {
        self[sl] = 0;
        o.self_exe = self;
    }
    x = 4;
    if ((rc = kiln_opt_int(&a, "--threads", 1, 256, &x)))
        return rc;
    o.threads = (int)x;
    x = 16;
    if ((rc = kiln_opt_int(&a, "--max-body-mb", 1, 1024, &x)))
        return rc;
    o.max_body = (size_t)x << 20;
    x = 30;
    if ((rc = kiln_opt_int(&a, "--timeout", 1, 3600, &x)))
        return rc;
    o.timeout_s = (int)x;
    x = 0;
    if ((rc = kiln_opt_int(&a, "--ingest-every", 1, 86400, &x)))
        return rc;
    o.ingest_every_s = (int)x;
    const char *v;
    if ((v = kiln_opt_get(&a, "--token-file")) && (rc = read_secret(v, &token, &err)))
        goto fail;
    if ((v = kiln_opt_get(&a, "--webhook-secret-file"))) {
        if ((rc = read_secret(v, &secret, &err)))
            goto fail;
    } else if ((v = getenv("KILN_WEBHOOK_SECRET")) && *v && !(secret = kiln_strdup(v))) {
        rc = KILN_OOM(&err);
        goto fail;
    }
    o.token = token;
    o.webhook_secret = secret;
    if ((rc = kiln_serve_run(&o, &err)))
        goto fail;
    goto done;
fail:
    ex = kiln_cli_fail(&err);
done:
    kiln_free(token);
    if (secret) {
        memset(secret, 0, strlen(secret));
        kiln_free(secret);
    }
    return ex;
}

KILN_COMMAND(cmd_serve, "serve", "HTTP server: Iceberg REST catalog, /metrics, GitHub webhooks", NULL, run_serve, 70,
             NULL, 0, &serve_spec)
