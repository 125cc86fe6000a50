/**
 * Goal: every particle type (§4 of the protocol reference) and Aerospike's msgpack flavour for
 * list/map particles (client/protocol/particle.ts, msgpack.ts) encode to the bytes the official
 * client uses and decode back to the same JS value.
 *
 * Method: explicit values and explicit bytes for each particle type and for every msgpack header
 * size boundary; fast-check round trips of arbitrary nested values, compared with a model of the
 * documented JS mapping (`expectedDecoded`); readInteger against BigInt.asIntN for 1..8 byte
 * inputs. Where the official client's native addon loads, its own msgpack packer (reached through
 * `contextToBase64` of a CDT context holding the value, which needs no server) is the reference:
 * lists and scalars must match byte for byte, and the maps it writes (always ordered, with the
 * ext flags pair) must decode to the same values.
 */
import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BinValue,
  decodeParticle,
  Double,
  doubleParticle,
  encodeParticle,
  GeoJSON,
  integerParticle,
  packValue,
  ParticleType,
  ProtocolError,
  readInteger,
  unpackValue,
} from "../../client/protocol/index.js";
import { hex } from "./fixtures/captured-frames.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const isSafe = (v: bigint): boolean => v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The value decoding gives back for `v` (the documented mapping): safe integers stay numbers (-0
 * becomes 0, as integers have no sign of zero), bigints come back as numbers when safe, Double
 * becomes its number, undefined becomes null, and maps whose keys all decode to strings (other than
 * "__proto__") become plain objects; other maps stay Maps.
 */
function expectedDecoded(v: BinValue | undefined): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return Number.isSafeInteger(v) ? v + 0 : v;
  if (typeof v === "bigint") return isSafe(v) ? Number(v) : v;
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (v instanceof Double) return v.value;
  if (v instanceof GeoJSON) return new GeoJSON(v.json);
  if (Array.isArray(v)) return v.map(expectedDecoded);
  const entries: [unknown, unknown][] =
    v instanceof Map
      ? [...v].map(([k, x]) => [expectedDecoded(k), expectedDecoded(x)])
      : Object.keys(v).map((k) => [k, expectedDecoded((v as Record<string, BinValue>)[k])]);
  if (entries.every(([k]) => typeof k === "string" && k !== "__proto__")) {
    const obj: Record<string, unknown> = {};
    for (const [k, x] of entries) obj[k as string] = x;
    return obj;
  }
  return new Map(entries);
}

/** Expects `fn` to throw a ProtocolError (and nothing else). */
function expectProtocolError(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
}

const roundTrip = (v: BinValue): BinValue => {
  const p = encodeParticle(v);
  return decodeParticle(p.type, p.data);
};

// ---------------------------------------------------------------------------------------------
// Scalars

