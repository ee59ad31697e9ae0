/**
 * `promise`'s outcome, or, once `ms` have passed without one, `late()`'s (what it returns, or what
 * it throws). The timer is cleared either way; `promise` itself runs on.
 */
export function withDeadline<T, L>(promise: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const lateOutcome = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  return Promise.race([promise, lateOutcome]).finally(() => clearTimeout(timer));
}
