/*
 * shell_run.c - the `kiln sql` shell: reads SQL and dot-commands from a
 * terminal (prompts, libedit line editing and history, Ctrl-C), from a
 * pipe, a -f FILE or -c text, and runs them with kiln_sql_exec_ex. A failed
 * statement is reported and the next one runs (unless bail is set); the
 * caller turns the first failure into the exit code. On a terminal, rows
 * are fitted to its width and a result longer than the screen goes through
 * $PAGER (default "less -FRX"), started with posix_spawnp: no shell.
 */
#include <editline/readline.h>
#include "sql_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define STMT_CAP ((size_t)64 << 20)

struct kiln_sql_shell {
    sqlite3 *db;
    FILE *out, *errf;
    kiln_sql_shell_opts o;
    kiln_sql_print po;
    int quit;
    int first_rc;
    long failures;
    /* the input being read, for error lines */
    const char *name;
    int show_line;
    long chunk_line; /* input line where the running text starts */
    const char *chunk;
    int depth; /* .read nesting */
};

/* ------------------------------------------------------------ terminal */

/* Terminal size of f: the ioctl, else $COLUMNS / $LINES; 0 when unknown. */
static void term_size(FILE *f, size_t *cols, size_t *rows)
{
    struct winsize ws = {0};
    *cols = *rows = 0;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
    const char *c = getenv("COLUMNS"), *l = getenv("LINES");
    if (!*cols && c)
        *cols = (size_t)strtoul(c, NULL, 10);
    if (!*rows && l)
        *rows = (size_t)strtoul(l, NULL, 10);
}

/* Write buf through $PAGER (words split on blanks, run with posix_spawnp;
 * default "less -FRX"; an empty $PAGER means none). Falls back to out. */
