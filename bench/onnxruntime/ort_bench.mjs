// Times one ONNX backend-test case (CASE_DIR/model.onnx, test_data_set_0/input_K.pb,
// output_0.pb) in ONNX Runtime (npm onnxruntime-node), the peer of `kiln run CASE_DIR --bench`.
//
//   node ort_bench.mjs CASE_DIR [--threads N] [--runs R] [--warmup W]
//
// Prints `PASS NAME max_abs_diff=D` and `median_ms=X min_ms=Y max_ms=Z`; exits 1 with FAIL
// when output 0 is off by more than rtol 1e-3 / atol 1e-5. onnxruntime-node is looked up
// in $KILN_ORT_DIR/node_modules, then <repo>/build/onnxruntime/node_modules, then as usual.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RTOL = 1e-3;
const ATOL = 1e-5;

function usage(msg) {
  if (msg) console.error(`ort_bench: ${msg}`);
  console.error('usage: node ort_bench.mjs CASE_DIR [--threads N] [--runs R] [--warmup W]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { caseDir: null, threads: 1, runs: 50, warmup: 3 };
  const counts = { '--threads': 'threads', '--runs': 'runs', '--warmup': 'warmup' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a in counts) {
      const v = argv[++i];
      const n = Number(v);
      const min = a === '--warmup' ? 0 : 1;
      if (v === undefined || !Number.isInteger(n) || n < min) usage(`${a} takes an integer >= ${min}, got '${v}'`);
      args[counts[a]] = n;
    } else if (a === '-h' || a === '--help') {
      usage();
    } else if (a.startsWith('-') || args.caseDir !== null) {
      usage(`unexpected argument '${a}'`);
    } else {
      args.caseDir = a;
    }
  }
  if (args.caseDir === null) usage('CASE_DIR missing');
  return args;
}

function loadOrt() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dirs = [process.env.KILN_ORT_DIR, path.resolve(here, '../../build/onnxruntime'), here].filter(Boolean);
  for (const dir of dirs) {
    if (existsSync(path.join(dir, 'node_modules', 'onnxruntime-node'))) {
      return createRequire(path.join(dir, 'package.json'))('onnxruntime-node');
    }
  }
  try {
    return createRequire(import.meta.url)('onnxruntime-node');
  } catch {
    console.error(`ort_bench: onnxruntime-node not found (looked in ${dirs.join(', ')}); run scripts/bench-onnxruntime once`);
    process.exit(2);
  }
}

