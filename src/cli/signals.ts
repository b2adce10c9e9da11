/** Waiting for Ctrl-C (or a TERM) without keeping listeners around afterwards. */
export function waitForSignal(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): {
  promise: Promise<NodeJS.Signals>;
  cancel(): void;
} {
  let cancel = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      cancel();
      resolve(signal);
    };
    for (const signal of signals) process.on(signal, handler);
    cancel = () => {
      for (const signal of signals) process.off(signal, handler);
    };
  });
  return { promise, cancel };
}
