import { BusyError } from '../errors.ts';

/** Bounds for {@link ConversationLanes}. */
export interface ConversationLanesOptions {
  /** Messages that may wait behind the one being answered, per conversation. */
  maxPendingPerLane: number;
  /** Conversations that may have work in flight at once. */
  maxLanes: number;
}

interface Lane {
  tail: Promise<void>;
  size: number;
}

/**
 * Runs work for one conversation strictly in arrival order while different conversations run in
 * parallel. Lanes exist only while they have work, and both their number and their depth are
 * bounded: past either bound the caller gets a BusyError at once instead of an unbounded wait.
 */
export class ConversationLanes {
  readonly #lanes = new Map<string, Lane>();
  readonly #options: ConversationLanesOptions;

  constructor(options: ConversationLanesOptions) {
    this.#options = options;
  }

  /** Conversations with work in flight. */
  get active(): number {
    return this.#lanes.size;
  }

  /** Run `work` after everything queued before it for `key`. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      if (this.#lanes.size >= this.#options.maxLanes) {
        return Promise.reject(new BusyError(`Too many conversations in flight (${this.#options.maxLanes})`));
      }
      lane = { tail: Promise.resolve(), size: 0 };
      this.#lanes.set(key, lane);
    } else if (lane.size > this.#options.maxPendingPerLane) {
      return Promise.reject(new BusyError(`Too many messages waiting in one conversation (${this.#options.maxPendingPerLane})`));
    }
    const current = lane;
    current.size += 1;
    const result = current.tail.then(work);
    // The lane's tail only orders work; each caller sees its own result and error.
    current.tail = result.then(
      () => this.#settle(key, current),
      () => this.#settle(key, current),
    );
    return result;
  }

  #settle(key: string, lane: Lane): void {
    lane.size -= 1;
    if (lane.size === 0 && this.#lanes.get(key) === lane) this.#lanes.delete(key);
  }
}