describe("INTEGER (1)", () => {
  it("is 8 bytes big-endian two's complement", () => {
    expect(encodeParticle(1)).toEqual({ type: ParticleType.INTEGER, data: hex("00 00 00 00 00 00 00 01") });
    expect(encodeParticle(-1).data).toEqual(hex("ff ff ff ff ff ff ff ff"));
    expect(encodeParticle(INT64_MIN).data).toEqual(hex("80 00 00 00 00 00 00 00"));
    expect(encodeParticle(INT64_MAX).data).toEqual(hex("7f ff ff ff ff ff ff ff"));
    expect(integerParticle(256)).toEqual(encodeParticle(256n));
  });

  it("round trips numbers as numbers and bigints beyond the safe range as bigints", () => {
    for (const v of [0, 1, -1, 255, -256, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      expect(roundTrip(v)).toBe(v);
    }
    for (const v of [INT64_MIN, INT64_MAX, 2n ** 53n, -(2n ** 53n), 2n ** 62n + 12345n]) {
      expect(roundTrip(v)).toBe(v);
    }
    expect(roundTrip(5n)).toBe(5); // a safe bigint comes back as a number
  });

  it("round trips arbitrary int64 bigints (fast-check)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (v) => {
        const p = encodeParticle(v);
        expect(p.type).toBe(ParticleType.INTEGER);
        expect(p.data.readBigInt64BE(0)).toBe(v);
        expect(decodeParticle(p.type, p.data)).toEqual(expectedDecoded(v));
      }),
    );
  });

  it("rejects integers outside int64 with a ProtocolError", () => {
    expectProtocolError(() => encodeParticle(INT64_MAX + 1n));
    expectProtocolError(() => encodeParticle(INT64_MIN - 1n));
    expectProtocolError(() => packValue([2n ** 64n]));
  });

  it("readInteger sign-extends 1..8 byte inputs (fast-check against BigInt.asIntN)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 8 }), (a) => {
        const data = Buffer.from(a);
        const unsigned = BigInt("0x" + data.toString("hex"));
        const expected = BigInt.asIntN(data.length * 8, unsigned);
        expect(readInteger(data)).toBe(expected);
        expect(decodeParticle(ParticleType.INTEGER, data)).toEqual(isSafe(expected) ? Number(expected) : expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("readInteger: explicit short inputs", () => {
    expect(readInteger(hex("ff"))).toBe(-1n);
    expect(readInteger(hex("80"))).toBe(-128n);
    expect(readInteger(hex("7f"))).toBe(127n);
    expect(readInteger(hex("00 80"))).toBe(128n);
    expect(readInteger(hex("ff fe"))).toBe(-2n);
    expect(readInteger(hex("80 00 00"))).toBe(-(2n ** 23n));
    expect(readInteger(hex("ff ff ff ff ff ff ff"))).toBe(-1n);
    expect(readInteger(hex("80 00 00 00 00 00 00 00"))).toBe(INT64_MIN);
  });

  it("an integer particle of 0 or more than 8 bytes is a ProtocolError", () => {
    expectProtocolError(() => readInteger(Buffer.alloc(0)));
    expectProtocolError(() => readInteger(Buffer.alloc(9)));
    expectProtocolError(() => decodeParticle(ParticleType.INTEGER, Buffer.alloc(0)));
    expectProtocolError(() => decodeParticle(ParticleType.INTEGER, Buffer.alloc(16)));
  });
});

describe("DOUBLE (2)", () => {
  it("is 8 bytes big-endian IEEE-754; Double(1) stays DOUBLE", () => {
    expect(encodeParticle(new Double(1))).toEqual({ type: ParticleType.DOUBLE, data: hex("3f f0 00 00 00 00 00 00") });
    expect(doubleParticle(1)).toEqual(encodeParticle(new Double(1)));
    expect(encodeParticle(1.5)).toEqual({ type: ParticleType.DOUBLE, data: hex("3f f8 00 00 00 00 00 00") });
    expect(encodeParticle(1).type).toBe(ParticleType.INTEGER); // integral numbers are integers, as in the official client
    expect(roundTrip(new Double(1))).toBe(1);
  });

  it("round trips NaN, ±Infinity, -0 (as Double) and extremes", () => {
    expect(roundTrip(NaN)).toBeNaN();
    expect(encodeParticle(NaN).type).toBe(ParticleType.DOUBLE);
    expect(roundTrip(Infinity)).toBe(Infinity);
    expect(roundTrip(-Infinity)).toBe(-Infinity);
    expect(encodeParticle(new Double(-0)).data).toEqual(hex("80 00 00 00 00 00 00 00"));
    expect(Object.is(roundTrip(new Double(-0)), -0)).toBe(true);
    for (const v of [Number.MIN_VALUE, -Number.MAX_VALUE, 0.1, -123.456, 2 ** 53, 1e300]) {
      expect(roundTrip(v)).toBe(v);
    }
  });

  it("a plain -0 is the integer 0 (the official client sends it as integer too)", () => {
    expect(encodeParticle(-0)).toEqual({ type: ParticleType.INTEGER, data: Buffer.alloc(8) });
    expect(packValue([-0])).toEqual(hex("91 00"));
  });

  it("an integral number beyond the safe range is a DOUBLE (documented: it cannot be an exact integer)", () => {
    expect(encodeParticle(2 ** 53).type).toBe(ParticleType.DOUBLE);
    expect(encodeParticle(-(2 ** 60)).type).toBe(ParticleType.DOUBLE);
  });

  it("round trips arbitrary doubles bit for bit when wrapped in Double (fast-check)", () => {
    fc.assert(
      fc.property(fc.double(), (v) => {
        const p = encodeParticle(new Double(v));
        expect(p.type).toBe(ParticleType.DOUBLE);
        expect(Object.is(decodeParticle(p.type, p.data), v)).toBe(true);
      }),
    );
  });

  it("a double particle that is not 8 bytes is a ProtocolError", () => {
    expectProtocolError(() => decodeParticle(ParticleType.DOUBLE, Buffer.alloc(4)));
    expectProtocolError(() => decodeParticle(ParticleType.DOUBLE, Buffer.alloc(9)));
  });
});

