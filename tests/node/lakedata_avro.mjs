// lakedata_avro.mjs - check the manifest lists and manifests of a kiln
// Iceberg table with an independent Avro reader (avsc): every file decodes,
// the embedded schemas carry the v2 field ids, the partition struct's ids
// are the spec's, and the manifest-list counts match the manifests.
//
//   node tests/node/lakedata_avro.mjs TABLE_DIR
// Prints one JSON summary line; exits 1 with a message on any mismatch.
import avro from 'avsc';
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) { console.error('usage: lakedata_avro.mjs TABLE_DIR'); process.exit(2); }
const fail = (msg) => { console.error('lakedata_avro: ' + msg); process.exit(1); };
const local = (uri) => uri.startsWith('file://') ? uri.slice(7) : uri;

const hint = fs.readFileSync(path.join(dir, 'metadata', 'version-hint.text'), 'utf8').trim();
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'metadata', `v${hint}.metadata.json`), 'utf8'));

function readAvro(file) {
  return new Promise((resolve, reject) => {
    const recs = [];
    let header = null;
    avro.createFileDecoder(file)
      .on('metadata', (type, codec, hdr) => { header = hdr; })
      .on('data', (r) => recs.push(r))
      .on('error', reject)
      .on('end', () => resolve({ recs, header }));
  });
}

function ids(fields) { return fields.map((f) => f['field-id']); }
function nonNull(t) { return Array.isArray(t) ? t.find((b) => b !== 'null') : t; }

const LIST_IDS = [500, 501, 502, 517, 515, 516, 503, 504, 505, 506, 512, 513, 514, 507, 519];
const ENTRY_IDS = [0, 1, 3, 4, 2];
const DF_IDS = [134, 100, 101, 102, 103, 104, 108, 109, 110, 137, 125, 128, 131, 132, 135, 140];
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

let lists = 0, manifests = 0, entries = 0;
const seenManifests = new Set();
for (const snap of meta.snapshots || []) {
  const lp = local(snap['manifest-list']);
  const { recs, header } = await readAvro(lp);
  lists++;
  const ls = JSON.parse(header.meta['avro.schema'].toString());
  if (!same(ids(ls.fields), LIST_IDS)) fail(`${lp}: manifest list field ids ${ids(ls.fields)}`);
  const parts = nonNull(ls.fields.find((f) => f['field-id'] === 507).type);
  if (parts['element-id'] !== 508) fail(`${lp}: partitions element-id ${parts['element-id']}`);
  if (!same(ids(parts.items.fields), [509, 518, 510, 511])) fail(`${lp}: field summary ids`);
  if (header.meta['format-version'].toString() !== '2') fail(`${lp}: format-version`);
  if (header.meta['snapshot-id'].toString() !== String(snap['snapshot-id'])) fail(`${lp}: snapshot-id metadata`);
  if (header.meta['sequence-number'].toString() !== String(snap['sequence-number'])) fail(`${lp}: sequence-number metadata`);
  for (const m of recs) {
    if (m.sequence_number > snap['sequence-number']) fail(`${lp}: manifest seq above the snapshot's`);
    if (seenManifests.has(m.manifest_path)) continue;
    seenManifests.add(m.manifest_path);
    const mp = local(m.manifest_path);
    if (fs.statSync(mp).size !== m.manifest_length) fail(`${mp}: manifest_length ${m.manifest_length} != file size`);
    const { recs: es, header: mh } = await readAvro(mp);
    manifests++;
    const ms = JSON.parse(mh.meta['avro.schema'].toString());
    if (!same(ids(ms.fields), ENTRY_IDS)) fail(`${mp}: entry field ids ${ids(ms.fields)}`);
    const df = ms.fields.find((f) => f['field-id'] === 2).type;
    if (!same(ids(df.fields), DF_IDS)) fail(`${mp}: data_file field ids ${ids(df.fields)}`);
    const spec = meta['partition-specs'].find((s) => s['spec-id'] === m.partition_spec_id);
    const pt = df.fields.find((f) => f['field-id'] === 102).type;
    if (!same(ids(pt.fields), spec.fields.map((f) => f['field-id']))) fail(`${mp}: partition field ids`);
    const mspec = JSON.parse(mh.meta['partition-spec'].toString());
    if (!same(mspec.map((f) => f['field-id']), spec.fields.map((f) => f['field-id']))) fail(`${mp}: partition-spec metadata`);
    if (mh.meta['format-version'].toString() !== '2') fail(`${mp}: format-version`);
    const content = mh.meta.content.toString();
    if (content !== (m.content ? 'deletes' : 'data')) fail(`${mp}: content ${content}`);
    JSON.parse(mh.meta.schema.toString());
    const counts = [0, 0, 0];
    for (const e of es) {
      counts[e.status]++;
      entries++;
      if (e.status === 1 && (e.sequence_number !== null || e.file_sequence_number !== null)) fail(`${mp}: ADDED entry with explicit sequence numbers`);
      if (e.status !== 1 && (e.sequence_number === null || e.file_sequence_number === null)) fail(`${mp}: non-ADDED entry without sequence numbers`);
      if (!e.data_file.file_path.startsWith('file:///')) fail(`${mp}: file_path not an absolute URI`);
      if (e.data_file.file_format !== 'PARQUET') fail(`${mp}: file_format ${e.data_file.file_format}`);
      if (!fs.existsSync(local(e.data_file.file_path)) && e.status !== 2) fail(`${mp}: live file missing ${e.data_file.file_path}`);
    }
    if (counts[1] !== m.added_files_count || counts[0] !== m.existing_files_count || counts[2] !== m.deleted_files_count)
      fail(`${mp}: counts ${counts} vs list ${m.added_files_count}/${m.existing_files_count}/${m.deleted_files_count}`);
  }
}
console.log(JSON.stringify({ ok: true, manifest_lists: lists, manifests, entries }));
