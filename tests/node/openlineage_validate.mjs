// openlineage_validate.mjs FILE.ndjson: check every OpenLineage event in
// FILE against the published OpenLineage 2-0-2 JSON schema and, for the
// facets kiln emits, against their facet schemas (tests/data/openlineage/,
// copied from github.com/OpenLineage/OpenLineage spec/, Apache-2.0; see
// the README there). Prints "N events valid" or the errors; exit 1 on any.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "data", "openlineage");
const load = (f) => JSON.parse(readFileSync(join(dir, f), "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const core = load("OpenLineage-2-0-2.json");
ajv.addSchema(core);
const facetFiles = {
  nominalTime: ["NominalTimeRunFacet.json", "NominalTimeRunFacet"],
  parent: ["ParentRunFacet.json", "ParentRunFacet"],
  errorMessage: ["ErrorMessageRunFacet.json", "ErrorMessageRunFacet"],
  schema: ["SchemaDatasetFacet.json", "SchemaDatasetFacet"],
  columnLineage: ["ColumnLineageDatasetFacet.json", "ColumnLineageDatasetFacet"],
};
const facetCheck = {};
for (const [name, [file, def]] of Object.entries(facetFiles)) {
  const s = load(file);
  ajv.addSchema(s);
  facetCheck[name] = ajv.getSchema(`${s.$id}#/$defs/${def}`);
}
const runEvent = ajv.getSchema("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent");
const lines = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim());
let bad = 0, facets = 0;
const report = (i, what, errs) => {
  bad++;
  console.error(`event ${i + 1}: ${what}: ${ajv.errorsText(errs)}`);
};
lines.forEach((l, i) => {
  const ev = JSON.parse(l);
  if (!runEvent(ev)) report(i, "RunEvent", runEvent.errors);
  const check = (where, fs) => {
    for (const [name, f] of Object.entries(fs || {})) {
      const v = facetCheck[name];
      if (!v) continue;
      facets++;
      if (!v(f)) report(i, `${where} facet ${name}`, v.errors);
    }
  };
  check("run", ev.run?.facets);
  for (const d of [...(ev.inputs || []), ...(ev.outputs || [])]) check(`dataset ${d.name}`, d.facets);
});
if (bad) process.exit(1);
console.log(`${lines.length} events valid (${facets} facets checked against their schemas)`);