describe("STRING (3), BLOB (4 and 7..12), HLL (18), BOOL (17), NULL (0)", () => {
  it("strings are UTF-8 without terminator", () => {
    expect(encodeParticle("k1")).toEqual({ type: ParticleType.STRING, data: Buffer.from("k1") });
    for (const s of ["", "x", "héllo", "日本語", "😀 emoji", "a\u0000b", "\u{10ffff}"]) {
      expect(roundTrip(s)).toBe(s);
      expect(encodeParticle(s).data).toEqual(Buffer.from(s, "utf8"));
    }
  });

  it("round trips arbitrary strings (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(roundTrip(s)).toBe(s);
      }),
    );
  });

  it("blobs are raw bytes; the decoded Buffer is a copy of the particle bytes", () => {
    const data = hex("00 01 ff 80");
    expect(encodeParticle(data)).toEqual({ type: ParticleType.BLOB, data });
    const wire = Buffer.from(data);
    const decoded = decodeParticle(ParticleType.BLOB, wire) as Buffer;
    expect(decoded).toEqual(data);
    wire.fill(0);
    expect(decoded).toEqual(data);
    expect(roundTrip(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
  });

  it("language blobs (7..12) and HLL (18) decode as Buffers", () => {
    for (const t of [7, 8, 9, 10, 11, 12, ParticleType.HLL]) {
      expect(decodeParticle(t, hex("01 02 03"))).toEqual(hex("01 02 03"));
    }
  });

  it("booleans are one byte 0/1; other lengths are ProtocolErrors", () => {
    expect(encodeParticle(true)).toEqual({ type: ParticleType.BOOL, data: hex("01") });
    expect(encodeParticle(false)).toEqual({ type: ParticleType.BOOL, data: hex("00") });
    expect(roundTrip(true)).toBe(true);
    expect(roundTrip(false)).toBe(false);
    expectProtocolError(() => decodeParticle(ParticleType.BOOL, Buffer.alloc(0)));
    expectProtocolError(() => decodeParticle(ParticleType.BOOL, Buffer.alloc(2)));
  });

  it("null (and undefined) is type 0 with no bytes", () => {
    expect(encodeParticle(null)).toEqual({ type: ParticleType.NULL, data: Buffer.alloc(0) });
    expect(encodeParticle(undefined)).toEqual({ type: ParticleType.NULL, data: Buffer.alloc(0) });
    expect(decodeParticle(ParticleType.NULL, Buffer.alloc(0))).toBeNull();
  });

  it("a value with no particle is a ProtocolError", () => {
    expectProtocolError(() => encodeParticle((() => 1) as unknown as BinValue));
    expectProtocolError(() => encodeParticle(Symbol("x") as unknown as BinValue));
  });
});

describe("GEOJSON (23)", () => {
  const json = '{"type":"Point","coordinates":[1,2]}';

  it("is [flags 0][ncells 0][json] on encode", () => {
    const p = encodeParticle(new GeoJSON(json));
    expect(p.type).toBe(ParticleType.GEOJSON);
    expect(p.data).toEqual(Buffer.concat([hex("00 00 00"), Buffer.from(json)]));
    expect(roundTrip(new GeoJSON(json))).toEqual(new GeoJSON(json));
  });

  it("skips the cell ids a server sends", () => {
    const data = Buffer.concat([hex("00 00 02"), Buffer.alloc(16, 0xab), Buffer.from(json)]);
    expect(decodeParticle(ParticleType.GEOJSON, data)).toEqual(new GeoJSON(json));
  });

  it("truncated headers and cell arrays are ProtocolErrors", () => {
    expectProtocolError(() => decodeParticle(ParticleType.GEOJSON, hex("00 00")));
    expectProtocolError(() => decodeParticle(ParticleType.GEOJSON, Buffer.concat([hex("00 00 02"), Buffer.alloc(15)])));
    expectProtocolError(() => decodeParticle(ParticleType.GEOJSON, hex("00 ff ff")));
  });
});

