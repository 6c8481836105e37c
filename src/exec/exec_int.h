/*
 * exec_int.h - internals of src/exec (not the module's API, exec.h): the
 * parsed query (exec_parse.c) that the executor (exec_run.c) runs.
 */
#ifndef KILN_EXEC_INT_H
#define KILN_EXEC_INT_H

#include "exec.h"
#include "format/batch.h"

/* A value as SQLite sees it. TS (micros) and DATE (days) are text to SQL
 * (their kiln_sql_ts_text / kiln_sql_date_text form), kept as integers
 * until printed or compared with text. */
enum { V_NULL = 0, V_INT, V_REAL, V_TEXT, V_TS, V_DATE };

typedef struct xcell {
    int t;
    int64_t i;
    double d;
    const char *p;
    uint32_t n;
} xcell;

typedef enum {
    N_COL = 1,
    N_LIT,
    N_CMP,
    N_AND,
    N_OR,
    N_NOT,
    N_ISNULL,  /* neg: IS NOT NULL */
    N_IN,      /* a IN (list); neg: NOT IN */
    N_BETWEEN, /* a BETWEEN b AND c; neg: NOT BETWEEN */
    N_AGG,
    N_TRUNC,    /* date_trunc(unit, col) */
    N_ISOWEEK,  /* iso_week(col) */
    N_ARITH,    /* a op b, op one of + - * / % (SQLite's integer / real rules) */
    N_CASE,     /* CASE [a] WHEN list[2k] THEN list[2k+1] ... [ELSE c] END */
    N_CAST,     /* CAST(a AS fn), fn a V_ type (V_INT, V_REAL, V_TEXT) */
    N_LIKE,     /* a LIKE 'prefix%' (lit: the prefix; unit 1: a trailing %); neg: NOT LIKE */
    N_COALESCE, /* coalesce(list...) / ifnull(a, b) */
    N_CONCAT,   /* a || b */
    N_SUBSTR,   /* substr(a, lit.i [, c: length]) */
    N_KEYREF,   /* the value of group key col (a: the key expression), after GROUP BY */
    N_STRFN,    /* fn 1 lower(a), 2 upper(a), 3 length(a) */
    N_ROWID     /* a plain scan's first key: the row's place in the scan (task << 32 | row in the task) */
} xnode_kind;

enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { A_COUNT_STAR = 1, A_COUNT, A_SUM, A_AVG, A_MIN, A_MAX };
/* arithmetic operators (N_ARITH op) */
enum { AR_ADD = 1, AR_SUB, AR_MUL, AR_DIV, AR_REM };
/* static SQLite classes of an expression (a bit set; 0: always NULL) */
enum { C_NUM = 1, C_TEXT = 2 };
/* date_trunc units, as functions.c orders them */
enum { U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR };

typedef struct xnode {
    xnode_kind k;
    int op, neg, fn, distinct, unit;
    int col; /* table column index (N_COL, and the argument of N_AGG/N_TRUNC/N_ISOWEEK; -1 for count(*));
              * N_AGG: the index in aggs; N_KEYREF: the index in keys */
    int idx;
    xcell lit;
    struct xnode *a, *b, *c;
    struct xnode **list;
    int nlist;
} xnode;

typedef struct xitem {
    xnode *e;   /* over group keys (N_KEYREF) and aggregates (N_AGG) */
    xnode *src; /* as written (ORDER BY terms are matched against it) */
    int key;    /* index into keys when not an aggregate, else -1 */
    int agg;    /* index into aggs when an aggregate, else -1 */
} xitem;

typedef struct xorder {
    int item; /* output column */
    int desc;
    int nulls; /* 0: SQLite's default (NULLs sort lowest), 1: NULLS FIRST, 2: NULLS LAST */
} xorder;

#define X_MAX 64

/* An earlier WITH term a query may read: its name and its body's text. */
typedef struct xterm {
    char name[129];
    const char *body;
    size_t len;
} xterm;

typedef struct xquery {
    kiln_arena *a;
    char ns[129], tb[129];
    const kiln_schema *schema; /* the table's columns (set before parsing) */
    int nitems;                /* the select items, then ORDER BY terms not among them (hidden) */
    int nout;                  /* the select items */
    xitem items[X_MAX];
    xnode *where;
    xnode *having; /* over group keys and aggregates, like items */
    int nkeys;
    xnode *keys[X_MAX];
    int naggs;
    xnode *aggs[X_MAX];
    int has_group;
    int plain; /* no aggregate, no GROUP BY: every row is a group of its own, keyed by N_ROWID first */
    int norder;
    xorder order[X_MAX];
    int64_t limit, offset; /* limit -1 = none */
    /* FROM a WITH term (set before parsing: terms, and term, 1-based, the
     * one the FROM names; 0: FROM the table itself) whose body is a filter
     * of the table, SELECT * [, expr AS name ...] FROM ns.t [WHERE cond]:
     * its WHERE is ANDed into where, its extra columns are extra[] */
    const xterm *terms;
    int nterms, term;
    /* an uncorrelated scalar subquery ("(SELECT ...)") evaluated once into
     * *out (text in q->a): 0, or 1 with why (NULL: declined) */
    int (*subquery)(void *ctx, struct xquery *q, const char *sql, size_t len, xcell *out, char *why, size_t cap);
    void *subquery_ctx;
    int nextra;
    char extra_name[X_MAX][129];
    xnode *extra[X_MAX];
} xquery;

/* Parse sql[0..len) as a supported SELECT over q->schema's table (the
 * table name is found first with exec_parse_table). Returns 0, or 1 with
 * why filled when the text is not a supported shape. */
int kiln_exec__parse_table(const char *sql, size_t len, char ns[129], char tb[129]);
/* The same, where FROM may also name one of terms[0..nterms) whose body
 * reads ns.tb: *term is then its 1-based index (else 0). */
int kiln_exec__parse_from(const char *sql, size_t len, const xterm *terms, int nterms, char ns[129], char tb[129],
                          int *term);
int kiln_exec__parse(xquery *q, const char *sql, size_t len, char *why, size_t cap);

/* 1 if SQLite's class of a column type is supported; *vt is its V_ type. */
int kiln_exec__col_vtype(const kiln_column_def *c, int *vt);

/* The C_ classes an expression's values can have. */
int kiln_exec__class(const xquery *q, const xnode *n);

#endif /* KILN_EXEC_INT_H */
