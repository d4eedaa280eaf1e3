/** Bounds of {@link ShowOrder}; the default stated once, in DEFAULT_SHOW_ORDER. */
export interface ShowOrderOptions {
  /** How long a lane's notices wait at most for the answer in progress to show its first message, in ms. Default 2,000. */
  maxHeadWaitMs: number;
}

export const DEFAULT_SHOW_ORDER: ShowOrderOptions = { maxHeadWaitMs: 2_000 };

/**
 * Keeps a conversation's new messages in the order of the questions they belong to, where a chat
 * shows messages one below the other in the order they were sent (Teams): a later question's notice
 * must not land above the reply to an earlier one. A lane's notices go out one after another, and
 * only once the answer being worked on in that lane has shown its first message (or the wait ran
 * out). The inbox answers a lane's items one at a time, so that answer is the only earlier message
 * a notice can overtake; the others waiting before it get notices of their own, earlier in the chain.
 * Holds an entry per lane with an answer in progress or a notice on its way, no more.
 */
export class ShowOrder {
  readonly #options: ShowOrderOptions;
  /** Lanes whose answer in progress has nothing on screen yet, with what resolves once it has. */
  readonly #unshown = new Map<string, { shown: Promise<void>; resolve: () => void }>();
  /** The last show queued in each lane; the next one starts after it. */
  readonly #tails = new Map<string, Promise<unknown>>();

  constructor(options: Partial<ShowOrderOptions> = {}) {
    this.#options = { ...DEFAULT_SHOW_ORDER, ...options };
    if (!Number.isFinite(this.#options.maxHeadWaitMs) || this.#options.maxHeadWaitMs < 0) {
      throw new RangeError(`Expected \`maxHeadWaitMs\` to be a finite number >= 0, got ${this.#options.maxHeadWaitMs}`);
    }
  }

  /** Lanes tracked now (answers in progress with nothing shown, and lanes with shows queued). */
  get size(): number {
    return this.#unshown.size + this.#tails.size;
  }

  /**
   * The answer now being worked on in `lane` has nothing on screen yet. Returns what to call once
   * its first message is out (or it ended without one); calling it again does nothing.
   */
  answering(lane: string): () => void {
    let resolve!: () => void;
    const shown = new Promise<void>((done) => (resolve = done));
    const entry = { shown, resolve };
    this.#unshown.get(lane)?.resolve();
    this.#unshown.set(lane, entry);
    return () => {
      entry.resolve();
      if (this.#unshown.get(lane) === entry) this.#unshown.delete(lane);
    };
  }

  /**
   * Run `show` (which puts one new message in `lane`) after the shows queued before it in that
   * lane and after the answer in progress there has shown its first message. Queued synchronously:
   * calls made in a row run in that order.
   */
  inTurn<T>(lane: string, show: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(lane);
    const turn = (before ?? Promise.resolve()).then(
      () => this.#headShown(lane),
      () => this.#headShown(lane),
    );
    const mine = turn.then(show);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(lane, tail);
    void tail.then(() => {
      if (this.#tails.get(lane) === tail) this.#tails.delete(lane);
    });
    return mine;
  }

  async #headShown(lane: string): Promise<void> {
    const entry = this.#unshown.get(lane);
    if (entry === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.maxHeadWaitMs)));
    try {
      await Promise.race([entry.shown, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
