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
    N_TRUNC,  /* date_trunc(unit, col) */
    N_ISOWEEK /* iso_week(col) */
} xnode_kind;

enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { A_COUNT_STAR = 1, A_COUNT, A_SUM, A_AVG, A_MIN, A_MAX };
/* date_trunc units, as functions.c orders them */
enum { U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR };

typedef struct xnode {
    xnode_kind k;
    int op, neg, fn, distinct, unit;
    int col; /* table column index (N_COL, and the argument of N_AGG/N_TRUNC/N_ISOWEEK; -1 for count(*)) */
    xcell lit;
    struct xnode *a, *b, *c;
    struct xnode **list;
    int nlist;
} xnode;

typedef struct xitem {
    xnode *e;
    int key; /* index into keys when not an aggregate, else -1 */
    int agg; /* index into aggs when an aggregate, else -1 */
} xitem;

typedef struct xorder {
    int item; /* output column */
    int desc;
} xorder;

#define X_MAX 64

typedef struct xquery {
    kiln_arena *a;
    char ns[129], tb[129];
    const kiln_schema *schema; /* the table's columns (set before parsing) */
    int nitems;
    xitem items[X_MAX];
    xnode *where;
    int nkeys;
    xnode *keys[X_MAX];
    int naggs;
    xnode *aggs[X_MAX];
    int has_group;
    int norder;
    xorder order[X_MAX];
    int64_t limit, offset; /* limit -1 = none */
} xquery;

/* Parse sql[0..len) as a supported SELECT over q->schema's table (the
 * table name is found first with exec_parse_table). Returns 0, or 1 with
 * why filled when the text is not a supported shape. */
int kiln_exec__parse_table(const char *sql, size_t len, char ns[129], char tb[129]);
int kiln_exec__parse(xquery *q, const char *sql, size_t len, char *why, size_t cap);

/* 1 if SQLite's class of a column type is supported; *vt is its V_ type. */
int kiln_exec__col_vtype(const kiln_column_def *c, int *vt);

#endif /* KILN_EXEC_INT_H */
