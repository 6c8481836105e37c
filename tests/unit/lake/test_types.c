/*
 * test_types.c - kiln_lake_type_str (iceberg_types.c): every kind renders
 * in the DDL spelling, and what it renders parses back to the same type
 * (a table created from the rendered schema renders identically).
 */
#include <stdio.h>
#include <string.h>

#include "harness/harness.h"
#include "lake/lake.h"

static const char *DDL = "id long not null, tags list<string>, m map<string,double>, "
                         "s struct<a:int,b:list<struct<c:date>>>, d decimal(9,2), f fixed[16], ts timestamptz";

/* "name type[, ...]" of t's current schema, rendered with kiln_lake_type_str */
static void render_schema(kiln_lake_table *t, char *out, size_t cap)
{
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(kiln_lake_table_meta(t));
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->nfields && off < cap; i++) {
        char tb[512];
        off += (size_t)snprintf(out + off, cap - off, "%s%s %s%s", i ? ", " : "", s->fields[i].name,
                                kiln_lake_type_str(s->fields[i].type, tb, sizeof tb),
                                s->fields[i].required ? " not null" : "");
    }
}

TEST(lake_types, type_str_renders_ddl_that_parses_back)
{
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t1 = NULL, *t2 = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts o;
    memset(&o, 0, sizeof o);
    o.schema_ddl = DDL;
    CHECK_OK(kiln_lake_table_create(&t1, c, "ty.a", &o, &err), &err);
    char r1[2048], r2[2048];
    render_schema(t1, r1, sizeof r1);
    CHECK_STR(r1, "id long not null, tags list<string>, m map<string, double>, "
                  "s struct<a: int, b: list<struct<c: date>>>, d decimal(9, 2), f fixed[16], ts timestamptz");
    o.schema_ddl = r1;
    CHECK_OK(kiln_lake_table_create(&t2, c, "ty.b", &o, &err), &err);
    render_schema(t2, r2, sizeof r2);
    CHECK_STR(r2, r1);
    /* a small buffer truncates, never overflows */
    char small[8];
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(kiln_lake_table_meta(t1));
    CHECK_STR(kiln_lake_type_str(s->fields[3].type, small, sizeof small), "struct<");
    kiln_lake_table_free(t1);
    kiln_lake_table_free(t2);
    kiln_lake_catalog_free(c);
}