// ---------------------------------------------------------------------------------------------
// LIST (20) and MAP (19): Aerospike msgpack

describe("LIST and MAP particles", () => {
  it("arrays are LIST, objects and Maps are MAP, nested values round trip", () => {
    const list = [1, "a", hex("01 02"), [true, null, 1.5], { b: [2n ** 60n] }, new GeoJSON("{}")];
    expect(encodeParticle(list).type).toBe(ParticleType.LIST);
    expect(roundTrip(list)).toEqual(expectedDecoded(list));
    const obj = { a: 1, b: "x", c: { d: [1, 2, 3] }, e: new Double(2) };
    expect(encodeParticle(obj).type).toBe(ParticleType.MAP);
    expect(roundTrip(obj)).toEqual({ a: 1, b: "x", c: { d: [1, 2, 3] }, e: 2 });
    const map = new Map<BinValue, BinValue>([[1, "one"], ["two", 2], [hex("ff"), [1]], [[1, 2], { x: 1 }]]);
    expect(encodeParticle(map).type).toBe(ParticleType.MAP);
    const back = roundTrip(map);
    expect(back).toBeInstanceOf(Map);
    expect(back).toEqual(expectedDecoded(map));
    // A Map whose keys are all strings decodes as an object, as the official client returns maps.
    expect(roundTrip(new Map([["k", 1]]))).toEqual({ k: 1 });
    expect(roundTrip(new Map())).toEqual({});
    expect(roundTrip([])).toEqual([]);
  });

  it("a map with a __proto__ key decodes as a Map (no prototype pollution)", () => {
    const m = new Map([["__proto__", { polluted: true }]]);
    const back = roundTrip(m) as Map<string, unknown>;
    expect(back).toBeInstanceOf(Map);
    expect(back.get("__proto__")).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("Aerospike msgpack convention, explicit bytes", () => {
  it("a string in a list is a str of len+1 starting with 0x03", () => {
    expect(packValue(["ab"])).toEqual(hex("91 a3 03 61 62"));
    expect(packValue([""])).toEqual(hex("91 a1 03"));
    expect(unpackValue(hex("91 a3 03 61 62"))).toEqual(["ab"]);
  });

  it("a blob uses the str family with 0x04; GeoJSON with 23 (0x17)", () => {
    expect(packValue([hex("01 02")])).toEqual(hex("91 a3 04 01 02"));
    expect(packValue([Buffer.alloc(0)])).toEqual(hex("91 a1 04"));
    expect(packValue([new GeoJSON("{}")])).toEqual(hex("91 a3 17 7b 7d"));
    expect(unpackValue(hex("91 a3 04 01 02"))).toEqual([hex("01 02")]);
    expect(unpackValue(hex("91 a3 17 7b 7d"))).toEqual([new GeoJSON("{}")]);
  });

  it("a str with another type byte is bytes (language blobs); an empty str is ''", () => {
    expect(unpackValue(hex("91 a3 07 01 02"))).toEqual([hex("01 02")]);
    expect(unpackValue(hex("91 a0"))).toEqual([""]);
    // Plain msgpack text has no type byte: its first byte is taken as one (Aerospike semantics).
    expect(unpackValue(hex("91 a2 61 62"))).toEqual([hex("62")]);
  });

  it("maps: keys are typed strings; ints and doubles are plain msgpack", () => {
    expect(packValue({ a: 1 })).toEqual(hex("81 a2 03 61 01"));
    expect(packValue(new Map([[1, "a"]]))).toEqual(hex("81 01 a2 03 61"));
    expect(packValue([new Double(1), 1.5, true, false, null])).toEqual(
      hex("95 cb 3ff0000000000000 cb 3ff8000000000000 c3 c2 c0"),
    );
  });

  it("the ordered-map flags pair (ext key, nil value) is skipped on decode, wherever its ext form", () => {
    // Bytes the official client writes for {a: 1}, {} and Map {1 => 'a'}.
    expect(unpackValue(hex("82 c7 00 01 c0 a2 03 61 01"))).toEqual({ a: 1 });
    expect(unpackValue(hex("81 c7 00 01 c0"))).toEqual({});
    expect(unpackValue(hex("82 c7 00 01 c0 01 a2 03 61"))).toEqual(new Map([[1, "a"]]));
    expect(unpackValue(hex("82 d4 03 00 c0 a2 03 61 01"))).toEqual({ a: 1 }); // fixext1 form, flags 3
    expect(unpackValue(hex("82 c8 00 00 01 c0 a2 03 61 01"))).toEqual({ a: 1 }); // ext16 form
    expect(unpackValue(hex("92 c7 00 01 c0"))).toEqual([null, null]); // outside a map key, an ext reads as null
  });

  it("integers use the smallest encoding, as the official client does", () => {
    const cases: [number | bigint, string][] = [
      [0, "00"], [127, "7f"], [128, "cc80"], [255, "ccff"], [256, "cd0100"], [65535, "cdffff"],
      [65536, "ce00010000"], [2 ** 32 - 1, "ceffffffff"], [2 ** 32, "cf0000000100000000"],
      [-1, "ff"], [-32, "e0"], [-33, "d0df"], [-128, "d080"], [-129, "d1ff7f"], [-32768, "d18000"],
      [-32769, "d2ffff7fff"], [-(2 ** 31), "d280000000"], [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
      [INT64_MIN, "d38000000000000000"], [INT64_MAX, "cf7fffffffffffffff"],
    ];
    for (const [v, bytes] of cases) {
      expect(packValue(v).toString("hex"), String(v)).toBe(bytes);
      expect(unpackValue(Buffer.from(bytes, "hex")), String(v)).toEqual(expectedDecoded(v));
    }
  });

  it("decodes the other msgpack forms: bin8/16/32, float32, uint64 beyond int64, fixint", () => {
    expect(unpackValue(hex("c4 02 01 02"))).toEqual(hex("01 02"));
    expect(unpackValue(hex("c5 00 01 ff"))).toEqual(hex("ff"));
    expect(unpackValue(hex("c6 00 00 00 00"))).toEqual(Buffer.alloc(0));
    expect(unpackValue(hex("ca 3f c0 00 00"))).toBe(1.5);
    expect(unpackValue(hex("cf ff ff ff ff ff ff ff ff"))).toBe(2n ** 64n - 1n);
    expect(unpackValue(hex("d3 00 00 00 00 00 00 00 05"))).toBe(5);
  });

  it("str/array/map header sizes switch at the official client's boundaries", () => {
    const strCases: [number, string][] = [
      [30, "bf03"], [31, "d92003"], [254, "d9ff03"], [255, "da010003"], [65534, "daffff03"], [65535, "db0001000003"],
    ];
    for (const [n, head] of strCases) {
      const b = packValue(["x".repeat(n)]);
      expect(b.subarray(1, 1 + head.length / 2).toString("hex"), `string of ${n}`).toBe(head);
      expect(unpackValue(b)).toEqual(["x".repeat(n)]);
    }
    const arrCases: [number, string][] = [[15, "9f"], [16, "dc0010"], [65535, "dcffff"], [65536, "dd00010000"]];
    for (const [n, head] of arrCases) {
      const list = new Array<number>(n).fill(0);
      const b = packValue(list);
      expect(b.subarray(0, head.length / 2).toString("hex"), `list of ${n}`).toBe(head);
      expect(unpackValue(b)).toEqual(list);
    }
    const mapCases: [number, string][] = [[15, "8f"], [16, "de0010"], [65536, "df00010000"]];
    for (const [n, head] of mapCases) {
      const map = new Map<BinValue, BinValue>(Array.from({ length: n }, (_, i) => [i, i]));
      const b = packValue(map);
      expect(b.subarray(0, head.length / 2).toString("hex"), `map of ${n}`).toBe(head);
      expect(unpackValue(b)).toEqual(map);
    }
  });

  it("nesting is limited to 64 levels on both sides; cycles are ProtocolErrors", () => {
    const nest = (depth: number): BinValue => (depth === 0 ? 1 : [nest(depth - 1)]);
    const ok = nest(64); // 64 arrays at depths 0..63; the innermost value sits at depth 64
    expect(unpackValue(packValue(ok))).toEqual(ok);
    expect(unpackValue(Buffer.concat([Buffer.alloc(64, 0x91), hex("01")]))).toEqual(ok);
    expectProtocolError(() => packValue(nest(65)));
    expectProtocolError(() => unpackValue(Buffer.concat([Buffer.alloc(65, 0x91), hex("01")])));
    expectProtocolError(() => unpackValue(Buffer.alloc(100_000, 0x91)));
    const cyclic: BinValue[] = [];
    cyclic.push(cyclic);
    expectProtocolError(() => packValue(cyclic));
    expectProtocolError(() => encodeParticle(cyclic));
  });

  it("malformed msgpack is a ProtocolError: empty, truncated, invalid byte, trailing bytes, huge counts", () => {
    for (const bad of ["", "c1", "92 01", "a5 03 61", "cb 00", "d9", "dd ff ff ff ff", "df ff ff ff ff 01 01", "db ff ff ff ff 03", "c6 ff ff ff ff", "c9 ff ff ff ff 01", "01 02"]) {
      expectProtocolError(() => unpackValue(hex(bad)));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// fast-check: arbitrary nested values

const scalarArb: fc.Arbitrary<BinValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.double().map((d) => new Double(d)),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 20 }).map((s) => new GeoJSON(s)),
);

/** Map keys that stay distinct after decoding (1 and 1n, or 0 and -0, would collide). */
function keyIdentity(k: BinValue): unknown {
  const d = expectedDecoded(k);
  if (d === null || typeof d !== "object") return `${typeof d}:${String(d)}`;
  return k; // objects, arrays, Buffers, Maps: distinct instances stay distinct keys
}

const { value: valueArb } = fc.letrec<{ value: BinValue; list: BinValue[]; object: { [k: string]: BinValue }; map: Map<BinValue, BinValue> }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalarArb, tie("list"), tie("object"), tie("map")),
  list: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), tie("value"), { maxKeys: 5 }),
  map: fc
    .uniqueArray(fc.tuple(fc.oneof(scalarArb, tie("value")), tie("value")), {
      maxLength: 5,
      selector: ([k]) => keyIdentity(k),
    })
    .map((entries) => new Map(entries)),
}));

describe("round trip of arbitrary values (fast-check)", () => {
  it("unpackValue(packValue(v)) equals the documented decoding of v", () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        expect(unpackValue(packValue(v))).toEqual(expectedDecoded(v));
      }),
      { numRuns: 600 },
    );
  });

  it("decodeParticle(encodeParticle(v)) equals the documented decoding of v", () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const p = encodeParticle(v);
        const back = decodeParticle(p.type, p.data);
        const expected = expectedDecoded(v);
        if (v instanceof Double && Object.is(v.value, -0)) expect(Object.is(back, -0)).toBe(true);
        else expect(back).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it("packing is deterministic and re-packing a decoded list gives the same bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(scalarArb, fc.array(scalarArb, { maxLength: 3 })), { maxLength: 6 }), (v) => {
        const once = packValue(v);
        expect(packValue(v)).toEqual(once);
        // Decoding loses only Double-ness of integral doubles and the sign of integer -0.
        const hasIntegralDouble = JSON.stringify(v, (_k, x: unknown) =>
          x instanceof Double && Number.isInteger(x.value) ? "!!integral-double" : typeof x === "bigint" ? x.toString() : x,
        ).includes("!!integral-double");
        if (!hasIntegralDouble) expect(packValue(unpackValue(once))).toEqual(once);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-check with the official client's own msgpack (C as_msgpack via contextToBase64)

interface OfficialModule {
  client(config: { hosts: string }): { contextToBase64(ctx: unknown): string };
  cdt: { Context: new () => { addListValue(v: unknown): unknown } };
  Double: new (v: number) => unknown;
  GeoJSON: new (json: string) => unknown;
}

function loadOfficial(): ((v: BinValue) => Buffer) | undefined {
  try {
    const as = createRequire(import.meta.url)("aerospike") as OfficialModule;
    const client = as.client({ hosts: "127.0.0.1:1" }); // never connected: contextToBase64 is local
    const toOfficial = (v: BinValue): unknown => {
      if (v instanceof Double) return new as.Double(v.value);
      if (v instanceof GeoJSON) return new as.GeoJSON(v.json);
      if (Array.isArray(v)) return v.map(toOfficial);
      if (v instanceof Map) return new Map([...v].map(([k, x]) => [toOfficial(k), toOfficial(x)]));
      if (v !== null && typeof v === "object" && !Buffer.isBuffer(v)) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toOfficial(x)]));
      }
      return v;
    };
    return (v) => {
      const ctx = new as.cdt.Context().addListValue(toOfficial(v));
      const packed = Buffer.from(client.contextToBase64(ctx), "base64");
      // The context is the list [0x13 (LIST_VALUE), value].
      if (packed[0] !== 0x92 || packed[1] !== 0x13) throw new Error(`unexpected context bytes ${packed.toString("hex")}`);
      return packed.subarray(2);
    };
  } catch {
    return undefined;
  }
}

