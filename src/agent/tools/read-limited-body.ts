/** What readLimitedBody read: at most `maxBytes` bytes, and whether there was more. */
export interface LimitedBody {
  bytes: Uint8Array;
  truncated: boolean;
}

/**
 * Reads a response body as a stream and stops at `maxBytes` (cancelling the rest), so a huge or endless body
 * never sits in memory whole.
 */
export async function readLimitedBody(response: Response, maxBytes: number): Promise<LimitedBody> {
  if (response.body === null) return { bytes: new Uint8Array(0), truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - size;
      if (value.byteLength > room) {
        chunks.push(value.subarray(0, room));
        size += room;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (truncated) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, truncated };
}
