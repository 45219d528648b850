/**
 * Makes `source`'s abort reach `target` (with its reason) until the returned function unlinks
 * it. Used instead of `AbortSignal.any` for a request's signals: on Node 20 a composite signal
 * that has an abort listener is held in a process-wide set until it aborts, so every request
 * that left one listener on it (a stream's upstream call following it, for one) stayed in
 * memory for good. A plain controller linked this way is collected with its request.
 */
export function linkAbort(target: AbortController, source: AbortSignal | undefined): () => void {
  if (!source) return () => {};
  if (source.aborted) {
    target.abort(source.reason);
    return () => {};
  }
  const onAbort = () => target.abort(source.reason);
  source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}
