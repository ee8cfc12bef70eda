/**
 * A run as a stream of its events: `start` begins the run with a listener; the events come out in order as an
 * async iterable, and `result` resolves when the run ends (the iteration ends after the last event).
 */
export function eventStream<Event, Result>(
  start: (listener: (event: Event) => void) => Promise<Result>,
): AsyncIterable<Event> & { result: Promise<Result> } {
  const queue: Event[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const result = start((event) => {
    queue.push(event);
    wake?.();
  }).finally(() => {
    done = true;
    wake?.();
  });
  return {
    result,
    async *[Symbol.asyncIterator]() {
      while (true) {
        if (queue.length > 0) yield queue.shift() as Event;
        else if (done) return;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}
