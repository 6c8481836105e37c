/*
 * jinja.h - kiln's Jinja interpreter: the module-internal API of src/models
 * (the loader, the node graph and the tests use it; other modules use
 * models.h).
 *
 * Semantics follow Jinja2 3.1 as dbt configures it: no trim_blocks, no
 * lstrip_blocks, keep_trailing_newline off, autoescape off, the `do` and
 * loop-control extensions, undefined names render as "" (calling or
 * indexing them is an error). See docs/models.md for what is supported.
 *
 * Values are small tagged structs passed by value; strings, lists, dicts,
 * functions and objects are reference counted (kj_retain / kj_release).
 * Every kj_val a function returns through an OUT parameter is owned by the
 * caller (release it); arguments are borrowed.
 *
 * An environment (kj_env) owns parsed templates and a dict of globals.
 * It belongs to one thread.
 */
#ifndef KILN_MODELS_JINJA_H
#define KILN_MODELS_JINJA_H

#include "base/base.h"

typedef enum {
    KJ_UNDEF = 0, /* u.s: the name that was looked up, or NULL */
    KJ_NONE,
    KJ_BOOL,
    KJ_INT,
    KJ_FLOAT,
    KJ_STR,
    KJ_LIST,
    KJ_DICT,
    KJ_FUNC,
    KJ_OBJ
} kj_type;

typedef struct kj_str {
    int rc;
    size_t len;
    char p[]; /* NUL-terminated */
} kj_str;

typedef struct kj_val {
    kj_type t;
    union {
        int b;
        int64_t i;
        double f;
        kj_str *s;
        struct kj_list *l;
        struct kj_dict *d;
        struct kj_func *fn;
        struct kj_obj *o;
    } u;
} kj_val;

typedef struct kj_list {
    int rc;
    int tuple; /* a Python tuple: prints as (a, b) and is not equal to a list */
    size_t len, alloc;
    kj_val *items;
} kj_list;

/* Insertion-ordered dict (Python semantics); the string keys of a dict of
 * 8 or more entries are indexed (smaller ones are scanned). */
typedef struct kj_dict {
    int rc;
    size_t len, alloc;
    kj_val *keys, *vals;
    kiln_map *idx; /* string key -> (index + 1); NULL below 8 entries */
} kj_dict;

typedef struct kj_env kj_env;
typedef struct kj_in kj_in; /* one render in progress */

/* Arguments of a call: positional, then keyword (names borrowed). */
typedef struct kj_args {
    size_t npos, nkw;
    kj_val *pos;
    const char **kwname;
    kj_val *kw;
    kj_val caller; /* the caller() of a {% call %} block, or KJ_UNDEF */
} kj_args;

/* A native function. self is the bound object for methods (KJ_UNDEF
 * otherwise). Returns 0 with *out set (owned), or a negative code after
 * kj_fail. */
typedef int (*kj_native)(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out);

/* An object with attributes computed on demand (relations, datetimes...). */
typedef struct kj_class {
    const char *name;
    /* *out owned; KJ_UNDEF when there is no such attribute */
    int (*getattr)(kj_in *in, void *ud, const char *name, kj_val *out);
    int (*str)(kj_in *in, void *ud, kiln_buf *out); /* NULL: "<name object>" */
    void (*free)(void *ud);                         /* may be NULL */
    const char *const *methods;                     /* NULL-terminated method names, or NULL */
    kj_native method;                               /* runs one: ud = its name (from methods), self = the object */
} kj_class;

typedef struct kj_obj {
    int rc;
    const kj_class *cls;
    void *ud;
} kj_obj;

/* ------------------------------------------------------------ values */

static inline kj_val kj_undef(void)
{
    kj_val v = {KJ_UNDEF, {0}};
    return v;
}
static inline kj_val kj_none(void)
{
    kj_val v = {KJ_NONE, {0}};
    return v;
}
static inline kj_val kj_bool(int b)
{
    kj_val v = {KJ_BOOL, {.b = !!b}};
    return v;
}
static inline kj_val kj_int(int64_t i)
{
    kj_val v = {KJ_INT, {.i = i}};
    return v;
}
static inline kj_val kj_float(double f)
{
    kj_val v = {KJ_FLOAT, {.f = f}};
    return v;
}
kj_val kj_retain(kj_val v); /* returns v */
void kj_release(kj_val v);
/* New values (owned; KJ_UNDEF with a NULL payload when out of memory —
 * check with kj_oom). */
kj_val kj_str_new(const char *p, size_t n);
kj_val kj_str_c(const char *s);
kj_val kj_list_new(void);
kj_val kj_tuple_new(void);
kj_val kj_dict_new(void);
kj_val kj_obj_new(const kj_class *cls, void *ud);                          /* takes ud (freed by cls->free) */
kj_val kj_func_new(const char *name, kj_native fn, void *ud, kj_val self); /* self retained */
kj_val kj_datetime_new(int64_t micros);                                    /* a naive UTC datetime object */
static inline int kj_oom(kj_val v) { return v.t == KJ_UNDEF && !v.u.s; }