static void page(const char *buf, size_t n, FILE *out)
{
    const char *pg = getenv("PAGER");
    char words[512];
    char *argv[17];
    int argc = 0;
    snprintf(words, sizeof words, "%s", pg ? pg : "less -FRX");
    for (char *save = NULL, *w = strtok_r(words, " \t", &save); w && argc < 16; w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    fflush(out);
    if (argc && pipe(fds) == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
        if (fileno(out) != 1)
            posix_spawn_file_actions_adddup2(&fa, fileno(out), 1);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
            pid = -1;
        posix_spawn_file_actions_destroy(&fa);
        close(fds[0]);
    }
    if (pid < 0) {
        if (fds[1] >= 0)
            close(fds[1]);
        fwrite(buf, 1, n, out);
        return;
    }
    /* the reader may quit early (q in less): no SIGPIPE */
    struct sigaction ign = {0}, old;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fds[1], buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fds[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGPIPE, &old, NULL);
}

/* ------------------------------------------------------------ running */

static void on_error(void *ctx, const kiln_err *err, const kiln_sql_errpos *pos)
{
    kiln_sql_shell *sh = ctx;
    char msg[700];
    sh->failures++;
    if (!sh->first_rc)
        sh->first_rc = err->code ? err->code : KILN_EFORMAT;
    if (sh->show_line) {
        long line = sh->chunk_line;
        const char *upto = pos->stmt + (pos->offset > 0 ? pos->offset : 0);
        for (const char *p = sh->chunk; p < upto; p++)
            line += *p == '\n';
        if (sh->name)
            snprintf(msg, sizeof msg, "%s:%ld: %s", sh->name, line, err->msg);
        else
            snprintf(msg, sizeof msg, "line %ld: %s", line, err->msg);
    } else {
        snprintf(msg, sizeof msg, "%s", err->msg);
    }
    fflush(sh->out);
    kiln_sql_error_print(sh->errf, "kiln sql", msg, pos);
}

/* Run one complete piece of SQL text (one or more statements). With the
 * pager on, the output is held and paged when longer than the screen. */
static void run_text(kiln_sql_shell *sh, const char *text, size_t n, long first_line)
{
    kiln_err err = {0};
    size_t cols = 0, rows = 0;
    if (sh->o.fit || sh->o.pager)
        term_size(sh->out, &cols, &rows);
    sh->po.max_width = sh->o.fit ? cols : 0;
    sh->chunk = text;
    sh->chunk_line = first_line;
    char *held = NULL;
    size_t heldn = 0;
    FILE *mem = sh->o.pager && rows > 1 ? open_memstream(&held, &heldn) : NULL;
    long before = sh->failures;
    kiln_sql_print po = sh->po;
    if (sh->o.bail && !sh->o.interactive)
        po.on_error = NULL;
    kiln_sql_errpos pos = {0};
    pos.offset = -1;
    int rc = kiln_sql_exec_ex(sh->db, text, n, &po, mem ? mem : sh->out, &pos, &err);
    if (rc && sh->failures == before)
        on_error(sh, &err, &pos); /* bail: reported here */
    if (mem) {
        fclose(mem);
        size_t lines = 0;
        for (size_t i = 0; i < heldn; i++)
            lines += held[i] == '\n';
        if (lines >= rows - 1)
            page(held, heldn, sh->out);
        else
            fwrite(held, 1, heldn, sh->out);
        free(held);
    }
    fflush(sh->out);
}

static void shell_help(FILE *out)
{
    fputs("Statements end with ';'. Commands:\n"
          "  .help                 this text\n"
          "  .mode table|box|csv|json|pipe   output format\n"
          "  .headers on|off       column names first (table, box, csv, pipe)\n"
          "  .timer on|off         time each statement (Run Time: real, user, sys seconds)\n"
          "  .tables               list tables and views (Iceberg tables as ns.table)\n"
          "  .schema [NAME]        CREATE statements; Iceberg tables with their columns and types\n"
          "  .read FILE            run the statements and commands in FILE\n"
          "  .quit, .exit          leave (or end of input, Ctrl-D)\n"
          "Also DESCRIBE table and SHOW TABLES. Functions kiln adds: see docs/sql.md.\n",
          out);
}

static int on_off(const char *arg, int *flag)
{
    if (arg && (!strcmp(arg, "on") || !strcmp(arg, "1") || !strcmp(arg, "yes")))
        *flag = 1;
    else if (arg && (!strcmp(arg, "off") || !strcmp(arg, "0") || !strcmp(arg, "no")))
        *flag = 0;
    else
        return -1;
    return 0;
}

static void dot_failed(kiln_sql_shell *sh, const char *fmt, const char *a, const char *b)
{
    sh->failures++;
    if (!sh->first_rc)
        sh->first_rc = KILN_EINVAL;
    fprintf(sh->errf, "kiln sql: error: ");
    fprintf(sh->errf, fmt, a, b);
    fputc('\n', sh->errf);
}

/* A dot-command line. */
static void shell_dot(kiln_sql_shell *sh, char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r\n", &save);
    char *arg = strtok_r(NULL, " \t\r\n", &save);
    kiln_err err = {0};
    if (!cmd)
        return;
    if (!strcmp(cmd, ".quit") || !strcmp(cmd, ".exit")) {
        sh->quit = 1;
    } else if (!strcmp(cmd, ".help")) {
        shell_help(sh->out);
    } else if (!strcmp(cmd, ".mode")) {
        if (!arg || kiln_sql_format_parse(arg, &sh->po.fmt) != 0)
            dot_failed(sh, "%s: use table, box, csv, json or pipe%s", ".mode", "");
    } else if (!strcmp(cmd, ".headers") || !strcmp(cmd, ".header")) {
        if (on_off(arg, &sh->po.headers))
            dot_failed(sh, "%s: use on or off%s", cmd, "");
    } else if (!strcmp(cmd, ".timer")) {
        if (on_off(arg, &sh->po.timer))
            dot_failed(sh, "%s: use on or off%s", cmd, "");
    } else if (!strcmp(cmd, ".tables")) {
        sqlite3_stmt *st = NULL;
        /* attached schemas too: Iceberg namespaces list as ns.table */
        const char *q = "SELECT CASE WHEN schema = 'main' THEN name ELSE schema || '.' || name END "
                        "FROM pragma_table_list WHERE type IN ('table','view','virtual') "
                        "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%@%' "
                        "ORDER BY schema <> 'main', schema = 'temp', 1";
        if (sqlite3_prepare_v2(sh->db, q, -1, &st, NULL) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW)
                fprintf(sh->out, "%s\n", (const char *)sqlite3_column_text(st, 0));
        } else {
            dot_failed(sh, "%s: %s", cmd, sqlite3_errmsg(sh->db));
        }
        sqlite3_finalize(st);
    } else if (!strcmp(cmd, ".schema")) {
        if (kiln_sql_schema_print(sh->db, arg, sh->out, &err) != 0)
            dot_failed(sh, "%s: %s", cmd, err.msg);
    } else if (!strcmp(cmd, ".read")) {
        FILE *f = arg ? fopen(arg, "r") : NULL;
        if (!f) {
            dot_failed(sh, ".read %s: %s", arg ? arg : "", arg ? strerror(errno) : "a FILE is needed");
        } else if (sh->depth >= 16) {
            dot_failed(sh, ".read %s: %s", arg, "nested too deeply");
            fclose(f);
        } else {
            const char *nm = sh->name;
            int sl = sh->show_line;
            sh->depth++;
            kiln_sql_shell_feed(sh, f, arg);
            sh->depth--;
            sh->name = nm;
            sh->show_line = sl;
            fclose(f);
        }
    } else {
        dot_failed(sh, "unknown command %s (try .help)%s", cmd, "");
    }
    fflush(sh->out);
}

