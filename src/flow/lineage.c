/*
 * lineage.c - OpenLineage RunEvents (spec 2-0-2) for task tries, appended
 * as NDJSON to the file named by kiln.yml's flow.lineage.file.
 *
 * Per try: START when it starts, COMPLETE or FAIL when it ends, with the
 * same run.runId (a UUIDv7 made at the start). job = {namespace "kiln",
 * name "DAG.TASK"}; run facets nominalTime (the data interval) and parent
 * (the DAG run: job "DAG", a runId derived from DAG and run id, so every
 * task of a run names the same parent); FAIL carries errorMessage. inputs
 * and outputs come from consumes/produces: "scheme://authority/path" keeps
 * its scheme and authority as namespace, a plain name is a file under the
 * project (namespace "file", absolute path). Each event is one write() on an
 * O_APPEND descriptor, so concurrent runners do not interleave lines. A
 * lineage write that fails is reported and never fails the task.
 */
#include "flow_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#define OL_SCHEMA "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define OL_PRODUCER "https://github.com/kiln-data/kiln/tree/v" KILN_VERSION

static void uuid_format(const uint8_t b[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

void kiln_flow__uuid7(char out[37])
{
    uint8_t b[16];
    uint64_t ms = (uint64_t)(kiln_now_micros() / 1000);
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* no entropy source: time and pid still make it unique enough here */
        uint64_t x = kiln_hash64(&ms, sizeof ms) ^ ((uint64_t)getpid() << 32);
        memcpy(b + 8, &x, 8);
        memcpy(b, &x, 8);
    }
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    uuid_format(b, out);
}

/* A stable UUID (version 8, RFC 9562) for a name: the DAG run's id. */
static void uuid_of_name(const char *name, char out[37])
{
    uint8_t dig[32];
    kiln_sha256 h;
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, name, strlen(name));
    kiln_sha256_final(&h, dig);
    dig[6] = (uint8_t)(0x80 | (dig[6] & 0x0f));
    dig[8] = (uint8_t)(0x80 | (dig[8] & 0x3f));
    uuid_format(dig, out);
}

static int str(kiln_buf *b, const char *s, kiln_err *err) { return kiln_json_write_str(b, s, strlen(s), err); }

static int facet_head(kiln_buf *b, const char *name, const char *schema, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, "\"%s\":{\"_producer\":", name);
    if (!rc)
        rc = str(b, OL_PRODUCER, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"_schemaURL\":");
    if (!rc)
        rc = str(b, schema, err);
    return rc;
}

static int datasets(kiln_buf *b, const kiln_flow_project *p, const kiln_flow_strv *v, kiln_err *err)
{
    int rc = kiln_buf_putc(b, '[', err);
    for (size_t i = 0; i < v->len && !rc; i++) {
        const char *a = v->items[i], *sep = strstr(a, "://");
        char *ns = NULL, *name = NULL;
        if (sep) {
            const char *path = strchr(sep + 3, '/');
            ns = kiln_strndup(a, path ? (size_t)(path - a) : strlen(a));
            name = kiln_strdup(path ? path + 1 : "");
        } else {
            ns = kiln_strdup("file");
            name = a[0] == '/' ? kiln_strdup(a) : kiln_sprintf("%s/%s", p->dir, a);
        }
        if (!ns || !name)
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_buf_printf(b, err, "%s{\"namespace\":", i ? "," : "");
        if (!rc)
            rc = str(b, ns, err);
        if (!rc)
            rc = kiln_buf_printf(b, err, ",\"name\":");
        if (!rc)
            rc = str(b, name, err);
        if (!rc)
            rc = kiln_buf_putc(b, '}', err);
        kiln_free(ns);
        kiln_free(name);
    }
    if (!rc)
        rc = kiln_buf_putc(b, ']', err);
    return rc;
}

int kiln_flow__lineage_emit(const kiln_flow_project *p, const kiln_flow_dag *d, size_t task, const char *run_id,
                            int64_t istart, int64_t iend, const char *try_uuid, const char *event_type,
                            const char *error_msg, kiln_err *err)
{
    if (!p->lineage_file)
        return 0;
    const kiln_flow_task *t = &d->tasks[task];
    kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    char now[40], is[32], ie[32], parent[37], job[512];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    kiln_flow__ts(istart, is);
    kiln_flow__ts(iend, ie);
    snprintf(job, sizeof job, "%s.%s", d->id, t->id);
    char *pname = kiln_sprintf("kiln-dag-run:%s:%s", d->id, run_id);
    if (!pname)
        return KILN_OOM(err);
    uuid_of_name(pname, parent);
    kiln_free(pname);
    int rc = kiln_buf_printf(&b, err, "{\"eventTime\":\"%s\",\"producer\":", now);
    if (!rc)
        rc = str(&b, OL_PRODUCER, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err,
                             ",\"schemaURL\":\"%s\",\"eventType\":\"%s\",\"run\":{\"runId\":\"%s\",\"facets\":{",
                             OL_SCHEMA, event_type, try_uuid);
    if (!rc)
        rc = facet_head(&b, "nominalTime",
                        "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
                        err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"nominalStartTime\":\"%s\",\"nominalEndTime\":\"%s\"},", is, ie);
    if (!rc)
        rc = facet_head(&b, "parent",
                        "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet", err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"run\":{\"runId\":\"%s\"},\"job\":{\"namespace\":\"kiln\",\"name\":", parent);
    if (!rc)
        rc = str(&b, d->id, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}}");
    if (!rc && error_msg) {
        rc = kiln_buf_putc(&b, ',', err);
        if (!rc)
            rc = facet_head(
                &b, "errorMessage",
                "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet", err);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"message\":");
        if (!rc)
            rc = str(&b, error_msg, err);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"programmingLanguage\":\"command\"}");
    }
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}},\"job\":{\"namespace\":\"kiln\",\"name\":");
    if (!rc)
        rc = str(&b, job, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "},\"inputs\":");
    if (!rc)
        rc = datasets(&b, p, &t->consumes, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"outputs\":");
    if (!rc)
        rc = datasets(&b, p, &t->produces, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}\n");
    if (!rc) {
        int fd = open(p->lineage_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
            rc = kiln_err_set(err, KILN_EIO, "lineage file %s: %s", p->lineage_file, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    kiln_buf_free(&b);
    return rc;
}