/* List append / dict set take ownership of the value (and key). */
int kj_list_push(kj_val list, kj_val v, kiln_err *err);
int kj_dict_set(kj_val dict, kj_val key, kj_val v, kiln_err *err);
int kj_dict_setc(kj_val dict, const char *key, kj_val v, kiln_err *err);
/* Borrowed pointer to the value, or NULL. */
kj_val *kj_dict_get(kj_val dict, kj_val key);
kj_val *kj_dict_getc(kj_val dict, const char *key);
/* index of the string key [key, key+n) in d, or -1 */
long kj_dict_findn(const kj_dict *d, const char *key, size_t n);

int kj_truthy(kj_val v);
int kj_is_num(kj_val v); /* int, float or bool */
double kj_num(kj_val v);
int kj_equal(kj_val a, kj_val b);
/* Python str(v) / repr(v) appended to out. */
int kj_str_append(kj_in *in, kj_val v, kiln_buf *out, kiln_err *err);
int kj_repr_append(kj_in *in, kj_val v, kiln_buf *out, kiln_err *err);
const char *kj_type_name(kj_val v);
int kj_to_str_val(kj_in *in, kj_val v, kj_val *out); /* str(v) as a new KJ_STR (owned) */

/* ------------------------------------------------------------ environment */

typedef struct kj_limits {
    size_t max_output;  /* bytes of one render's output (default 64 MB) */
    int max_depth;      /* nested macro calls / includes (default 200) */
    uint64_t max_steps; /* evaluation steps of one render (default 200 M) */
} kj_limits;

int kj_env_new(kj_env **out, kiln_err *err); /* caller frees with kj_env_free */
void kj_env_free(kj_env *env);               /* NULL is a no-op */
void kj_env_set_limits(kj_env *env, const kj_limits *lim);
/* The globals dict (borrowed; set entries with kj_dict_setc). Holds the
 * builtins (range, dict, namespace, modules...) from kj_env_new. */
kj_val kj_env_globals(kj_env *env);

/* Parse src[0..len) as template `name` (a file path, used in messages).
 * Errors: KILN_EFORMAT "name:line:col: message". The env keeps the parse. */
typedef struct kj_tpl kj_tpl;
int kj_parse(kj_env *env, const char *name, const char *src, size_t len, kj_tpl **out, kiln_err *err);
/* The same in two steps, for parsing on worker threads: kj_parse_detached
 * touches no env; kj_env_adopt (one thread at a time) gives t to env. */
int kj_parse_detached(const char *name, const char *src, size_t len, kj_tpl **out, kiln_err *err);
void kj_env_adopt(kj_env *env, kj_tpl *t);

/* Render a template into out (appended). Returns 0, or a negative code
 * with err->msg "file:line:col: message (in macro 'm', called from
 * file:line:col)". A top-level return() ends the render; its value is
 * stored in *ret when ret is not NULL (KJ_UNDEF if return was not called). */
int kj_render(kj_env *env, kj_tpl *t, kj_val vars, kiln_buf *out, kj_val *ret, kiln_err *err);

/* Run template t's top level only to collect its {% macro %} and
 * {% test %} definitions (as `test_NAME`) into dict `into` (name -> macro).
 * Other output is discarded. */
int kj_define_macros(kj_env *env, kj_tpl *t, kj_val into, kiln_err *err);

/* Render the body of each top-level {% docs NAME %} block of t into dict
 * `into` (NAME -> text). Other content is ignored. */
int kj_docs_blocks(kj_env *env, kj_tpl *t, kj_val into, kiln_err *err);

/* Names of t's top-level {% snapshot NAME %} blocks (borrowed, live as
 * long as t): up to max in names; returns how many there are. */
size_t kj_tpl_snapshot_names(const kj_tpl *t, const char **names, size_t max);

/* Call a function value (macro or native) with positional args. *out owned. */
int kj_call_value(kj_env *env, kj_val fn, const kj_args *a, kj_val *out, kiln_err *err);

/* ------------------------------------------------------------ inside natives */

/* Set the render's error (message prefixed with the current position and
 * followed by the macro stack). Returns code. */
int kj_fail(kj_in *in, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
kiln_err *kj_in_err(kj_in *in);
kj_env *kj_in_env(kj_in *in);
/* Argument helpers: positional index i, else keyword name, else default
 * (borrowed; KJ_UNDEF when absent). */
kj_val kj_arg(const kj_args *a, size_t i, const char *name);
/* Call fn from a native (e.g. adapter.dispatch results, caller()). */
int kj_in_call(kj_in *in, kj_val fn, const kj_args *a, kj_val *out);
/* Set the value that return() carries; natives use it for dbt's return. */
int kj_in_return(kj_in *in, kj_val v); /* takes v; returns KJ_RETURN */

/* Positive "codes" that unwind the interpreter (never reach callers). */
enum { KJ_RETURN = 1, KJ_BREAK = 2, KJ_CONTINUE = 3 };

#endif /* KILN_MODELS_JINJA_H */