static void history_add(const char *path, const char *stmt, size_t n)
{
    if (!path)
        return;
    while (n > 0 && isspace((unsigned char)stmt[n - 1]))
        n--;
    FILE *h = fopen(path, "a");
    if (!h)
        return;
    for (size_t i = 0; i < n; i++)
        fputc(stmt[i] == '\n' || stmt[i] == '\r' ? ' ' : stmt[i], h);
    fputc('\n', h);
    fclose(h);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Ctrl-C in the interactive shell interrupts the running statement (or
 * drops the statement being typed) instead of ending kiln. */
static sqlite3 *volatile sigint_db;
static volatile sig_atomic_t got_sigint;
static void on_sigint(int sig)
{
    got_sigint = 1;
    if (sigint_db)
        sqlite3_interrupt(sigint_db);
}

/* One line from libedit into *line (with its '\n'); -1 at the end. */
static ssize_t edit_line(const char *prompt, char **line, size_t *cap)
{
    char *el = readline(prompt);
    if (!el)
        return -1;
    size_t n = strlen(el);
    if (n + 2 > *cap) {
        char *nl = realloc(*line, n + 2);
        if (!nl) {
            free(el);
            return -1;
        }
        *line = nl;
        *cap = n + 2;
    }
    memcpy(*line, el, n);
    (*line)[n] = '\n';
    (*line)[n + 1] = '\0';
    free(el);
    return (ssize_t)n + 1;
}

static void edit_begin(const char *history_path)
{
    rl_readline_name = "kiln";
    using_history();
    FILE *h = history_path ? fopen(history_path, "r") : NULL;
    if (!h)
        return;
    char *hl = NULL;
    size_t hcap = 0;
    ssize_t hn;
    while ((hn = getline(&hl, &hcap, h)) > 0) {
        if (hl[hn - 1] == '\n')
            hl[hn - 1] = '\0';
        if (hl[0])
            add_history(hl);
    }
    free(hl);
    fclose(h);
}

/* A statement for libedit's recall: one line. */
static void edit_remember(const kiln_buf *stmt)
{
    char *flat = kiln_strndup(stmt->data, stmt->len);
    if (!flat)
        return;
    size_t n = stmt->len;
    while (n > 0 && isspace((unsigned char)flat[n - 1]))
        flat[--n] = '\0';
    for (size_t k = 0; k < n; k++)
        if (flat[k] == '\n' || flat[k] == '\r')
            flat[k] = ' ';
    add_history(flat);
    kiln_free(flat);
}

static int feed(kiln_sql_shell *sh, FILE *in, const char *name, int show_line)
{
    kiln_buf stmt;
    kiln_buf_init(&stmt, STMT_CAP);
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 0, first_line = 1;
    kiln_err err = {0};
    int interactive = sh->o.interactive && sh->depth == 0;
    int edit = interactive && in == stdin && isatty(fileno(stdin)) && sh->out == stdout;
    sh->name = name;
    sh->show_line = show_line;
    if (edit)
        edit_begin(sh->o.history_path);
    while (!sh->quit && !(sh->o.bail && !sh->o.interactive && sh->failures)) {
        const char *prompt = blank(stmt.data ? stmt.data : "", stmt.len) ? "kiln> " : "  ...> ";
        if (interactive && !edit) {
            fputs(prompt, sh->out);
            fflush(sh->out);
        }
        errno = 0;
        ssize_t got = edit ? edit_line(prompt, &line, &linecap) : getline(&line, &linecap, in);
        if (got < 0 && interactive && (got_sigint || errno == EINTR)) {
            clearerr(in);
            got_sigint = 0;
            kiln_buf_reset(&stmt);
            fputc('\n', sh->out);
            continue;
        }
        if (got < 0)
            break;
        lineno++;
        if (blank(stmt.data ? stmt.data : "", stmt.len)) {
            kiln_buf_reset(&stmt);
            first_line = lineno;
            const char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '.') {
                if (interactive)
                    history_add(sh->o.history_path, line, (size_t)got);
                if (edit)
                    add_history(line);
                shell_dot(sh, line);
                continue;
            }
        }
        if (kiln_buf_append(&stmt, line, (size_t)got, &err)) {
            fprintf(sh->errf, "kiln sql: error: line %ld: statement longer than %zu MiB\n", lineno, STMT_CAP >> 20);
            sh->failures++;
            sh->first_rc = sh->first_rc ? sh->first_rc : KILN_ELIMIT;
            break;
        }
        if (!sqlite3_complete(stmt.data))
            continue;
        if (interactive)
            history_add(sh->o.history_path, stmt.data, stmt.len);
        if (edit)
            edit_remember(&stmt);
        run_text(sh, stmt.data, stmt.len, first_line);
        got_sigint = 0;
        kiln_buf_reset(&stmt);
    }
    /* input ended inside a statement: run what there is (SQLite reports
     * an incomplete statement as a syntax error) */
    if (!sh->quit && !(sh->o.bail && !sh->o.interactive && sh->failures) && stmt.len && !blank(stmt.data, stmt.len))
        run_text(sh, stmt.data, stmt.len, first_line);
    free(line);
    kiln_buf_free(&stmt);
    return sh->first_rc;
}

