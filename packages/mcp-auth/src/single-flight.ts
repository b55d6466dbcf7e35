/**
 * Wraps a background task so that at most one run is in flight (callers join it) and a failure is
 * reported through `onError` instead of rejecting: the previous state stays in place.
 */
export function singleFlight(task: () => Promise<void>, onError: ((err: unknown) => void) | undefined) {
  let pending: Promise<void> | undefined;
  return {
    run: (): Promise<void> => {
      pending ??= task()
        .catch((err: unknown) => {
          try {
            onError?.(err);
          } catch {
            // A failing error callback must not turn a background run into an unhandled rejection.
          }
        })
        .finally(() => {
          pending = undefined;
        });
      return pending;
    },
    /** True while a run is under way. */
    inFlight: () => pending !== undefined,
  };
}
