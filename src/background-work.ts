/**
 * Work that outlives the request that started it (a platform was acknowledged, the answer is still
 * being written), tracked so shutdown can wait for it. Entries remove themselves when they settle.
 */
export class BackgroundWork {
  readonly #tasks = new Set<Promise<unknown>>();

  /** Tasks not yet settled. */
  get size(): number {
    return this.#tasks.size;
  }

  /** Track `task` until it settles; returns it so the caller can still await it. */
  track<T>(task: Promise<T>): Promise<T> {
    this.#tasks.add(task);
    const untrack = () => {
      this.#tasks.delete(task);
    };
    // Only removes the entry; whoever started the task handles its outcome.
    task.then(untrack, untrack);
    return task;
  }

  /** Wait for every tracked task, at most `timeoutMs`; true when all settled in time. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.#tasks.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = Promise.allSettled([...this.#tasks]).then(() => true);
    try {
      return await Promise.race([drained, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