// --- TensorProto decoding (protobuf wire format) ---------------------------------------

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.b = bytes;
    this.pos = start;
    this.end = end;
  }
  done() { return this.pos >= this.end; }
  // Varints as BigInt: int64 values and negative int32 values take 10 bytes.
  varint() {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.b[this.pos++];
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  }
  bytes(n) {
    if (n < 0 || this.pos + n > this.end) throw new Error('truncated field');
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.bytes(8);
    else if (wire === 2) this.bytes(Number(this.varint()));
    else if (wire === 5) this.bytes(4);
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

// ONNX TensorProto.DataType -> [onnxruntime type, typed array, element bytes]
const DTYPES = {
  1: ['float32', Float32Array, 4],
  2: ['uint8', Uint8Array, 1],
  3: ['int8', Int8Array, 1],
  4: ['uint16', Uint16Array, 2],
  5: ['int16', Int16Array, 2],
  6: ['int32', Int32Array, 4],
  7: ['int64', BigInt64Array, 8],
  9: ['bool', Uint8Array, 1],
  10: ['float16', Uint16Array, 2], // bit patterns
  11: ['float64', Float64Array, 8],
  12: ['uint32', Uint32Array, 4],
  13: ['uint64', BigUint64Array, 8],
};

function decodeTensor(file) {
  const b = new Uint8Array(readFileSync(file));
  const r = new Reader(b);
  const dims = [];
  const f32 = [], f64 = [], i32 = [], i64 = [], u64 = [];
  let dataType = 0;
  let name = '';
  let raw = null;
  let external = false;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // A repeated scalar field, packed (wire 2) or one value per tag.
  const repeated = (wire, one, sink) => {
    if (wire === 2) {
      const [s, e] = r.bytes(Number(r.varint()));
      const sub = new Reader(b, s, e);
      while (!sub.done()) sink.push(one(sub));
    } else {
      sink.push(one(r));
    }
  };
  const fixed32f = (rd) => { const [s] = rd.bytes(4); return view.getFloat32(s, true); };
  const fixed64f = (rd) => { const [s] = rd.bytes(8); return view.getFloat64(s, true); };
  const vint = (rd) => rd.varint();
  while (!r.done()) {
    const key = Number(r.varint());
    const field = key >>> 3;
    const wire = key & 7;
    switch (field) {
      case 1: repeated(wire, vint, dims); break;
      case 2: dataType = Number(r.varint()); break;
      case 4: repeated(wire, fixed32f, f32); break;
      case 5: repeated(wire, vint, i32); break;
      case 7: repeated(wire, vint, i64); break;
      case 8: { const [s, e] = r.bytes(Number(r.varint())); name = new TextDecoder().decode(b.subarray(s, e)); break; }
      case 9: { const [s, e] = r.bytes(Number(r.varint())); raw = b.slice(s, e); break; } // copy: aligned
      case 10: repeated(wire, fixed64f, f64); break;
      case 11: repeated(wire, vint, u64); break;
      case 14: external = Number(r.varint()) === 1; break;
      default: r.skip(wire);
    }
  }
  if (external) throw new Error(`${file}: external data is not supported`);
  const dt = DTYPES[dataType];
  if (!dt) throw new Error(`${file}: unsupported data_type ${dataType}`);
  const [type, Arr, size] = dt;
  const shape = dims.map((d) => Number(BigInt.asIntN(64, d)));
  const count = shape.reduce((a, d) => a * d, 1);
  let data;
  if (raw !== null) {
    if (raw.length !== count * size) throw new Error(`${file}: raw_data has ${raw.length} bytes, expected ${count * size}`);
    data = new Arr(raw.buffer, 0, count); // little-endian host assumed
  } else if (dataType === 1) {
    data = Float32Array.from(f32);
  } else if (dataType === 11) {
    data = Float64Array.from(f64);
  } else if (dataType === 7) {
    data = BigInt64Array.from(i64, (v) => BigInt.asIntN(64, v));
  } else if (dataType === 12 || dataType === 13) {
    data = dataType === 13 ? BigUint64Array.from(u64) : Uint32Array.from(u64, Number);
  } else {
    // int32_data carries int32, int16, int8, uint16, uint8, bool and float16 bits
    data = Arr.from(i32, (v) => Number(BigInt.asIntN(32, v)));
  }
  if (data.length !== count) throw new Error(`${file}: ${data.length} values for shape [${shape}]`);
  return { name, type, shape, data };
}

// --- comparison -------------------------------------------------------------------------

function f16ToNumber(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// Returns { maxAbs, bad: first violating index or -1, detail }.
function compare(got, want) {
  if (got.type !== want.type) return { maxAbs: NaN, bad: 0, detail: `type ${got.type}, expected ${want.type}` };
  const gs = got.dims.join(','), ws = want.shape.join(',');
  if (gs !== ws) return { maxAbs: NaN, bad: 0, detail: `shape [${gs}], expected [${ws}]` };
  const num = want.type === 'float16' ? f16ToNumber : Number;
  let maxAbs = 0;
  let bad = -1;
  for (let i = 0; i < want.data.length; ++i) {
    const a = num(got.data[i]);
    const e = num(want.data[i]);
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) !== Number.isNaN(e) && bad < 0) bad = i;
      continue;
    }
    if (a === e) continue; // also equal infinities
    const d = Math.abs(a - e);
    if (d > maxAbs) maxAbs = d;
    if (!(d <= ATOL + RTOL * Math.abs(e)) && bad < 0) bad = i;
  }
  const detail = bad < 0 ? '' : `element ${bad}: ${num(got.data[bad])}, expected ${num(want.data[bad])}`;
  return { maxAbs, bad, detail };
}

// --- main -------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const caseDir = path.resolve(args.caseDir);
  const caseName = path.basename(caseDir);
  const dataDir = path.join(caseDir, 'test_data_set_0');
  const ort = loadOrt();

  const session = await ort.InferenceSession.create(path.join(caseDir, 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3, // errors only: no opset warnings
  });

  const feeds = {};
  session.inputNames.forEach((name, k) => {
    const file = path.join(dataDir, `input_${k}.pb`);
    if (!existsSync(file)) throw new Error(`${file} missing (input '${name}')`);
    const t = decodeTensor(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.shape);
  });

  const outName = session.outputNames[0];
  const want = decodeTensor(path.join(dataDir, 'output_0.pb'));
  const first = await session.run(feeds);
  const cmp = compare(first[outName], want);
  if (cmp.bad >= 0) {
    console.log(`FAIL ${caseName}: output 0 '${outName}' max_abs_diff=${cmp.maxAbs.toExponential(3)}: ${cmp.detail} (rtol ${RTOL}, atol ${ATOL})`);
    process.exit(1);
  }
  console.log(`PASS ${caseName} max_abs_diff=${cmp.maxAbs.toExponential(3)}`);

  for (let i = 0; i < args.warmup; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < args.runs; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const n = ms.length;
  const median = n % 2 ? ms[(n - 1) / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  console.log(`median_ms=${median.toFixed(4)} min_ms=${ms[0].toFixed(4)} max_ms=${ms[n - 1].toFixed(4)}`);
  await session.release();
}

main().catch((e) => {
  console.error(`ort_bench: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
