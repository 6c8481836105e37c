// avro_write.mjs OUTDIR - write Avro container files with avsc (an
// independent implementation) for kiln to read: every Avro type, logical
// types, nested and recursive records, unions, null and deflate codecs,
// small blocks (many per file), an empty file, and an Iceberg manifest list
// with field ids. Each file's metadata "test.count" holds its record count.
import fs from 'node:fs';
import path from 'node:path';
import { parseType, codecs } from './avro_common.mjs';
import avro from 'avsc';

const out = process.argv[2];
if (!out) {
  console.error('usage: node avro_write.mjs OUTDIR');
  process.exit(2);
}

const allSchema = {
  type: 'record',
  name: 'All',
  namespace: 'kiln.test',
  fields: [
    { name: 'n', type: 'null' },
    { name: 'b', type: 'boolean' },
    { name: 'i', type: 'int' },
    { name: 'l', type: 'long' },
    { name: 'f', type: 'float' },
    { name: 'd', type: 'double' },
    { name: 'by', type: 'bytes' },
    { name: 's', type: 'string' },
    { name: 'fx', type: { type: 'fixed', name: 'F3', size: 3 } },
    { name: 'e', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN', 'BLUE'] } },
    { name: 'arr', type: { type: 'array', items: 'long' } },
    { name: 'm', type: { type: 'map', values: ['null', 'double'] } },
    { name: 'opt', type: ['null', 'string'], default: null },
    { name: 'u3', type: ['null', 'long', 'string'] },
    { name: 'date', type: { type: 'int', logicalType: 'date' } },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'dec', type: { type: 'fixed', name: 'Dec', size: 8, logicalType: 'decimal', precision: 15, scale: 2 } },
    { name: 'uuid', type: { type: 'string', logicalType: 'uuid' } },
    {
      name: 'tree',
      type: {
        type: 'record',
        name: 'Node',
        fields: [
          { name: 'label', type: 'string' },
          { name: 'kids', type: { type: 'array', items: 'Node' } },
        ],
      },
    },
    { name: 'again', type: 'F3' },
  ],
};

function bytes(...xs) {
  return Buffer.from(xs);
}

function row(i) {
  const big = [0n, 1n, -1n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n][i % 6];
  return {
    n: null,
    b: i % 2 === 0,
    i: [0, -1, 2147483647, -2147483648, 12345][i % 5],
    l: BigInt.asIntN(64, big + BigInt(i)),
    f: [0, 1.5, -3.25, 3.4028234663852886e38, NaN, Infinity][i % 6],
    d: [0, -0, 0.1, 1e-300, -Infinity, 123456789.125][i % 6],
    by: bytes(...Array.from({ length: i % 5 }, (_, k) => (i * 31 + k * 97) & 255)),
    s: ['', 'plain', 'quote " backslash \\ newline \n tab \t', 'héllo wörld ✓ 𝄞', 'x'.repeat(300)][i % 5],
    fx: bytes(i & 255, 0, 255),
    e: ['RED', 'GREEN', 'BLUE'][i % 3],
    arr: Array.from({ length: i % 4 }, (_, k) => BigInt(k) * -1000000007n),
    m: Object.fromEntries(Array.from({ length: i % 3 }, (_, k) => [`k${k}`, k === 1 ? null : k / 3])),
    opt: i % 2 ? `opt${i}` : null,
    u3: [null, BigInt(i) * 99999999999n, `s${i}`][i % 3],
    date: 19785 + i,
    ts: 1709509920000000n + BigInt(i),
    dec: (() => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(i) * 12345n - 5000n);
      return b;
    })(),
    uuid: '123e4567-e89b-12d3-a456-4266141740' + String(i % 100).padStart(2, '0'),
    tree: { label: 'root', kids: i % 2 ? [{ label: 'a', kids: [{ label: 'a1', kids: [] }] }, { label: 'b', kids: [] }] : [] },
    again: bytes(1, 2, 3),
  };
}

const manifestListSchema = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', doc: 'Location URI with FS scheme', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    {
      name: 'partitions',
      type: [
        'null',
        {
          type: 'array',
          items: {
            type: 'record',
            name: 'r508',
            fields: [
              { name: 'contains_null', type: 'boolean', 'field-id': 509 },
              { name: 'lower_bound', type: ['null', 'bytes'], default: null, 'field-id': 510 },
            ],
          },
          'element-id': 508,
        },
      ],
      default: null,
      'field-id': 507,
    },
  ],
};

function write(file, schema, rows, opts) {
  return new Promise((resolve, reject) => {
    const type = parseType(schema);
    const enc = new avro.streams.BlockEncoder(type, {
      codec: opts.codec,
      codecs,
      blockSize: opts.blockSize || 65536,
      writeHeader: 'always',
      metadata: { 'test.count': Buffer.from(String(rows.length)), ...(opts.metadata || {}) },
    });
    const os = fs.createWriteStream(path.join(out, file));
    enc.pipe(os);
    os.on('finish', resolve);
    os.on('error', reject);
    enc.on('error', reject);
    for (const r of rows) enc.write(r);
    enc.end();
  });
}

const rows = Array.from({ length: 240 }, (_, i) => row(i));
await write('avsc-all-null.avro', allSchema, rows, { codec: 'null' });
await write('avsc-all-deflate-smallblocks.avro', allSchema, rows, { codec: 'deflate', blockSize: 600 });
await write('avsc-empty.avro', allSchema, [], { codec: 'deflate' });
await write('avsc-primitive-long.avro', 'long', [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)], { codec: 'null' });
await write(
  'avsc-manifest-list.avro',
  manifestListSchema,
  [
    { manifest_path: 's3://b/t/metadata/m0.avro', manifest_length: 7863n, partition_spec_id: 0, added_snapshot_id: 2354745328521181395n, partitions: null },
    { manifest_path: 'm1.avro', manifest_length: 1n, partition_spec_id: 3, added_snapshot_id: 1n, partitions: [{ contains_null: true, lower_bound: bytes(0x49, 0x4d, 0, 0) }, { contains_null: false, lower_bound: null }] },
  ],
  { codec: 'deflate', metadata: { 'format-version': Buffer.from('2'), 'snapshot-id': Buffer.from('2354745328521181395') } }
);
console.log(`avro_write: wrote 5 files to ${out}`);
