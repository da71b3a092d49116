/**
 * A web `ReadableStream` over `chunks`, read one chunk per pull (so a slow client holds one chunk,
 * not the whole file); a client that goes away ends the iteration (`return`), closing what it read.
 */
export function readableOf(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.(undefined);
    },
  });
}
