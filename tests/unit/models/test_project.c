/*
 * test_project.c - the project loader: YAML scalars typed as PyYAML types
 * them, YAML errors with file:line:column, config trees with and without
 * '+' (deeper folders win, tags add up, the model's YAML config and the
 * file's config() on top), vars with --vars on top, ephemeral models as
 * CTEs, singular tests, selection against a built graph.
 */
#include "harness/harness.h"
#include "models/project.h"

#include <stdlib.h>
#include <sys/stat.h>

static void put(const char *dir, const char *rel, const char *text) { CHECK(kt_put(dir, rel, text) == 0); }

TEST(models_yaml, scalars_typed_like_pyyaml)
{
    const char *doc = "a: 1\nb: 1.5\nc: yes\nd: 'yes'\ne: ~\nf: null\ng: hello\nh: 0x1f\ni: -3\nj: 1e3\nk: off\n"
                      "l: [1, 'x', true]\nm: {n: 2}\nnn: 012\no: .inf\np: \"007\"\nq:\n";
    kiln_arena *a = kiln_arena_new(4096);
    km_yaml *y;
    kiln_err err = {0};
    CHECK_OK(kiln_models__yaml_parse("t.yml", doc, strlen(doc), a, &y, &err), &err);
    kj_val v;
    CHECK_OK(kiln_models__yaml_to_kj(y, &v, &err), &err);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kj_repr_append(NULL, v, &b, &err), &err);
    CHECK_STR(b.data, "{'a': 1, 'b': 1.5, 'c': True, 'd': 'yes', 'e': None, 'f': None, 'g': 'hello', 'h': 31, 'i': -3, "
                      "'j': 1000.0, 'k': False, 'l': [1, 'x', True], 'm': {'n': 2}, 'nn': 10, 'o': inf, 'p': '007', "
                      "'q': None}");
    kiln_buf_free(&b);
    kj_release(v);
    kiln_arena_free(a);
}

TEST(models_yaml, errors_have_positions)
{
    static const struct {
        const char *doc, *want;
    } cases[] = {
        {"a: 1\nb: [1, 2\n", "t.yml:3:1: "},
        {"a: 1\n  b: 2\n", "t.yml:2:4: "},
        {"a: 1\na: 2\n", "t.yml:2:1: duplicate key 'a' (first at line 1)"},
        {"x: *nope\n", "t.yml:1:4: "},
        {"- a\n--- \n- b\n", "t.yml:3:1: more than one YAML document"},
        {" &x \nb: *x\n", "t.yml:2:4: recursive alias"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_arena *a = kiln_arena_new(4096);
        km_yaml *y;
        kiln_err err = {0};
        int rc = kiln_models__yaml_parse("t.yml", cases[i].doc, strlen(cases[i].doc), a, &y, &err);
        kiln_arena_free(a);
        CHECK_MSG(rc == KILN_EFORMAT, "case %zu parsed", i);
        CHECK_MSG(!strncmp(err.msg, cases[i].want, strlen(cases[i].want)), "case %zu: %s", i, err.msg);
    }
}

static const char profile[] = "p:\n  target: dev\n  outputs:\n    dev:\n      type: kiln\n      schema: an\n";

TEST(models_project, configs_vars_and_ctes)
{
    const char *d = kt_tmpdir();
    put(d, "dbt_project.yml",
        "name: p\nprofile: p\nvars:\n  k: 1\n  other: x\n"
        "models:\n  p:\n    +materialized: table\n    tags: ['all']\n    marts:\n      materialized: view\n      "
        "+tags: mart\n"
        "      deep:\n        +schema: deep\n");
    put(d, "profiles.yml", profile);
    put(d, "models/base.sql",
        "{{ config(materialized='ephemeral') }}select {{ var('k') }} as k, '{{ var('other') }}' as o");
    put(d, "models/marts/m1.sql", "select * from {{ ref('base') }}");
    put(d, "models/marts/deep/m2.sql",
        "{{ config(alias='m2x', tags=['x']) }}select * from {{ ref('m1') }} -- {{ this }}");
    put(d, "models/marts/schema.yml", "version: 2\nmodels:\n  - name: m1\n    config:\n      tags: [yml]\n");
    put(d, "tests/t_single.sql", "select * from {{ ref('m2') }} where 1 = 0");
    kiln_models_opts o = {0};
    o.project_dir = d;
    o.vars = "{k: 7}";
    kiln_project *p;
    kiln_err err = {0};
    CHECK_OK(kiln_project_load(&p, &o, &err), &err);
    CHECK_OK(kiln_models__render_all(p, &err), &err);
    CHECK_OK(kiln_models__graph_build(p, &err), &err);
    km_node *base = p->nodes.items[kiln_models__find_name(p, "base")];
    km_node *m1 = p->nodes.items[kiln_models__find_name(p, "m1")];
    km_node *m2 = p->nodes.items[kiln_models__find_name(p, "m2")];
    CHECK_STR(kiln_models__cfg_str(base, "materialized", ""), "ephemeral");
    CHECK_STR(kiln_models__cfg_str(m1, "materialized", ""), "view");
    CHECK_STR(kiln_models__cfg_str(m2, "schema", ""), "deep");
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kj_repr_append(NULL, kiln_models__cfg(m1, "tags"), &b, &err), &err);
    CHECK_STR(b.data, "['all', 'mart', 'yml']");
    kiln_buf_reset(&b);
    CHECK_OK(kj_repr_append(NULL, kiln_models__cfg(m2, "tags"), &b, &err), &err);
    CHECK_STR(b.data, "['all', 'mart', 'x']");
    kiln_buf_free(&b);
    CHECK_STR(base->compiled, "select 7 as k, 'x' as o");
    CHECK_STR(m1->compiled, "select * from __dbt__cte__base");
    CHECK_STR(m2->compiled, "select * from an.m1 -- an_deep.m2x");
    CHECK_OK(kiln_models__inject_ctes(p, m1, &err), &err);
    CHECK_STR(m1->compiled, "with __dbt__cte__base as (\nselect 7 as k, 'x' as o\n)\nselect * from __dbt__cte__base");
    long t = kiln_models__find_id(p, "test.p.t_single");
    CHECK(t >= 0);
    CHECK_EQ_INT(p->nodes.items[t]->parents.len, 1);
    CHECK_EQ_INT(p->nodes.items[t]->parents.items[0], kiln_models__find_name(p, "m2"));
    km_idxvec sel = {0};
    CHECK_OK(kiln_models__select(p, "+m2", NULL, 1u << KM_MODEL, &sel, &err), &err);
    CHECK_EQ_INT(sel.len, 3); /* base, m1, m2 in build order */
    CHECK_STR(p->nodes.items[sel.items[0]]->name, "base");
    CHECK_STR(p->nodes.items[sel.items[2]]->name, "m2");
    CHECK_OK(kiln_models__select(p, "m2", NULL, ~0u, &sel, &err), &err);
    CHECK_EQ_INT(sel.len, 2); /* m2 and its singular test (eager) */
    CHECK_OK(kiln_models__select(p, "tag:mart,tag:x", NULL, ~0u, &sel, &err), &err);
    CHECK_EQ_INT(sel.len, 2);
    CHECK(kiln_models__select(p, "nosuchmethod:x", NULL, ~0u, &sel, &err) == KILN_EINVAL);
    kiln_vec_free(&sel);
    kiln_project_free(p);
}

