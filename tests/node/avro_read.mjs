// avro_read.mjs FILE EXPECTED.ndjson - decode an Avro container file with
// avsc (an independent implementation) and compare every record with the
// NDJSON kiln printed (`kiln avro cat`). Exit 0 and print "ok N records"
// when they agree; exit 1 naming the first difference otherwise.
import avro from 'avsc';
import fs from 'node:fs';
import { parseType, decoders, compare, parseKilnJson } from './avro_common.mjs';

const [file, expectedPath] = process.argv.slice(2);
if (!file || !expectedPath) {
  console.error('usage: node avro_read.mjs FILE EXPECTED.ndjson');
  process.exit(2);
}
const expected = fs
  .readFileSync(expectedPath, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0);

let type = null;
let codec = null;
const records = [];
const dec = avro.createFileDecoder(file, { codecs: decoders, parseHook: (s) => (type = parseType(s)) });
dec.on('metadata', (_t, c) => (codec = c));
dec.on('data', (r) => records.push(r));
dec.on('error', (err) => {
  console.error(`avro_read: avsc cannot decode ${file}: ${err.message}`);
  process.exit(1);
});
dec.on('end', () => {
  if (records.length !== expected.length) {
    console.error(`avro_read: ${file}: avsc read ${records.length} records, kiln ${expected.length}`);
    process.exit(1);
  }
  for (let i = 0; i < records.length; i++) {
    const diff = compare(type, records[i], parseKilnJson(expected[i]));
    if (diff) {
      console.error(`avro_read: ${file}: record ${i}: ${diff}`);
      process.exit(1);
    }
  }
  console.log(`ok ${records.length} records (${codec}) ${file}`);
});
