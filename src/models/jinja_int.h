/*
 * jinja_int.h - internals shared by the Jinja interpreter's files
 * (jinja_value.c values, jinja_parse.c lexer+parser, jinja.c evaluator,
 * jinja_lib.c filters/tests/methods/builtins). Nothing outside
 * src/models/jinja*.c includes it.
 */
#ifndef KILN_MODELS_JINJA_INT_H
#define KILN_MODELS_JINJA_INT_H

#include "models/jinja.h"

/* AST node kinds. Expressions first, then statements. */
enum {
    N_LIT,    /* lit */
    N_NAME,   /* name */
    N_LIST,   /* kids */
    N_TUPLE,  /* kids (evaluates to a list) */
    N_DICT,   /* kids = keys, kids2 = values */
    N_ATTR,   /* a . name */
    N_ITEM,   /* a [ b ] */
    N_SLICE,  /* a [ b : c : d ] (NULL parts omitted) */
    N_CALL,   /* a ( kids: N_ARG ) */
    N_ARG,    /* a; name = keyword or NULL; op 1 = *args, 2 = **kwargs */
    N_FILTER, /* a | name ( kids: N_ARG ); a NULL in a filter block */
    N_TEST,   /* a is [not: op=1] name ( kids ) */
    N_NEG,    /* - a */
    N_POS,    /* + a */
    N_NOT,    /* not a */
    N_AND,    /* a and b */
    N_OR,     /* a or b */
    N_BIN,    /* a op b: op is one of the OP_* below */
    N_CMP,    /* a then kids = operands, ops[] */
    N_COND,   /* b if a else c */
    /* statements */
    N_BODY,     /* kids */
    N_DATA,     /* text (name, namelen) */
    N_OUT,      /* {{ a }} */
    N_IF,       /* kids = conditions, kids2 = bodies, c = else body */
    N_FOR,      /* kids = target names (N_NAME), a = iterable, b = body, c = else, d = filter */
    N_SET,      /* kids = targets (N_NAME or N_ATTR), a = value */
    N_SETBLOCK, /* kids = target (one N_NAME/N_ATTR), b = body, d = filter chain (N_FILTER with a NULL) */
    N_MACRO, /* name, kids = params (N_NAME), kids2 = defaults (or NULL), b = body; op: 1 uses varargs, 2 kwargs, 4 caller */
    N_CALLBLOCK,   /* a = the call, kids = caller params, kids2 = defaults, b = body */
    N_FILTERBLOCK, /* d = filter chain, b = body */
    N_DO,          /* a */
    N_BREAK,
    N_CONTINUE,
    N_DOCS,            /* name, b = body (dbt {% docs %}) */
    N_SNAPSHOT,        /* name, b = body (dbt {% snapshot %}) */
    N_MATERIALIZATION, /* name, b = body: parsed, ignored */
    N_WITH             /* kids = targets (N_NAME), kids2 = values, b = body */
};

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT };
enum { CMP_EQ = 1, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN, CMP_NOTIN };

typedef struct kj_node kj_node;
struct kj_node {
    int kind, op;
    uint32_t line, col;
    kj_node *a, *b, *c, *d;
    kj_node **kids, **kids2;
    size_t nkids, nkids2;
    unsigned char *ops; /* N_CMP */
    const char *name;   /* NUL-terminated, in the template's arena */
    size_t namelen;
    kj_val lit;
};

struct kj_tpl {
    char *name;
    kj_node *root;
    kiln_arena *arena;
    kj_tpl *next; /* env's list */
};

/* A scope: a dict of names and its parent. Frames are reference counted
 * because macros keep the frame they were defined in. */
typedef struct kj_frame {
    int rc;
    int kept;    /* held by the env (a macro was defined in it) */
    kj_val vars; /* dict */
    struct kj_frame *parent;
} kj_frame;

typedef struct kj_kept {
    kj_frame *f;
    struct kj_kept *next;
} kj_kept;

typedef struct kj_func {
    int rc;
    char *name;
    kj_native native; /* NULL for a macro */
    void *ud;
    kj_val self;
    /* macro */
    kj_node *macro; /* N_MACRO or N_CALLBLOCK (a caller) */
    kj_tpl *tpl;
    kj_frame *closure;
    kj_val defaults; /* list of evaluated defaults (KJ_UNDEF for none) */
} kj_func;

struct kj_env {
    kj_tpl *tpls;
    kj_kept *kept; /* frames macros were defined in */
    kj_val globals;
    kj_limits lim;
};

/* The stack of macro calls, for error messages. */
typedef struct kj_site {
    const char *macro;
    const kj_tpl *tpl; /* where the call was made */
    uint32_t line, col;
} kj_site;

#define KJ_MAX_SITES 64

struct kj_in {
    kj_env *env;
    kiln_err *err;
    kiln_buf *out;     /* where output goes now */
    const kj_tpl *tpl; /* template of the node being run */
    const kj_node *at; /* node being run (for error positions) */
    kj_frame *frame;
    kj_val ret; /* return() value */
    int depth;
    uint64_t steps;
    kj_site sites[KJ_MAX_SITES];
    int nsites;
    int failed; /* kj_fail ran: the message is final */
    kj_val ctx; /* the render's vars (borrowed): macros defined in other
                        files see the calling node's context, as in dbt */
};

/* jinja_value.c */
int kj_compare(kj_val a, kj_val b, int *cmp);
int kj_float_append(double f, kiln_buf *out, kiln_err *err);
int kj_dict_remove(kj_val dict, size_t i, kiln_err *err);

/* jinja.c */
int kj_frame_push(kj_in *in, kj_frame *parent);
void kj_frame_pop(kj_in *in);
void kj_frame_release(kj_frame *f);
int kj_getattr(kj_in *in, kj_val obj, const char *name, size_t namelen, kj_val *out);
int kj_getitem(kj_in *in, kj_val obj, kj_val key, kj_val *out);
int kj_iter_list(kj_in *in, kj_val v, kj_val *out);      /* any iterable -> new list */
kj_val kj_lookup(kj_in *in, const char *name, size_t n); /* borrowed, KJ_UNDEF if missing */

/* jinja_lib.c */
int kj_filter(kj_in *in, const char *name, kj_val subj, const kj_args *a, kj_val *out);
int kj_test(kj_in *in, const char *name, kj_val subj, const kj_args *a, int *out);
int kj_has_test(const char *name);
/* A method of a built-in type (str.split, list.append, dict.items...).
 * *found = 0 when there is none. */
int kj_method(kj_in *in, kj_val self, const char *name, const kj_args *a, kj_val *out, int *found);
int kj_is_method(kj_val self, const char *name);
const char *kj_method_name(kj_val self, const char *name); /* static name, or NULL */
int kj_builtins_add(kj_env *env, kiln_err *err);

#endif /* KILN_MODELS_JINJA_INT_H */