TEST(models_project, profile_errors)
{
    const char *d = kt_tmpdir();
    put(d, "dbt_project.yml", "name: p\nprofile: missing\n");
    put(d, "profiles.yml", profile);
    kiln_models_opts o = {0};
    o.project_dir = d;
    o.profiles_dir = d;
    kiln_project *p;
    kiln_err err = {0};
    CHECK(kiln_project_load(&p, &o, &err) == KILN_ECONFIG);
    CHECK_MSG(strstr(err.msg, "no profile named 'missing'"), "%s", err.msg);
    put(d, "dbt_project.yml", "name: p\nprofile: p\n");
    o.target = "prod";
    CHECK(kiln_project_load(&p, &o, &err) == KILN_ECONFIG);
    CHECK_MSG(strstr(err.msg, "has no output named 'prod'"), "%s", err.msg);
    put(d, "dbt_project.yml", "name: 'bad name'\n");
    CHECK(kiln_project_load(&p, &o, &err) == KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "dbt_project.yml:1:7: project name"), "%s", err.msg);
}

TEST(models_project, generate_schema_name_override)
{
    const char *d = kt_tmpdir();
    put(d, "dbt_project.yml", "name: p\nprofile: p\nmodels:\n  p:\n    marts:\n      +schema: marts\n");
    put(d, "profiles.yml", profile);
    put(d, "macros/schema.sql",
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "  {%- if custom_schema_name is none -%}{{ target.schema }}_{{ node.resource_type }}"
        "{%- else -%} {{ custom_schema_name | trim }} {%- endif -%}\n{%- endmacro %}\n");
    put(d, "models/a.sql", "select 1 as x");
    put(d, "models/marts/b.sql", "select * from {{ ref('a') }}");
    put(d, "models/c.sql", "{{ config(schema='special') }}select * from {{ ref('b') }}");
    put(d, "models/d.sql", "select * from {{ ref('c') }}");
    kiln_models_opts o = {0};
    o.project_dir = d;
    kiln_project *p;
    kiln_err err = {0};
    CHECK_OK(kiln_project_load(&p, &o, &err), &err);
    CHECK_OK(kiln_models__render_all(p, &err), &err);
    CHECK_STR(p->nodes.items[kiln_models__find_name(p, "b")]->compiled, "select * from an_model.a");
    CHECK_STR(p->nodes.items[kiln_models__find_name(p, "c")]->compiled, "select * from marts.b");
    CHECK_STR(p->nodes.items[kiln_models__find_name(p, "d")]->compiled, "select * from special.c");
    kiln_project_free(p);
}

TEST(models_yaml, alias_expansion_is_capped)
{
    /* 10^7 values from a few lines ("billion laughs") */
    const char *doc = "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                      "g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    kiln_arena *a = kiln_arena_new(4096);
    km_yaml *y;
    kiln_err err = {0};
    CHECK_OK(kiln_models__yaml_parse("t.yml", doc, strlen(doc), a, &y, &err), &err);
    kj_val v;
    int rc = kiln_models__yaml_to_kj(y, &v, &err);
    kiln_arena_free(a);
    CHECK(rc == KILN_ELIMIT);
    CHECK_MSG(strstr(err.msg, "aliases"), "%s", err.msg);
}
