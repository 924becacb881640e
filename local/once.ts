/** An async action that runs on its first call only; later calls return at once, whether or not it has finished. */
export function once(action: () => Promise<void>): () => Promise<void> {
  let called = false;
  return async () => {
    if (called) return;
    called = true;
    await action();
  };
}
