/*
 * docs_site.h - the static page of `kiln docs generate` (internal to
 * src/models; docs_site_assets.c holds it, docs_site.c fills it in).
 */
#ifndef KILN_MODELS_DOCS_SITE_H
#define KILN_MODELS_DOCS_SITE_H

/* index.html = head, then <script type="application/json" id="kiln-data">
 * with the site's data, then tail. */
extern const char kiln_docs_site_head[];
extern const char kiln_docs_site_tail[];

#endif /* KILN_MODELS_DOCS_SITE_H */
