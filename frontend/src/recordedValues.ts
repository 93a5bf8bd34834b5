/**
 * The recorded values of executions the listing shows without them (`GET /api/executions` leaves them
 * out; `GET /api/executions/{id}` has them): read once per ended execution, a few at a time, and kept
 * (an ended execution's values do not change).
 */
import { getExecution } from './api';
import { Execution, isTerminal, RecordedValues } from './tokens';

/** Requests at once, so that a long list does not flood the server. */
const AT_ONCE = 4;

export class RecordedValuesCache {
  constructor(private _read: (id: string) => Promise<Execution> = getExecution) {}

  /**
   * The execution's values: its own when the listing carried them, else those read before, else
   * undefined (and `loaded` is called once they are read).
   */
  valuesOf(execution: Execution, loaded: () => void): RecordedValues | undefined {
    if (execution.values !== undefined) {
      return execution.values;
    }
    const known = this._values.get(execution.id);
    if (known !== undefined || !isTerminal(execution.status) || execution.status === 'skipped') {
      return known;
    }
    const waiting = this._waiting.get(execution.id);
    if (waiting) {
      waiting.add(loaded);
    } else {
      this._waiting.set(execution.id, new Set([loaded]));
      this._queue.push(execution.id);
      this._next();
    }
    return undefined;
  }

  private _next(): void {
    while (this._active < AT_ONCE && this._queue.length > 0) {
      const id = this._queue.shift()!;
      this._active += 1;
      this._read(id)
        .then(execution => {
          this._values.set(id, execution.values ?? {});
          this._waiting.get(id)?.forEach(loaded => loaded());
        })
        .catch(() => {
          // Deleted meanwhile, or the server is away: shown without values; asked again later.
        })
        .finally(() => {
          this._waiting.delete(id);
          this._active -= 1;
          this._next();
        });
    }
  }

  private _values = new Map<string, RecordedValues>();
  /** Who to tell when an execution's values are read (each row that asked). */
  private _waiting = new Map<string, Set<() => void>>();
  private _queue: string[] = [];
  private _active = 0;
}