const officialPack = loadOfficial();

describe.skipIf(!officialPack)("cross-check with the official client's msgpack (npm aerospike)", () => {
  const official = officialPack!;

  it("lists and scalars: our bytes equal the official bytes", () => {
    const values: BinValue[] = [
      "ab", hex("01 02"), [1, "x", [2.5]], 5, -1, 2n ** 40n, new Double(1), true, null, "x".repeat(31),
      "y".repeat(300), new GeoJSON('{"type":"Point","coordinates":[1,2]}'), new Array(16).fill("z"),
    ];
    for (const v of values) expect(packValue(v).toString("hex"), JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x))).toBe(official(v).toString("hex"));
  });

  it("maps: the official client writes ordered maps (flags pair first); we read them as the same values", () => {
    const values: BinValue[] = [{}, { a: 1 }, { a: { b: [1, "c"] } }, new Map<BinValue, BinValue>([[1, "a"], ["b", hex("09")]])];
    for (const v of values) {
      const theirs = official(v);
      expect(unpackValue(theirs)).toEqual(expectedDecoded(v));
    }
    // Same pairs as ours, behind a header counting one more entry and the ext flags pair.
    const ours = packValue({ a: 1, b: "x" });
    expect(official({ a: 1, b: "x" }).toString("hex")).toBe("83" + "c70001c0" + ours.subarray(1).toString("hex"));
  });

  // Values where the two mappings agree by design: no maps (ordered vs unordered), no integral
  // doubles beyond the safe range (official: integer, ours: double), no NUL in strings (the
  // addon strdup()s them), no -0 in Double (official Double parses it to 0), no NaN Double.
  const agreedScalar: fc.Arbitrary<BinValue> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double().filter((d) => !Number.isInteger(d) || Number.isSafeInteger(d)),
    fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)).map((d) => new Double(d)),
    fc.string({ unit: "binary", maxLength: 300 }).filter((s) => !s.includes("\u0000")),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  );
  const { agreed } = fc.letrec<{ agreed: BinValue }>((tie) => ({
    agreed: fc.oneof({ depthSize: "small" }, agreedScalar, fc.array(tie("agreed"), { maxLength: 20 })),
  }));

  it("arbitrary lists of scalars: byte for byte equal, and we decode the official bytes (fast-check)", () => {
    fc.assert(
      fc.property(agreed, (v) => {
        const theirs = official(v);
        expect(packValue(v).toString("hex")).toBe(theirs.toString("hex"));
        expect(unpackValue(theirs)).toEqual(expectedDecoded(v));
      }),
      { numRuns: 300 },
    );
  });
});
