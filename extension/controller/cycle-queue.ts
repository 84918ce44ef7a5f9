// The serve loop's queue: deliveries' focuses united into one pending read, and
// the one cycle that may run at a time (controller/serve.ts). No I/O of its own:
// the cycle is given to it.
import { unite, type Wanted } from '../forge/github/events';

/**
 * The pending focus and the one cycle that may run. `add` unites a delivery's
 * focus with what is pending and (re)starts the quiet window, bounded by the
 * maximum delay since the first pending delivery; a cycle that is running keeps
 * what arrives for the next one.
 */
export class CycleQueue {
  private pending: Wanted | undefined;
  private firstAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    /** Runs one cycle; false (or a throw) when it could not run and its focus must be tried again. */
    private readonly cycle: (wanted: Wanted) => Promise<boolean>,
    private readonly timing: { quietMs: number; maxDelayMs: number; log: (line: string) => void },
  ) {}

  add(wanted: Wanted, options: { now?: boolean } = {}): void {
    if (this.closed) return;
    this.pending = unite(this.pending, wanted);
    const now = Date.now();
    this.firstAt ??= now;
    const wait = options.now ? 0 : Math.min(this.timing.quietMs, this.firstAt + this.timing.maxDelayMs - now);
    this.schedule(wait);
  }

  /** No more cycles start; resolves when the running one finished. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.fire();
      },
      Math.max(0, ms),
    );
  }

  private fire(): void {
    // A running cycle starts the next when it ends (the deliveries it did not see are pending).
    if (this.closed || this.running || this.pending === undefined) return;
    const wanted = this.pending;
    this.pending = undefined;
    this.firstAt = undefined;
    this.running = this.cycle(wanted)
      .catch((error: unknown) => {
        this.timing.log(`cycle failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      })
      .then((ran) => {
        this.running = undefined;
        if (!ran) {
          // Nothing is lost: its focus waits with what arrived since, and is tried again after the maximum delay.
          this.pending = unite(wanted, this.pending);
          this.firstAt = Date.now();
          this.schedule(this.timing.maxDelayMs);
        } else if (this.pending !== undefined && this.timer === undefined) this.fire();
      });
  }
}
