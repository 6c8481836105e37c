/*
 * jinja.c - the evaluator of kiln's Jinja interpreter: environments,
 * scopes, expressions, statements, macros and call blocks, and error
 * messages with file:line:column and the macro stack.
 *
 * Scopes follow Jinja2: the render's top frame holds the context and
 * top-level sets; each for-loop iteration, macro call and caller() call
 * runs in a fresh frame whose parent is the enclosing (or, for macros, the
 * defining) frame; `if` makes no frame. Names not found in any frame come
 * from the environment's globals; missing names evaluate to Undefined,
 * which prints as "" and fails when called, indexed or used in arithmetic.
 *
 * Lifetimes: a macro does not own the frame it was defined in (the frame
 * holds the macro, so a count would make a cycle); such frames are kept by
 * the environment until kj_env_free. caller() closures own their frame.
 *
 * Bounds: output of one render (kj_limits.max_output), nested macro calls
 * (max_depth), evaluation steps (max_steps), and the size of strings and
 * lists built by * and ranges (the output cap).
 */
#include "models/jinja_int.h"

#include <math.h>

/* ------------------------------------------------------------ frames */

static kj_frame *frame_new(kj_frame *parent)
{
    kj_frame *f = kiln_calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->vars = kj_dict_new();
    if (kj_oom(f->vars)) {
        kiln_free(f);
        return NULL;
    }
    f->rc = 1;
    f->parent = parent;
    if (parent)
        parent->rc++;
    return f;
}

void kj_frame_release(kj_frame *f)
{
    while (f && --f->rc == 0) {
        kj_frame *p = f->parent;
        kj_release(f->vars);
        kiln_free(f);
        f = p;
    }
}

int kj_frame_push(kj_in *in, kj_frame *parent)
{
    kj_frame *f = frame_new(parent);
    if (!f)
        return KILN_OOM(in->err);
    in->frame = f;
    return 0;
}

void kj_frame_pop(kj_in *in)
{
    kj_frame *f = in->frame;
    in->frame = f->parent;
    kj_frame_release(f);
}

kj_val kj_lookup(kj_in *in, const char *name, size_t n)
{
    for (kj_frame *f = in->frame; f; f = f->parent) {
        long i = kj_dict_findn(f->vars.u.d, name, n);
        if (i >= 0)
            return f->vars.u.d->vals[i];
    }
    if (in->ctx.t == KJ_DICT) {
        long i = kj_dict_findn(in->ctx.u.d, name, n);
        if (i >= 0)
            return in->ctx.u.d->vals[i];
    }
    kj_dict *g = in->env->globals.u.d;
    long i = kj_dict_findn(g, name, n);
    if (i >= 0)
        return g->vals[i];
    return kj_undef();
}

/* ------------------------------------------------------------ env */

static int keep_frame(kj_env *env, kj_frame *f, kiln_err *err)
{
    if (f->kept)
        return 0;
    kj_kept *k = kiln_malloc(sizeof(*k));
    if (!k)
        return KILN_OOM(err);
    k->f = f;
    f->rc++;
    f->kept = 1;
    k->next = env->kept;
    env->kept = k;
    return 0;
}

