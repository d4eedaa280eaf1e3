/**
 * Where the bot under load listens now. The run kills and restarts it: requests in flight at the kill
 * fail, as the platform's would, and a sender can wait for the next process, as Slack's retry would
 * find it. Users do not type while the bot is down (see {@link BotLink.ready}), so what a run counts
 * does not depend on how fast the machine restarts it.
 */
export class BotLink {
  #base = '';
  #generation = 0;
  readonly #killed = new Set<number>();
  #waiters: Array<() => void> = [];
  #broken: Error | undefined;

  /** The bot is listening at `base`: a fresh process, the next generation. */
  up(base: string): void {
    this.#base = base;
    this.#generation += 1;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The bot could not be restarted: whoever waits for it gives up with `error`. */
  broken(error: Error): void {
    this.#broken = error;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The run is about to kill the current process. */
  killing(): void {
    this.#killed.add(this.#generation);
  }

  /** Did the run kill the process of this generation? */
  wasKilled(generation: number): boolean {
    return this.#killed.has(generation);
  }

  /** Resolves at once, or when the process the run is killing has been replaced. */
  async ready(): Promise<void> {
    if (this.#killed.has(this.#generation)) await this.after(this.#generation);
  }

  /** The process to send to now. */
  current(): { base: string; generation: number } {
    return { base: this.#base, generation: this.#generation };
  }

  /** Wait (at most `timeoutMs`) for a process newer than `generation`. */
  async after(generation: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#generation <= generation) {
      if (this.#broken !== undefined) throw this.#broken;
      if (Date.now() > deadline) throw new Error('the bot did not come back');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
