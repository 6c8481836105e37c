// dbt_schema_validate.mjs - check dbt artifacts (manifest.json, run_results.json,
// catalog.json, sources.json) against dbt's published JSON schemas with ajv,
// an independent validator (draft 2020-12). Usage:
//   node dbt_schema_validate.mjs SCHEMA.json ARTIFACT.json [SCHEMA ARTIFACT...]
// Prints every violation and exits 1 when any artifact does not conform.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2) {
  console.error("usage: dbt_schema_validate.mjs SCHEMA ARTIFACT [SCHEMA ARTIFACT...]");
  process.exit(2);
}
let bad = 0;
for (let i = 0; i < args.length; i += 2) {
  const schema = JSON.parse(readFileSync(args[i], "utf8"));
  const doc = JSON.parse(readFileSync(args[i + 1], "utf8"));
  // strict off: dbt's schemas carry keywords ajv's strict mode rejects
  // (e.g. "title" inside anyOf branches is fine, but unknown formats are not).
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  if (validate(doc)) {
    console.log(`ok ${args[i + 1]} against ${args[i]}`);
    continue;
  }
  bad++;
  let errors = validate.errors;
  // A node that matches none of the manifest's node kinds gives one
  // "anyOf" error per kind: check it against its own kind's schema instead,
  // so the report says what is wrong with it.
  const branches = schema.properties?.nodes?.additionalProperties?.anyOf;
  if (branches && doc.nodes) {
    const title = (n) => ({ model: "ModelNode", seed: "SeedNode", snapshot: "SnapshotNode", analysis: "AnalysisNode",
                            test: n.test_metadata ? "GenericTestNode" : "SingularTestNode" })[n.resource_type];
    const detail = [];
    for (const [id, n] of Object.entries(doc.nodes)) {
      const b = branches.find((x) => x.title === title(n));
      if (!b) continue;
      const v = ajv.compile({ ...b, $schema: undefined });
      if (!v(n)) for (const e of v.errors) detail.push({ ...e, instancePath: `/nodes/${id}${e.instancePath}` });
    }
    errors = detail.concat(errors.filter((e) => !e.instancePath.startsWith("/nodes/")));
  }
  const seen = new Set();
  for (const e of errors) {
    const line = `${e.instancePath || "/"}: ${e.message} ${JSON.stringify(e.params)}`;
    if (seen.has(line)) continue;
    seen.add(line);
    if (seen.size > 200) break;
    console.error(`${args[i + 1]}${line}`);
  }
  console.error(`FAIL ${args[i + 1]} does not conform to ${args[i]} (${validate.errors.length} errors)`);
}
process.exit(bad ? 1 : 0);