int kj_env_new(kj_env **out, kiln_err *err)
{
    kj_env *e = kiln_calloc(1, sizeof(*e));
    if (!e)
        return KILN_OOM(err);
    e->globals = kj_dict_new();
    e->lim.max_output = (size_t)64 << 20;
    e->lim.max_depth = 200;
    e->lim.max_steps = 200000000;
    if (kj_oom(e->globals)) {
        kiln_free(e);
        return KILN_OOM(err);
    }
    int rc = kj_builtins_add(e, err);
    if (rc) {
        kj_env_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void kj_env_set_limits(kj_env *env, const kj_limits *lim)
{
    if (lim->max_output)
        env->lim.max_output = lim->max_output;
    if (lim->max_depth)
        env->lim.max_depth = lim->max_depth;
    if (lim->max_steps)
        env->lim.max_steps = lim->max_steps;
}

kj_val kj_env_globals(kj_env *env) { return env->globals; }

/* Values hold immortal literal strings that live in template arenas, so
 * templates go last. */
void kj_env_free(kj_env *env)
{
    if (!env)
        return;
    kj_release(env->globals);
    for (kj_kept *k = env->kept, *nx; k; k = nx) {
        nx = k->next;
        kj_frame_release(k->f);
        kiln_free(k);
    }
    for (kj_tpl *t = env->tpls, *nx; t; t = nx) {
        nx = t->next;
        kiln_arena_free(t->arena);
        kiln_free(t->name);
        kiln_free(t);
    }
    kiln_free(env);
}

/* ------------------------------------------------------------ functions */

void kj_func_destroy(kj_func *fn)
{
    kj_release(fn->self);
    kj_release(fn->defaults);
    if (fn->macro && fn->macro->kind == N_CALLBLOCK)
        kj_frame_release(fn->closure);
    kiln_free(fn->name);
    kiln_free(fn);
}

kj_val kj_func_new(const char *name, kj_native native, void *ud, kj_val self)
{
    kj_val v = kj_undef();
    kj_func *fn = kiln_calloc(1, sizeof(*fn));
    if (!fn)
        return v;
    if (!(fn->name = kiln_strdup(name ? name : "?"))) {
        kiln_free(fn);
        return v;
    }
    fn->rc = 1;
    fn->native = native;
    fn->ud = ud;
    fn->self = kj_retain(self);
    v.t = KJ_FUNC;
    v.u.fn = fn;
    return v;
}

static kj_val macro_new(kj_in *in, kj_node *n, const char *name)
{
    kj_val v = kj_func_new(name, NULL, NULL, kj_undef());
    if (kj_oom(v))
        return v;
    v.u.fn->macro = n;
    v.u.fn->tpl = (kj_tpl *)in->tpl;
    v.u.fn->closure = in->frame;
    if (n->kind == N_CALLBLOCK)
        in->frame->rc++;
    return v;
}

/* ------------------------------------------------------------ errors */

kiln_err *kj_in_err(kj_in *in) { return in->err; }
kj_env *kj_in_env(kj_in *in) { return in->env; }

static void where(kj_in *in, char *buf, size_t n)
{
    size_t k = 0;
    if (in->at)
        k = (size_t)snprintf(buf, n, "%s:%u:%u: ", in->tpl ? in->tpl->name : "?", in->at->line, in->at->col);
    else
        k = (size_t)snprintf(buf, n, "%s: ", in->tpl ? in->tpl->name : "?");
    if (k >= n)
        buf[n - 1] = 0;
}

static void stack_suffix(kj_in *in, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = in->nsites - 1; i >= 0 && k + 1 < n; i--) {
        const kj_site *s = &in->sites[i];
        k += (size_t)snprintf(buf + k, n - k, "%sin macro '%s' called from %s:%u:%u", i == in->nsites - 1 ? " (" : ", ",
                              s->macro, s->tpl ? s->tpl->name : "?", s->line, s->col);
        if (i == 0 && k + 1 < n)
            k += (size_t)snprintf(buf + k, n - k, ")");
    }
}

int kj_fail(kj_in *in, int code, const char *fmt, ...)
{
    if (in->failed)
        return in->err->code ? in->err->code : code;
    char msg[300], pos[200], stack[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    where(in, pos, sizeof pos);
    stack_suffix(in, stack, sizeof stack);
    in->failed = 1;
    return kiln_err_set(in->err, code, "%s%s%s", pos, msg, stack);
}

/* Give an error raised without kj_fail (allocation, buffer cap) its place. */
static int locate(kj_in *in, int rc)
{
    if (rc >= 0 || in->failed)
        return rc;
    char pos[200], stack[300], msg[512];
    where(in, pos, sizeof pos);
    stack_suffix(in, stack, sizeof stack);
    snprintf(msg, sizeof msg, "%s", in->err->msg);
    in->failed = 1;
    return kiln_err_set(in->err, rc, "%s%s%s", pos, msg, stack);
}

static int undefined_error(kj_in *in, kj_val v)
{
    if (v.u.s)
        return kj_fail(in, KILN_EINVAL, "'%s' is undefined", v.u.s->p);
    return kj_fail(in, KILN_EINVAL, "undefined value");
}

/* ------------------------------------------------------------ output */

static int emit(kj_in *in, const char *p, size_t n)
{
    if (in->out->len + n > in->env->lim.max_output)
        return kj_fail(in, KILN_ELIMIT, "template output exceeds %zu bytes", in->env->lim.max_output);
    return kiln_buf_append(in->out, p, n, in->err);
}

static int emit_val(kj_in *in, kj_val v)
{
    if (v.t == KJ_STR)
        return emit(in, v.u.s->p, v.u.s->len);
    size_t before = in->out->len;
    int rc = kj_str_append(in, v, in->out, in->err);
    if (!rc && in->out->len > in->env->lim.max_output) {
        in->out->len = before;
        return kj_fail(in, KILN_ELIMIT, "template output exceeds %zu bytes", in->env->lim.max_output);
    }
    return rc;
}

int kj_to_str_val(kj_in *in, kj_val v, kj_val *out)
{
    if (v.t == KJ_STR) {
        *out = kj_retain(v);
        return 0;
    }
    kiln_buf b;
    kiln_buf_init(&b, in->env->lim.max_output);
    int rc = kj_str_append(in, v, &b, in->err);
    if (!rc) {
        *out = kj_str_new(b.data ? b.data : "", b.len);
        if (kj_oom(*out))
            rc = KILN_OOM(in->err);
    }
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ attributes and items */

static kj_val undef_named(const char *name, size_t n)
{
    kj_val v = kj_str_new(name, n);
    if (!kj_oom(v))
        v.t = KJ_UNDEF;
    return v;
}

static int method_tramp(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    int found;
    int rc = kj_method(in, self, (const char *)ud, a, out, &found);
    if (!rc && !found)
        return kj_fail(in, KILN_EINVAL, "'%s' object has no attribute '%s'", kj_type_name(self), (const char *)ud);
    return rc;
}

int kj_getattr(kj_in *in, kj_val obj, const char *name, size_t namelen, kj_val *out)
{
    switch (obj.t) {
    case KJ_UNDEF: return undefined_error(in, obj);
    case KJ_OBJ: {
        const kj_class *cls = obj.u.o->cls;
        for (int i = 0; cls->methods && cls->methods[i]; i++) {
            if (!strcmp(cls->methods[i], name)) {
                *out = kj_func_new(name, cls->method, (void *)cls->methods[i], obj);
                return kj_oom(*out) ? KILN_OOM(in->err) : 0;
            }
        }
        int rc = cls->getattr ? cls->getattr(in, obj.u.o->ud, name, out) : (*out = kj_undef(), 0);
        if (!rc && out->t == KJ_UNDEF && !out->u.s)
            *out = undef_named(name, namelen);
        return rc;
    }
    case KJ_FUNC:
        /* a callable object (dbt's config): attributes come from its self */
        if (obj.u.fn->self.t == KJ_OBJ)
            return kj_getattr(in, obj.u.fn->self, name, namelen, out);
        break;
    case KJ_DICT:
    case KJ_STR:
    case KJ_LIST:
        if (kj_is_method(obj, name)) {
            /* ud: the static name from the method table */
            *out = kj_func_new(name, method_tramp, (void *)kj_method_name(obj, name), obj);
            return kj_oom(*out) ? KILN_OOM(in->err) : 0;
        }
        if (obj.t == KJ_DICT) {
            kj_val *v = kj_dict_getc(obj, name);
            *out = v ? kj_retain(*v) : undef_named(name, namelen);
            return 0;
        }
        break;
    default: break;
    }
    *out = undef_named(name, namelen);
    return 0;
}

int kj_getitem(kj_in *in, kj_val obj, kj_val key, kj_val *out)
{
    if (obj.t == KJ_UNDEF)
        return undefined_error(in, obj);
    if (obj.t == KJ_DICT) {
        kj_val *v = kj_dict_get(obj, key);
        if (v) {
            *out = kj_retain(*v);
            return 0;
        }
    } else if ((obj.t == KJ_LIST || obj.t == KJ_STR) && (key.t == KJ_INT || key.t == KJ_BOOL)) {
        int64_t i = key.t == KJ_INT ? key.u.i : key.u.b;
        size_t len = obj.t == KJ_LIST ? obj.u.l->len : obj.u.s->len;
        if (i < 0)
            i += (int64_t)len;
        if (i >= 0 && (size_t)i < len) {
            if (obj.t == KJ_LIST)
                *out = kj_retain(obj.u.l->items[i]);
            else if (!kj_oom(*out = kj_str_new(obj.u.s->p + i, 1)))
                ;
            else
                return KILN_OOM(in->err);
            return 0;
        }
    }
    if (key.t == KJ_STR && obj.t != KJ_DICT)
        return kj_getattr(in, obj, key.u.s->p, key.u.s->len, out);
    *out = kj_undef();
    return 0;
}

int kj_iter_list(kj_in *in, kj_val v, kj_val *out)
{
    int rc = 0;
    switch (v.t) {
    case KJ_UNDEF: *out = kj_list_new(); return kj_oom(*out) ? KILN_OOM(in->err) : 0;
    case KJ_LIST:
    case KJ_DICT: { /* a copy of the items; a dict gives its keys */
        kj_val l = kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(in->err);
        size_t n = v.t == KJ_LIST ? v.u.l->len : v.u.d->len;
        for (size_t i = 0; i < n && !rc; i++)
            rc = kj_list_push(l, kj_retain(v.t == KJ_LIST ? v.u.l->items[i] : v.u.d->keys[i]), in->err);
        if (rc) {
            kj_release(l);
            return rc;
        }
        *out = l;
        return 0;
    }
    case KJ_STR: {
        kj_val l = kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(in->err);
        const unsigned char *p = (const unsigned char *)v.u.s->p, *e = p + v.u.s->len;
        while (p < e && !rc) {
            size_t n = *p < 0x80 ? 1 : kiln_utf8_valid_len(p, e);
            if (!n)
                n = 1;
            kj_val c = kj_str_new((const char *)p, n);
            rc = kj_oom(c) ? KILN_OOM(in->err) : kj_list_push(l, c, in->err);
            p += n;
        }
        if (rc) {
            kj_release(l);
            return rc;
        }
        *out = l;
        return 0;
    }
    default: return kj_fail(in, KILN_EINVAL, "'%s' object is not iterable", kj_type_name(v));
    }
}

/* ------------------------------------------------------------ arguments */

kj_val kj_arg(const kj_args *a, size_t i, const char *name)
{
    if (i < a->npos)
        return a->pos[i];
    if (name)
        for (size_t k = 0; k < a->nkw; k++)
            if (!strcmp(a->kwname[k], name))
                return a->kw[k];
    return kj_undef();
}

typedef struct argbuf {
    kj_args a;
    size_t pos_alloc, kw_alloc;
    kj_val hold; /* list of dicts whose keys name keyword arguments */
} argbuf;

static void args_free(argbuf *ab)
{
    for (size_t i = 0; i < ab->a.npos; i++)
        kj_release(ab->a.pos[i]);
    for (size_t i = 0; i < ab->a.nkw; i++)
        kj_release(ab->a.kw[i]);
    kiln_free(ab->a.pos);
    kiln_free(ab->a.kw);
    kiln_free(ab->a.kwname);
    kj_release(ab->hold);
    memset(ab, 0, sizeof *ab);
}

static int add_pos(kj_in *in, argbuf *ab, kj_val v)
{
    if (ab->a.npos == ab->pos_alloc) {
        size_t na = ab->pos_alloc ? ab->pos_alloc * 2 : 4;
        kj_val *p = kiln_realloc(ab->a.pos, na * sizeof(kj_val));
        if (!p) {
            kj_release(v);
            return KILN_OOM(in->err);
        }
        ab->a.pos = p;
        ab->pos_alloc = na;
    }
    ab->a.pos[ab->a.npos++] = v;
    return 0;
}

static int add_kw(kj_in *in, argbuf *ab, const char *name, kj_val v)
{
    if (ab->a.nkw == ab->kw_alloc) {
        size_t na = ab->kw_alloc ? ab->kw_alloc * 2 : 4;
        kj_val *p = kiln_realloc(ab->a.kw, na * sizeof(kj_val));
        if (p)
            ab->a.kw = p;
        const char **q = p ? kiln_realloc(ab->a.kwname, na * sizeof(char *)) : NULL;
        if (!q) {
            kj_release(v);
            return KILN_OOM(in->err);
        }
        ab->a.kwname = q;
        ab->kw_alloc = na;
    }
    ab->a.kwname[ab->a.nkw] = name;
    ab->a.kw[ab->a.nkw++] = v;
    return 0;
}

static int eval(kj_in *in, kj_node *n, kj_val *out);

static int eval_args(kj_in *in, kj_node **kids, size_t nkids, argbuf *ab)
{
    int rc;
    memset(ab, 0, sizeof *ab);
    for (size_t i = 0; i < nkids; i++) {
        kj_node *arg = kids[i];
        kj_val v;
        if ((rc = eval(in, arg->a, &v)))
            return rc;
        if (arg->op == 1) { /* *args */
            kj_val l;
            rc = kj_iter_list(in, v, &l);
            kj_release(v);
            if (rc)
                return rc;
            for (size_t k = 0; k < l.u.l->len && !rc; k++)
                rc = add_pos(in, ab, kj_retain(l.u.l->items[k]));
            kj_release(l);
            if (rc)
                return rc;
        } else if (arg->op == 2) { /* **kwargs */
            if (v.t != KJ_DICT) {
                kj_release(v);
                in->at = arg;
                return kj_fail(in, KILN_EINVAL, "argument after ** must be a mapping");
            }
            /* the keyword names point into the dict's keys: hold the dict
             * until args_free */
            if (kj_oom(ab->hold) && kj_oom(ab->hold = kj_list_new())) {
                kj_release(v);
                return KILN_OOM(in->err);
            }
            if ((rc = kj_list_push(ab->hold, v, in->err)))
                return rc;
            for (size_t k = 0; k < v.u.d->len && !rc; k++) {
                if (v.u.d->keys[k].t != KJ_STR)
                    return kj_fail(in, KILN_EINVAL, "keywords must be strings");
                rc = add_kw(in, ab, v.u.d->keys[k].u.s->p, kj_retain(v.u.d->vals[k]));
            }
            if (rc)
                return rc;
        } else if (arg->name) {
            if ((rc = add_kw(in, ab, arg->name, v)))
                return rc;
        } else {
            if ((rc = add_pos(in, ab, v)))
                return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ calls */

static int exec_body(kj_in *in, kj_node *body);

static int call_macro(kj_in *in, kj_func *fn, const kj_args *a, kj_val *out)
{
    int rc = 0;
    kj_node *m = fn->macro;
    if (in->depth >= in->env->lim.max_depth)
        return kj_fail(in, KILN_ELIMIT, "macro calls nested deeper than %d", in->env->lim.max_depth);
    if (in->nsites < KJ_MAX_SITES) {
        kj_site *s = &in->sites[in->nsites];
        s->macro = fn->name;
        s->tpl = in->tpl;
        s->line = in->at ? in->at->line : 0;
        s->col = in->at ? in->at->col : 0;
    }
    in->nsites++;
    in->depth++;
    kj_frame *saved_frame = in->frame;
    const kj_tpl *saved_tpl = in->tpl;
    const kj_node *saved_at = in->at;
    kiln_buf *saved_out = in->out;
    kiln_buf buf;
    kiln_buf_init(&buf, in->env->lim.max_output);
    in->frame = NULL;
    kj_val varargs = kj_undef(), kwargs = kj_undef();
    if ((rc = kj_frame_push(in, fn->closure)))
        goto done;
    in->tpl = fn->tpl;
    int flags = m->op;
    int is_caller = m->kind == N_CALLBLOCK;
    /* positional */
    size_t np = m->nkids;
    if (a->npos > np && !(flags & 1)) {
        in->tpl = saved_tpl;
        in->at = saved_at;
        in->nsites--;
        rc = kj_fail(in, KILN_EINVAL, "macro '%s' takes not more than %zu argument(s)", fn->name, np);
        in->nsites++;
        goto done;
    }
    varargs = kj_tuple_new();
    kwargs = kj_dict_new();
    if (kj_oom(varargs) || kj_oom(kwargs)) {
        rc = KILN_OOM(in->err);
        goto done;
    }
    for (size_t i = np; i < a->npos; i++)
        if ((rc = kj_list_push(varargs, kj_retain(a->pos[i]), in->err)))
            goto done;
    for (size_t k = 0; k < a->nkw; k++) {
        if (a->kwname[k][0] == '\x01')
            continue;
        size_t i;
        for (i = 0; i < np; i++)
            if (!strcmp(m->kids[i]->name, a->kwname[k]))
                break;
        if (i < np) {
            if (i < a->npos) {
                in->tpl = saved_tpl;
                in->at = saved_at;
                in->nsites--;
                rc = kj_fail(in, KILN_EINVAL, "macro '%s' got multiple values for argument '%s'", fn->name,
                             a->kwname[k]);
                in->nsites++;
                goto done;
            }
            continue;
        }
        if (!strcmp(a->kwname[k], "caller") && !is_caller)
            continue;
        if (!(flags & 2)) {
            in->tpl = saved_tpl;
            in->at = saved_at;
            in->nsites--;
            rc = kj_fail(in, KILN_EINVAL, "macro '%s' takes no keyword argument '%s'", fn->name, a->kwname[k]);
            in->nsites++;
            goto done;
        }
        if ((rc = kj_dict_setc(kwargs, a->kwname[k], kj_retain(a->kw[k]), in->err)))
            goto done;
    }
    for (size_t i = 0; i < np; i++) {
        kj_val v = kj_undef();
        int have = 0;
        if (i < a->npos) {
            v = kj_retain(a->pos[i]);
            have = 1;
        } else {
            for (size_t k = 0; k < a->nkw; k++)
                if (!strcmp(m->kids[i]->name, a->kwname[k])) {
                    v = kj_retain(a->kw[k]);
                    have = 1;
                    break;
                }
        }
        if (!have && m->kids2 && m->kids2[i]) {
            /* defaults are evaluated at call time, in the macro's scope */
            if ((rc = eval(in, m->kids2[i], &v)))
                goto done;
        } else if (!have) {
            v = undef_named(m->kids[i]->name, m->kids[i]->namelen);
        }
        if ((rc = kj_dict_setc(in->frame->vars, m->kids[i]->name, v, in->err)))
            goto done;
    }
    rc = kj_dict_setc(in->frame->vars, "varargs", varargs, in->err); /* takes varargs, even on error */
    varargs = kj_undef();
    if (rc)
        goto done;
    rc = kj_dict_setc(in->frame->vars, "kwargs", kwargs, in->err);
    kwargs = kj_undef();
    if (rc)
        goto done;
    if (a->caller.t != KJ_UNDEF) {
        if ((rc = kj_dict_setc(in->frame->vars, "caller", kj_retain(a->caller), in->err)))
            goto done;
    } else {
        kj_val c = kj_arg(a, (size_t)-1, "caller");
        if (c.t != KJ_UNDEF && !is_caller && (rc = kj_dict_setc(in->frame->vars, "caller", kj_retain(c), in->err)))
            goto done;
    }
    in->out = &buf;
    rc = exec_body(in, m->b);
    if (rc == KJ_RETURN) {
        *out = in->ret;
        in->ret = kj_undef();
        rc = 0;
    } else if (rc == KJ_BREAK || rc == KJ_CONTINUE) {
        rc = kj_fail(in, KILN_EINVAL, "'break' or 'continue' outside a loop");
    } else if (!rc) {
        *out = kj_str_new(buf.data ? buf.data : "", buf.len);
        if (kj_oom(*out))
            rc = KILN_OOM(in->err);
    }
done:
    kj_release(varargs);
    kj_release(kwargs);
    if (in->frame)
        kj_frame_release(in->frame);
    in->frame = saved_frame;
    in->tpl = saved_tpl;
    in->at = saved_at;
    in->out = saved_out;
    in->depth--;
    in->nsites--;
    kiln_buf_free(&buf);
    return rc;
}

int kj_in_call(kj_in *in, kj_val fn, const kj_args *a, kj_val *out)
{
    *out = kj_undef();
    if (fn.t == KJ_FUNC) {
        int rc;
        if (fn.u.fn->native)
            rc = fn.u.fn->native(in, fn.u.fn->ud, fn.u.fn->self, a, out);
        else
            rc = call_macro(in, fn.u.fn, a, out);
        if (rc < 0) { /* whatever a failing native left in *out is dropped here */
            kj_release(*out);
            *out = kj_undef();
        }
        return rc;
    }
    if (fn.t == KJ_UNDEF)
        return undefined_error(in, fn);
    return kj_fail(in, KILN_EINVAL, "'%s' object is not callable", kj_type_name(fn));
}

int kj_in_return(kj_in *in, kj_val v)
{
    kj_release(in->ret);
    in->ret = v;
    return KJ_RETURN;
}

static int eval_call(kj_in *in, kj_node *n, kj_val caller, kj_val *out)
{
    int rc;
    kj_val self = kj_undef(), fn = kj_undef();
    argbuf ab;
    memset(&ab, 0, sizeof ab);
    kj_node *callee = n->a;
    const char *method = NULL;
    if (callee->kind == N_ATTR) {
        if ((rc = eval(in, callee->a, &self)))
            return rc;
        if ((self.t == KJ_STR || self.t == KJ_LIST || self.t == KJ_DICT) && kj_is_method(self, callee->name))
            method = callee->name;
        else {
            in->at = callee;
            if ((rc = kj_getattr(in, self, callee->name, callee->namelen, &fn)))
                goto done;
        }
    } else if (callee->kind == N_FILTER && !callee->nkids) {
        /* `x|f(args)` parsed as a call of the filter: apply with args */
        kj_val subj;
        if ((rc = eval(in, callee->a, &subj)))
            return rc;
        if ((rc = eval_args(in, n->kids, n->nkids, &ab))) {
            kj_release(subj);
            goto done;
        }
        in->at = callee;
        rc = kj_filter(in, callee->name, subj, &ab.a, out);
        kj_release(subj);
        goto done;
    } else {
        if ((rc = eval(in, callee, &fn)))
            return rc;
    }
    if ((rc = eval_args(in, n->kids, n->nkids, &ab)))
        goto done;
    ab.a.caller = caller;
    in->at = n;
    if (method) {
        int found;
        rc = kj_method(in, self, method, &ab.a, out, &found);
    } else {
        if (fn.t == KJ_UNDEF && callee->kind == N_NAME && !fn.u.s) {
            rc = kj_fail(in, KILN_EINVAL, "'%s' is undefined", callee->name);
            goto done;
        }
        rc = kj_in_call(in, fn, &ab.a, out);
    }
done:
    args_free(&ab);
    kj_release(self);
    kj_release(fn);
    return rc;
}

int kj_call_value(kj_env *env, kj_val fn, const kj_args *a, kj_val *out, kiln_err *err)
{
    kj_in in;
    memset(&in, 0, sizeof in);
    in.env = env;
    in.err = err;
    kiln_buf sink;
    kiln_buf_init(&sink, env->lim.max_output);
    in.out = &sink;
    int rc = kj_in_call(&in, fn, a, out);
    rc = locate(&in, rc);
    kiln_buf_free(&sink);
    kj_release(in.ret);
    return rc;
}

/* ------------------------------------------------------------ operators */

static int type_error(kj_in *in, const char *op, kj_val a, kj_val b)
{
    if (a.t == KJ_UNDEF)
        return undefined_error(in, a);
    if (b.t == KJ_UNDEF)
        return undefined_error(in, b);
    return kj_fail(in, KILN_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", op, kj_type_name(a),
                   kj_type_name(b));
}

static int64_t ival(kj_val v) { return v.t == KJ_INT ? v.u.i : v.u.b; }

static int repeat(kj_in *in, kj_val seq, int64_t times, kj_val *out)
{
    if (times < 0)
        times = 0;
    size_t unit = seq.t == KJ_STR ? seq.u.s->len : seq.u.l->len * sizeof(kj_val);
    if (unit && (uint64_t)times > in->env->lim.max_output / unit)
        return kj_fail(in, KILN_ELIMIT, "repetition result exceeds %zu bytes", in->env->lim.max_output);
    if (seq.t == KJ_STR) {
        kj_val s = kj_str_new(NULL, 0);
        if (kj_oom(s))
            return KILN_OOM(in->err);
        kj_release(s);
        kj_str *r = kiln_malloc(sizeof(kj_str) + unit * (size_t)times + 1);
        if (!r)
            return KILN_OOM(in->err);
        r->rc = 1;
        r->len = unit * (size_t)times;
        for (int64_t i = 0; i < times; i++)
            memcpy(r->p + unit * (size_t)i, seq.u.s->p, unit);
        r->p[r->len] = 0;
        out->t = KJ_STR;
        out->u.s = r;
        return 0;
    }
    kj_val l = kj_list_new();
    if (kj_oom(l))
        return KILN_OOM(in->err);
    int rc = 0;
    for (int64_t i = 0; i < times && !rc; i++)
        for (size_t k = 0; k < seq.u.l->len && !rc; k++)
            rc = kj_list_push(l, kj_retain(seq.u.l->items[k]), in->err);
    if (rc) {
        kj_release(l);
        return rc;
    }
    *out = l;
    return 0;
}

int kj_format_percent(kj_in *in, kj_val fmt, kj_val args, kj_val *out); /* jinja_lib.c */

static int binop(kj_in *in, int op, kj_val a, kj_val b, kj_val *out)
{
    static const char *names[] = {"", "+", "-", "*", "/", "//", "%", "**", "~"};
    int rc;
    if (op == OP_CONCAT) {
        kiln_buf buf;
        kiln_buf_init(&buf, in->env->lim.max_output);
        if ((rc = kj_str_append(in, a, &buf, in->err)) || (rc = kj_str_append(in, b, &buf, in->err))) {
            kiln_buf_free(&buf);
            return rc == KILN_ELIMIT ? kj_fail(in, rc, "string exceeds %zu bytes", in->env->lim.max_output) : rc;
        }
        *out = kj_str_new(buf.data ? buf.data : "", buf.len);
        kiln_buf_free(&buf);
        return kj_oom(*out) ? KILN_OOM(in->err) : 0;
    }
    int an = kj_is_num(a), bn = kj_is_num(b);
    if (an && bn) {
        int ints = a.t != KJ_FLOAT && b.t != KJ_FLOAT;
        double x = kj_num(a), y = kj_num(b);
        int64_t i = ival(a), j = ival(b), r;
        switch (op) {
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
            if (!ints) {
                *out = kj_float(op == OP_ADD ? x + y : op == OP_SUB ? x - y : x * y);
                return 0;
            }
            if (op == OP_ADD   ? __builtin_add_overflow(i, j, &r)
                : op == OP_SUB ? __builtin_sub_overflow(i, j, &r)
                               : __builtin_mul_overflow(i, j, &r))
                return kj_fail(in, KILN_EINVAL, "integer overflow");
            *out = kj_int(r);
            return 0;
        case OP_DIV:
            if (y == 0)
                return kj_fail(in, KILN_EINVAL, "division by zero");
            *out = kj_float(x / y);
            return 0;
        case OP_FLOORDIV:
        case OP_MOD:
            if (ints) {
                if (j == 0)
                    return kj_fail(in, KILN_EINVAL, "integer division or modulo by zero");
                if (i == INT64_MIN && j == -1)
                    return kj_fail(in, KILN_EINVAL, "integer overflow");
                int64_t q = i / j, m = i % j;
                if (m != 0 && ((m < 0) != (j < 0))) {
                    q--;
                    m += j;
                }
                *out = kj_int(op == OP_FLOORDIV ? q : m);
            } else {
                if (y == 0)
                    return kj_fail(in, KILN_EINVAL, "float division by zero");
                double m = fmod(x, y);
                if (m != 0 && ((m < 0) != (y < 0)))
                    m += y;
                *out = kj_float(op == OP_FLOORDIV ? floor(x / y) : m);
            }
            return 0;
        case OP_POW:
            if (ints && j >= 0) {
                int64_t acc = 1, base = i;
                for (int64_t e = j; e > 0; e >>= 1) {
                    if ((e & 1) && __builtin_mul_overflow(acc, base, &acc))
                        return kj_fail(in, KILN_EINVAL, "integer overflow");
                    if (e > 1 && __builtin_mul_overflow(base, base, &base))
                        return kj_fail(in, KILN_EINVAL, "integer overflow");
                }
                *out = kj_int(acc);
            } else {
                if (x == 0 && y < 0)
                    return kj_fail(in, KILN_EINVAL, "0.0 cannot be raised to a negative power");
                *out = kj_float(pow(x, y));
            }
            return 0;
        }
    }
    if (op == OP_ADD && a.t == b.t && (a.t == KJ_STR || a.t == KJ_LIST)) {
        if (a.t == KJ_STR) {
            if (a.u.s->len + b.u.s->len > in->env->lim.max_output)
                return kj_fail(in, KILN_ELIMIT, "string exceeds %zu bytes", in->env->lim.max_output);
            kj_str *r = kiln_malloc(sizeof(kj_str) + a.u.s->len + b.u.s->len + 1);
            if (!r)
                return KILN_OOM(in->err);
            r->rc = 1;
            r->len = a.u.s->len + b.u.s->len;
            memcpy(r->p, a.u.s->p, a.u.s->len);
            memcpy(r->p + a.u.s->len, b.u.s->p, b.u.s->len);
            r->p[r->len] = 0;
            out->t = KJ_STR;
            out->u.s = r;
            return 0;
        }
        kj_val l = kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(in->err);
        rc = 0;
        for (size_t k = 0; k < a.u.l->len && !rc; k++)
            rc = kj_list_push(l, kj_retain(a.u.l->items[k]), in->err);
        for (size_t k = 0; k < b.u.l->len && !rc; k++)
            rc = kj_list_push(l, kj_retain(b.u.l->items[k]), in->err);
        if (rc) {
            kj_release(l);
            return rc;
        }
        *out = l;
        return 0;
    }
    if (op == OP_MUL && (a.t == KJ_STR || a.t == KJ_LIST) && (b.t == KJ_INT || b.t == KJ_BOOL))
        return repeat(in, a, ival(b), out);
    if (op == OP_MUL && (b.t == KJ_STR || b.t == KJ_LIST) && (a.t == KJ_INT || a.t == KJ_BOOL))
        return repeat(in, b, ival(a), out);
    if (op == OP_MOD && a.t == KJ_STR)
        return kj_format_percent(in, a, b, out);
    return type_error(in, names[op], a, b);
}

static int compare(kj_in *in, int op, kj_val a, kj_val b, int *res)
{
    int c;
    switch (op) {
    case CMP_EQ: *res = kj_equal(a, b); return 0;
    case CMP_NE: *res = !kj_equal(a, b); return 0;
    case CMP_IN:
    case CMP_NOTIN: {
        int found = 0;
        if (b.t == KJ_STR) {
            if (a.t != KJ_STR)
                return kj_fail(in, KILN_EINVAL, "'in <string>' requires string as left operand, not %s",
                               kj_type_name(a));
            found = a.u.s->len == 0 || memmem(b.u.s->p, b.u.s->len, a.u.s->p, a.u.s->len) != NULL;
        } else if (b.t == KJ_LIST) {
            for (size_t i = 0; i < b.u.l->len && !found; i++)
                found = kj_equal(a, b.u.l->items[i]);
        } else if (b.t == KJ_DICT) {
            found = kj_dict_get(b, a) != NULL;
        } else if (b.t == KJ_UNDEF) {
            found = 0;
        } else {
            return kj_fail(in, KILN_EINVAL, "argument of type '%s' is not iterable", kj_type_name(b));
        }
        *res = op == CMP_IN ? found : !found;
        return 0;
    }
    default:
        if (kj_compare(a, b, &c)) {
            if (a.t == KJ_UNDEF)
                return undefined_error(in, a);
            if (b.t == KJ_UNDEF)
                return undefined_error(in, b);
            static const char *nm[] = {"", "", "", "<", "<=", ">", ">="};
            return kj_fail(in, KILN_EINVAL, "'%s' not supported between instances of '%s' and '%s'", nm[op],
                           kj_type_name(a), kj_type_name(b));
        }
        *res = op == CMP_LT ? c < 0 : op == CMP_LE ? c <= 0 : op == CMP_GT ? c > 0 : c >= 0;
        return 0;
    }
}

static int slice(kj_in *in, kj_node *n, kj_val obj, kj_val *out)
{
    int rc;
    int64_t part[3] = {0, 0, 1};
    int have[3] = {0, 0, 0};
    kj_node *pn[3] = {n->b, n->c, n->d};
    for (int i = 0; i < 3; i++) {
        if (!pn[i])
            continue;
        kj_val v;
        if ((rc = eval(in, pn[i], &v)))
            return rc;
        if (v.t == KJ_NONE)
            continue;
        if (v.t != KJ_INT && v.t != KJ_BOOL) {
            kj_release(v);
            in->at = n;
            return kj_fail(in, KILN_EINVAL, "slice indices must be integers or None");
        }
        part[i] = ival(v);
        have[i] = 1;
    }
    in->at = n;
    if (part[2] == 0)
        return kj_fail(in, KILN_EINVAL, "slice step cannot be zero");
    if (obj.t == KJ_UNDEF)
        return undefined_error(in, obj);
    kj_val items;
    if ((rc = kj_iter_list(in, obj, &items)))
        return rc;
    int64_t len = (int64_t)items.u.l->len, step = part[2];
    int64_t start, stop;
    if (step > 0) {
        start = have[0] ? part[0] : 0;
        stop = have[1] ? part[1] : len;
        if (start < 0)
            start = start + len < 0 ? 0 : start + len;
        if (stop < 0)
            stop = stop + len < 0 ? 0 : stop + len;
        if (start > len)
            start = len;
        if (stop > len)
            stop = len;
    } else {
        start = have[0] ? part[0] : len - 1;
        stop = have[1] ? part[1] : -len - 1;
        if (start < 0)
            start = start + len < -1 ? -1 : start + len;
        if (stop < 0)
            stop = stop + len < -1 ? -1 : stop + len;
        if (start >= len)
            start = len - 1;
        if (stop >= len)
            stop = len - 1;
    }
    kj_val res = kj_list_new();
    if (kj_oom(res)) {
        kj_release(items);
        return KILN_OOM(in->err);
    }
    rc = 0;
    for (int64_t i = start; (step > 0 ? i < stop : i > stop) && !rc; i += step)
        rc = kj_list_push(res, kj_retain(items.u.l->items[i]), in->err);
    kj_release(items);
    if (rc) {
        kj_release(res);
        return rc;
    }
    if (obj.t == KJ_STR) { /* join the characters back */
        kiln_buf b;
        kiln_buf_init(&b, 0);
        for (size_t i = 0; i < res.u.l->len && !rc; i++)
            rc = kiln_buf_append(&b, res.u.l->items[i].u.s->p, res.u.l->items[i].u.s->len, in->err);
        kj_release(res);
        if (!rc) {
            *out = kj_str_new(b.data ? b.data : "", b.len);
            if (kj_oom(*out))
                rc = KILN_OOM(in->err);
        }
        kiln_buf_free(&b);
        return rc;
    }
    *out = res;
    return 0;
}

/* ------------------------------------------------------------ expressions */

static int step(kj_in *in)
{
    if (++in->steps > in->env->lim.max_steps)
        return kj_fail(in, KILN_ELIMIT, "template evaluation exceeds %llu steps",
                       (unsigned long long)in->env->lim.max_steps);
    return 0;
}

static int eval_filter_chain(kj_in *in, kj_node *f, kj_val subj, kj_val *out);

static int eval(kj_in *in, kj_node *n, kj_val *out)
{
    int rc;
    kj_val a = kj_undef(), b = kj_undef();
    *out = kj_undef();
    in->at = n;
    if ((rc = step(in)))
        return rc;
    switch (n->kind) {
    case N_LIT: *out = kj_retain(n->lit); return 0;
    case N_NAME: {
        kj_val v = kj_lookup(in, n->name, n->namelen);
        if (v.t == KJ_UNDEF) {
            *out = undef_named(n->name, n->namelen);
            return kj_oom(*out) ? KILN_OOM(in->err) : 0;
        }
        *out = kj_retain(v);
        return 0;
    }
    case N_LIST:
    case N_TUPLE: {
        kj_val l = n->kind == N_TUPLE ? kj_tuple_new() : kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(in->err);
        for (size_t i = 0; i < n->nkids; i++) {
            if ((rc = eval(in, n->kids[i], &a)) || (rc = kj_list_push(l, a, in->err))) {
                kj_release(l);
                return rc;
            }
        }
        *out = l;
        return 0;
    }
    case N_DICT: {
        kj_val d = kj_dict_new();
        if (kj_oom(d))
            return KILN_OOM(in->err);
        for (size_t i = 0; i < n->nkids; i++) {
            if ((rc = eval(in, n->kids[i], &a)))
                goto dfail;
            if ((rc = eval(in, n->kids2[i], &b))) {
                kj_release(a);
                goto dfail;
            }
            if (a.t == KJ_LIST || a.t == KJ_DICT) {
                in->at = n->kids[i];
                kj_release(b);
                rc = kj_fail(in, KILN_EINVAL, "unhashable type: '%s'", kj_type_name(a));
                kj_release(a);
                goto dfail;
            }
            if ((rc = kj_dict_set(d, a, b, in->err)))
                goto dfail;
        }
        *out = d;
        return 0;
    dfail:
        kj_release(d);
        return rc;
    }
    case N_ATTR:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        in->at = n;
        rc = kj_getattr(in, a, n->name, n->namelen, out);
        kj_release(a);
        return rc;
    case N_ITEM:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        if ((rc = eval(in, n->b, &b))) {
            kj_release(a);
            return rc;
        }
        in->at = n;
        rc = kj_getitem(in, a, b, out);
        kj_release(a);
        kj_release(b);
        return rc;
    case N_SLICE:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        rc = slice(in, n, a, out);
        kj_release(a);
        return rc;
    case N_CALL: return eval_call(in, n, kj_undef(), out);
    case N_FILTER:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        rc = eval_filter_chain(in, n, a, out);
        kj_release(a);
        return rc;
    case N_TEST: {
        if ((rc = eval(in, n->a, &a)))
            return rc;
        argbuf ab;
        if ((rc = eval_args(in, n->kids, n->nkids, &ab))) {
            args_free(&ab);
            kj_release(a);
            return rc;
        }
        int res = 0;
        in->at = n;
        rc = kj_test(in, n->name, a, &ab.a, &res);
        args_free(&ab);
        kj_release(a);
        if (!rc)
            *out = kj_bool(n->op ? !res : res);
        return rc;
    }
    case N_NEG:
    case N_POS:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        in->at = n;
        if (a.t == KJ_INT || a.t == KJ_BOOL) {
            int64_t i = ival(a);
            if (n->kind == N_NEG && i == INT64_MIN)
                return kj_fail(in, KILN_EINVAL, "integer overflow");
            *out = kj_int(n->kind == N_NEG ? -i : i);
            return 0;
        }
        if (a.t == KJ_FLOAT) {
            *out = kj_float(n->kind == N_NEG ? -a.u.f : a.u.f);
            return 0;
        }
        rc = a.t == KJ_UNDEF ? undefined_error(in, a)
                             : kj_fail(in, KILN_EINVAL, "bad operand type for unary %c: '%s'",
                                       n->kind == N_NEG ? '-' : '+', kj_type_name(a));
        kj_release(a);
        return rc;
    case N_NOT:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        *out = kj_bool(!kj_truthy(a));
        kj_release(a);
        return 0;
    case N_AND:
    case N_OR:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        if (kj_truthy(a) == (n->kind == N_OR)) {
            *out = a;
            return 0;
        }
        kj_release(a);
        return eval(in, n->b, out);
    case N_BIN:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        if ((rc = eval(in, n->b, &b))) {
            kj_release(a);
            return rc;
        }
        in->at = n;
        rc = binop(in, n->op, a, b, out);
        kj_release(a);
        kj_release(b);
        return rc;
    case N_CMP: {
        if ((rc = eval(in, n->a, &a)))
            return rc;
        int res = 1;
        for (size_t i = 0; i < n->nkids && res; i++) {
            if ((rc = eval(in, n->kids[i], &b))) {
                kj_release(a);
                return rc;
            }
            in->at = n;
            rc = compare(in, n->ops[i], a, b, &res);
            kj_release(a);
            a = b;
            if (rc) {
                kj_release(a);
                return rc;
            }
        }
        kj_release(a);
        *out = kj_bool(res);
        return 0;
    }
    case N_COND:
        if ((rc = eval(in, n->a, &a)))
            return rc;
        int t = kj_truthy(a);
        kj_release(a);
        if (t)
            return eval(in, n->b, out);
        if (n->c)
            return eval(in, n->c, out);
        *out = kj_undef();
        return 0;
    default: return kj_fail(in, KILN_EINTERNAL, "not an expression (node %d)", n->kind);
    }
}

/* Apply filter node f (and, for a chain parsed with a NULL subject, the
 * filters under it first) to subj. */
static int eval_filter_chain(kj_in *in, kj_node *f, kj_val subj, kj_val *out)
{
    int rc;
    kj_val s = kj_retain(subj);
    if (f->a && f->a->kind == N_FILTER && !f->a->a) {
        kj_release(s);
        if ((rc = eval_filter_chain(in, f->a, subj, &s)))
            return rc;
    }
    argbuf ab;
    if ((rc = eval_args(in, f->kids, f->nkids, &ab))) {
        args_free(&ab);
        kj_release(s);
        return rc;
    }
    in->at = f;
    rc = kj_filter(in, f->name, s, &ab.a, out);
    args_free(&ab);
    kj_release(s);
    return rc;
}

/* ------------------------------------------------------------ statements */

static int assign(kj_in *in, kj_node *target, kj_val v)
{
    if (target->kind == N_ATTR) {
        kj_val ns = kj_lookup(in, target->a->name, target->a->namelen);
        kj_val inner;
        in->at = target;
        int kj_namespace_dict(kj_val obj, kj_val * dict); /* jinja_lib.c */
        if (!kj_namespace_dict(ns, &inner)) {
            kj_release(v);
            return kj_fail(in, KILN_EINVAL, "cannot assign attribute on non-namespace object");
        }
        return kj_dict_setc(inner, target->name, v, in->err);
    }
    return kj_dict_setc(in->frame->vars, target->name, v, in->err);
}

static int assign_targets(kj_in *in, kj_node **targets, size_t n, kj_val v)
{
    if (n == 1)
        return assign(in, targets[0], v);
    kj_val l;
    int rc = kj_iter_list(in, v, &l);
    kj_release(v);
    if (rc)
        return rc;
    if (l.u.l->len != n) {
        size_t got = l.u.l->len;
        kj_release(l);
        return kj_fail(in, KILN_EINVAL, "%s values to unpack (expected %zu, got %zu)",
                       got < n ? "not enough" : "too many", n, got);
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = assign(in, targets[i], kj_retain(l.u.l->items[i]));
    kj_release(l);
    return rc;
}

/* loop.cycle(a, b, ...): the argument at the iteration's index modulo
 * their count (self holds the index). */
static int loop_cycle(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    if (!a->npos)
        return kj_fail(in, KILN_EINVAL, "no items for cycling given");
    *out = kj_retain(a->pos[(size_t)self.u.i % a->npos]);
    return 0;
}

static int loop_dict(kj_in *in, size_t i, size_t len, kj_val items, kj_val *out)
{
    kj_val d = kj_dict_new();
    if (kj_oom(d))
        return KILN_OOM(in->err);
    int rc;
    if ((rc = kj_dict_setc(d, "index", kj_int((int64_t)i + 1), in->err)) ||
        (rc = kj_dict_setc(d, "index0", kj_int((int64_t)i), in->err)) ||
        (rc = kj_dict_setc(d, "revindex", kj_int((int64_t)(len - i)), in->err)) ||
        (rc = kj_dict_setc(d, "revindex0", kj_int((int64_t)(len - i - 1)), in->err)) ||
        (rc = kj_dict_setc(d, "first", kj_bool(i == 0), in->err)) ||
        (rc = kj_dict_setc(d, "last", kj_bool(i + 1 == len), in->err)) ||
        (rc = kj_dict_setc(d, "length", kj_int((int64_t)len), in->err)) ||
        (rc = kj_dict_setc(d, "depth", kj_int(1), in->err)) || (rc = kj_dict_setc(d, "depth0", kj_int(0), in->err)) ||
        (rc = kj_dict_setc(d, "previtem", i ? kj_retain(items.u.l->items[i - 1]) : kj_undef(), in->err)) ||
        (rc = kj_dict_setc(d, "nextitem", i + 1 < len ? kj_retain(items.u.l->items[i + 1]) : kj_undef(), in->err)) ||
        (rc = kj_dict_setc(d, "cycle", kj_func_new("cycle", loop_cycle, NULL, kj_int((int64_t)i)), in->err))) {
        kj_release(d);
        return rc;
    }
    *out = d;
    return 0;
}

static int exec_for(kj_in *in, kj_node *n)
{
    int rc;
    kj_val it, items = kj_undef();
    if ((rc = eval(in, n->a, &it)))
        return rc;
    in->at = n->a;
    if (it.t == KJ_NONE || it.t == KJ_INT || it.t == KJ_FLOAT || it.t == KJ_BOOL) {
        kj_release(it);
        return kj_fail(in, KILN_EINVAL, "'%s' object is not iterable", kj_type_name(it));
    }
    rc = kj_iter_list(in, it, &items);
    kj_release(it);
    if (rc)
        return rc;
    if (n->d) { /* {% for x in xs if cond %}: filter first, as Jinja2 */
        kj_val kept = kj_list_new();
        if (kj_oom(kept)) {
            kj_release(items);
            return KILN_OOM(in->err);
        }
        for (size_t i = 0; i < items.u.l->len && !rc; i++) {
            if ((rc = step(in)) || (rc = kj_frame_push(in, in->frame)))
                break;
            kj_val c;
            if (!(rc = assign_targets(in, n->kids, n->nkids, kj_retain(items.u.l->items[i]))) &&
                !(rc = eval(in, n->d, &c))) {
                if (kj_truthy(c))
                    rc = kj_list_push(kept, kj_retain(items.u.l->items[i]), in->err);
                kj_release(c);
            }
            kj_frame_pop(in);
        }
        kj_release(items);
        items = kept;
        if (rc) {
            kj_release(items);
            return rc;
        }
    }
    size_t len = items.u.l->len;
    for (size_t i = 0; i < len; i++) {
        if ((rc = step(in)) || (rc = kj_frame_push(in, in->frame)))
            break;
        kj_val loop;
        if (!(rc = loop_dict(in, i, len, items, &loop)) &&
            !(rc = kj_dict_setc(in->frame->vars, "loop", loop, in->err)) &&
            !(rc = assign_targets(in, n->kids, n->nkids, kj_retain(items.u.l->items[i]))))
            rc = exec_body(in, n->b);
        kj_frame_pop(in);
        if (rc == KJ_CONTINUE)
            rc = 0;
        if (rc == KJ_BREAK) {
            rc = 0;
            break;
        }
        if (rc)
            break;
    }
    kj_release(items);
    if (!rc && len == 0 && n->c)
        rc = exec_body(in, n->c);
    return rc;
}

static int capture(kj_in *in, kj_node *body, kj_val *out)
{
    kiln_buf buf, *saved = in->out;
    kiln_buf_init(&buf, in->env->lim.max_output);
    in->out = &buf;
    int rc = exec_body(in, body);
    in->out = saved;
    if (!rc) {
        *out = kj_str_new(buf.data ? buf.data : "", buf.len);
        if (kj_oom(*out))
            rc = KILN_OOM(in->err);
    }
    kiln_buf_free(&buf);
    return rc;
}

static int exec_stmt(kj_in *in, kj_node *n)
{
    int rc;
    kj_val v;
    in->at = n;
    if ((rc = step(in)))
        return rc;
    switch (n->kind) {
    case N_DATA: return emit(in, n->name, n->namelen);
    case N_OUT:
        if ((rc = eval(in, n->a, &v)))
            return rc;
        in->at = n->a;
        rc = emit_val(in, v);
        kj_release(v);
        return rc;
    case N_IF:
        for (size_t i = 0; i < n->nkids; i++) {
            if ((rc = eval(in, n->kids[i], &v)))
                return rc;
            int t = kj_truthy(v);
            kj_release(v);
            if (t)
                return exec_body(in, n->kids2[i]);
        }
        return n->c ? exec_body(in, n->c) : 0;
    case N_FOR: return exec_for(in, n);
    case N_SET:
        if ((rc = eval(in, n->a, &v)))
            return rc;
        in->at = n;
        return assign_targets(in, n->kids, n->nkids, v);
    case N_SETBLOCK:
        if ((rc = capture(in, n->b, &v)))
            return rc;
        if (n->d) {
            kj_val f;
            rc = eval_filter_chain(in, n->d, v, &f);
            kj_release(v);
            if (rc)
                return rc;
            v = f;
        }
        in->at = n;
        return assign(in, n->kids[0], v);
    case N_MACRO:
        v = macro_new(in, n, n->name);
        if (kj_oom(v))
            return KILN_OOM(in->err);
        if ((rc = keep_frame(in->env, in->frame, in->err))) {
            kj_release(v);
            return rc;
        }
        return kj_dict_setc(in->frame->vars, n->name, v, in->err);
    case N_CALLBLOCK: {
        kj_val caller = macro_new(in, n, "caller");
        if (kj_oom(caller))
            return KILN_OOM(in->err);
        rc = eval_call(in, n->a, caller, &v);
        kj_release(caller);
        if (rc)
            return rc;
        in->at = n;
        rc = emit_val(in, v);
        kj_release(v);
        return rc;
    }
    case N_FILTERBLOCK: {
        kj_val f;
        if ((rc = capture(in, n->b, &v)))
            return rc;
        rc = eval_filter_chain(in, n->d, v, &f);
        kj_release(v);
        if (rc)
            return rc;
        rc = emit_val(in, f);
        kj_release(f);
        return rc;
    }
    case N_DO:
        if ((rc = eval(in, n->a, &v)))
            return rc;
        kj_release(v);
        return 0;
    case N_WITH: { /* a scope; the values are evaluated in the outer one, as Jinja2 does */
        kj_frame *outer = in->frame;
        if ((rc = kj_frame_push(in, outer)))
            return rc;
        kj_frame *scope = in->frame;
        for (size_t i = 0; i < n->nkids && !rc; i++) {
            in->frame = outer;
            rc = eval(in, n->kids2[i], &v);
            in->frame = scope;
            if (!rc)
                rc = kj_dict_setc(scope->vars, n->kids[i]->name, v, in->err);
        }
        if (!rc)
            rc = exec_body(in, n->b);
        kj_frame_pop(in);
        return rc;
    }
    case N_BREAK: return KJ_BREAK;
    case N_CONTINUE: return KJ_CONTINUE;
    case N_DOCS:
    case N_MATERIALIZATION: return 0; /* definitions, no output */
    case N_SNAPSHOT: return exec_body(in, n->b);
    default: return kj_fail(in, KILN_EINTERNAL, "not a statement (node %d)", n->kind);
    }
}

static int exec_body(kj_in *in, kj_node *body)
{
    for (size_t i = 0; i < body->nkids; i++) {
        int rc = exec_stmt(in, body->kids[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ entry points */

static int render_setup(kj_in *in, kj_env *env, kj_tpl *t, kj_val vars, kiln_buf *out, kiln_err *err)
{
    memset(in, 0, sizeof *in);
    in->env = env;
    in->err = err;
    in->out = out;
    in->tpl = t;
    in->ctx = vars;
    /* vars are not copied into the top frame: kj_lookup reads in->ctx
     * after the frames (a copy per render was most of a small model's
     * compile time) */
    return kj_frame_push(in, NULL);
}

int kj_render(kj_env *env, kj_tpl *t, kj_val vars, kiln_buf *out, kj_val *ret, kiln_err *err)
{
    kj_in in;
    if (ret)
        *ret = kj_undef();
    int rc = render_setup(&in, env, t, vars, out, err);
    if (!rc)
        rc = exec_body(&in, t->root);
    if (rc == KJ_RETURN) {
        if (ret)
            *ret = in.ret;
        else
            kj_release(in.ret);
        in.ret = kj_undef();
        rc = 0;
    } else if (rc == KJ_BREAK || rc == KJ_CONTINUE) {
        rc = kj_fail(&in, KILN_EINVAL, "'break' or 'continue' outside a loop");
    }
    rc = locate(&in, rc);
    kj_release(in.ret);
    if (in.frame)
        kj_frame_release(in.frame);
    return rc;
}

/* Run the top-level blocks of one kind: N_MACRO definitions go into
 * `into` by name, N_DOCS bodies are rendered into `into` by name. */
static int top_blocks(kj_env *env, kj_tpl *t, int kind, kj_val into, kiln_err *err)
{
    kj_in in;
    kiln_buf sink;
    kiln_buf_init(&sink, 0);
    int rc = render_setup(&in, env, t, kj_undef(), &sink, err);
    for (size_t i = 0; !rc && i < t->root->nkids; i++) {
        kj_node *n = t->root->kids[i];
        if (n->kind != kind)
            continue;
        in.at = n;
        kj_val v;
        if (kind == N_MACRO) {
            if ((rc = exec_stmt(&in, n)))
                break;
            v = kj_retain(*kj_dict_getc(in.frame->vars, n->name));
        } else if ((rc = capture(&in, n->b, &v))) {
            break;
        }
        rc = kj_dict_setc(into, n->name, v, err);
    }
    rc = locate(&in, rc);
    if (in.frame)
        kj_frame_release(in.frame);
    kiln_buf_free(&sink);
    return rc;
}

int kj_define_macros(kj_env *env, kj_tpl *t, kj_val into, kiln_err *err)
{
    return top_blocks(env, t, N_MACRO, into, err);
}

int kj_docs_blocks(kj_env *env, kj_tpl *t, kj_val into, kiln_err *err) { return top_blocks(env, t, N_DOCS, into, err); }

size_t kj_tpl_snapshot_names(const kj_tpl *t, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->root->nkids; i++) {
        if (t->root->kids[i]->kind != N_SNAPSHOT)
            continue;
        if (n < max)
            names[n] = t->root->kids[i]->name;
        n++;
    }
    return n;
}