int kiln_sql_shell_feed(kiln_sql_shell *sh, FILE *in, const char *name)
{
    return feed(sh, in, name, !(sh->o.interactive && sh->depth == 0));
}

int kiln_sql_shell_text(kiln_sql_shell *sh, const char *text)
{
    if (!*text)
        return sh->first_rc;
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    if (!in) {
        sh->failures++;
        return sh->first_rc = KILN_ENOMEM;
    }
    const char *nl = strchr(text, '\n');
    int ml = nl && nl[1] != '\0'; /* line numbers only for text of several lines */
    int interactive = sh->o.interactive;
    sh->o.interactive = 0;
    sh->depth++; /* no prompts, no history */
    feed(sh, in, NULL, ml);
    sh->depth--;
    sh->o.interactive = interactive;
    fclose(in);
    return sh->first_rc;
}

int kiln_sql_shell_new(kiln_sql_shell **out, sqlite3 *db, FILE *o, FILE *errf, const kiln_sql_shell_opts *opts,
                       kiln_err *err)
{
    kiln_sql_shell *sh = kiln_calloc(1, sizeof *sh);
    if (!sh)
        return KILN_OOM(err);
    sh->db = db;
    sh->out = o;
    sh->errf = errf;
    sh->o = *opts;
    sh->po.fmt = opts->fmt;
    sh->po.explain = opts->explain;
    sh->po.headers = 1;
    sh->po.on_error = on_error;
    sh->po.ctx = sh;
    *out = sh;
    return 0;
}

long kiln_sql_shell_failures(const kiln_sql_shell *sh) { return sh->failures; }
int kiln_sql_shell_first_error(const kiln_sql_shell *sh) { return sh->first_rc; }
int kiln_sql_shell_quitted(const kiln_sql_shell *sh) { return sh->quit; }
void kiln_sql_shell_free(kiln_sql_shell *sh) { kiln_free(sh); }

int kiln_sql_shell_interact(kiln_sql_shell *sh, FILE *in)
{
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C ends a pending read */
    sigemptyset(&sa.sa_mask);
    sigint_db = sh->db;
    got_sigint = 0;
    sigaction(SIGINT, &sa, &old_sa);
    fprintf(sh->out, "kiln %s SQL shell (SQLite %s). Statements end with ';'. .help for help.\n", KILN_VERSION,
            sqlite3_libversion());
    kiln_sql_shell_feed(sh, in, NULL);
    fputc('\n', sh->out);
    sigaction(SIGINT, &old_sa, NULL);
    sigint_db = NULL;
    return 0;
}

int kiln_sql_shell_run(sqlite3 *db, FILE *in, FILE *out, FILE *errf, kiln_sql_format fmt, int explain, int interactive,
                       const char *history_path)
{
    kiln_sql_shell *sh = NULL;
    kiln_err err = {0};
    kiln_sql_shell_opts o = {
        .fmt = fmt, .explain = explain, .interactive = interactive, .bail = !interactive, .history_path = history_path};
    if (kiln_sql_shell_new(&sh, db, out, errf, &o, &err))
        return err.code;
    int rc = interactive ? kiln_sql_shell_interact(sh, in) : kiln_sql_shell_feed(sh, in, NULL);
    kiln_sql_shell_free(sh);
    return rc;
}
