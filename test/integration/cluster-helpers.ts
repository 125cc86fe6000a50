/**
 * Small helpers for cluster tests: a raw keyed read sent to one chosen node (bypassing client
 * routing, to exercise proxying), and the partition id of a digest.
 */
import {
  computeDigest, decodeMessage, decodeParticle, emptyMessage, encodeMessage, FieldType, FrameDecoder, Info1, partitionId,
  type BinValue,
} from "../../client/protocol/index.js";
import { rawConnect } from "./harness.js";

export function computePartitionId(digest: Buffer): number {
  return partitionId(digest);
}

/** GET of (ns, set, key) sent to the node on `port`, whoever owns the key. */
export async function rawRequestTo(port: number, ns: string, set: string, key: string | number): Promise<{ resultCode: number; bins: Record<string, BinValue> }> {
  const s = await rawConnect(port);
  try {
    const frame = encodeMessage({
      ...emptyMessage(), info1: Info1.READ | Info1.GET_ALL,
      fields: [
        { type: FieldType.NAMESPACE, data: Buffer.from(ns) },
        { type: FieldType.SET, data: Buffer.from(set) },
        { type: FieldType.DIGEST, data: computeDigest(set, key) },
      ],
    });
    const body = await new Promise<Buffer>((resolve, reject) => {
      const decoder = new FrameDecoder();
      s.on("data", (chunk) => {
        const frames = decoder.push(chunk);
        if (frames.length) resolve(frames[0]!.body);
      });
      s.once("error", reject);
      s.write(frame);
    });
    const msg = decodeMessage(body);
    return { resultCode: msg.resultCode, bins: Object.fromEntries(msg.ops.map((o) => [o.name, decodeParticle(o.particleType, o.data)])) };
  } finally {
    s.destroy();
  }
}
