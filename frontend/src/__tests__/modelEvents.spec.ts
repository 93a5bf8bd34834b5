/**
 * The model on its one events stream (`GET /api/events`): one read of the lists per connection, the
 * events received during that read applied again on top of it in order, no polling while the stream is
 * live, polling while it is down, a refused stream opened again later.
 */
const listExecutions = jest.fn();
const listSchedules = jest.fn();
const getExecution = jest.fn();

jest.mock('../api', () => ({
  listExecutions: (...args: unknown[]) => listExecutions(...args),
  listSchedules: (...args: unknown[]) => listSchedules(...args),
  getExecution: (...args: unknown[]) => getExecution(...args)
}));
jest.mock('../handler', () => {
  class NbgateRequestError extends Error {
    constructor(
      readonly status: number,
      message: string
    ) {
      super(message);
    }
  }
  return { NbgateRequestError, apiURL: (path: string) => `/nbgate/api/${path}` };
});

import { IEventStream, NbgateModel } from '../model';
import { Execution, IExecutionEvent } from '../tokens';

/** An EventSource stand-in the test drives. */
class FakeStream implements IEventStream {
  constructor(readonly url: string) {}

  readyState = 0;
  onerror: ((event: Event) => void) | null = null;
  closed = false;

  addEventListener(name: string, listener: (event: MessageEvent) => void): void {
    this._listeners.set(name, [...(this._listeners.get(name) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  emit(name: string, data: object): void {
    this.readyState = 1;
    for (const listener of this._listeners.get(name) ?? []) {
      listener({ data: JSON.stringify(data) } as MessageEvent);
    }
  }

  /** The connection dropped (`readyState` 0: the browser retries) or was refused (2: it gave up). */
  fail(readyState: 0 | 2): void {
    this.readyState = readyState;
    this.onerror?.({} as Event);
  }

  private _listeners = new Map<string, ((event: MessageEvent) => void)[]>();
}

const execution = (id: string, status: string, fields: object = {}) => ({
  id,
  name: `${id}_at_2026_01_01_00_00_00`,
  status,
  schedule_id: null,
  notebook: 'a.ipynb',
  parameters: {},
  created_at: '2026-01-01T00:00:00Z',
  output_path: `executions/a/${id}.ipynb`,
  ...fields
});

/** A promise the test resolves when it chooses (a read still under way). */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>(r => (resolve = r));
  return { promise, resolve };
}

describe('NbgateModel on the events stream', () => {
  let streams: FakeStream[];
  let model: NbgateModel;
  const stream = () => streams[streams.length - 1];

  beforeEach(() => {
    jest.useFakeTimers();
    listExecutions.mockReset();
    listSchedules.mockReset();
    getExecution.mockReset();
    listSchedules.mockResolvedValue([]);
    streams = [];
    model = new NbgateModel({
      fastPollMs: 2000,
      slowPollMs: 15000,
      storage: null,
      openStream: url => {
        streams.push(new FakeStream(url));
        return stream();
      }
    });
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  it('reads the lists once per connection, then follows the events without polling', async () => {
    // Given
    listExecutions.mockResolvedValue([execution('e1', 'running')]);
    model.start();
    expect(streams.map(s => s.url)).toEqual(['/nbgate/api/events']);
    // When
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    // Then
    expect(model.live).toBe(true);
    expect(listExecutions).toHaveBeenCalledTimes(1);
    const changed = jest.fn();
    model.changed.connect(changed);
    const relayed: IExecutionEvent[] = [];
    model.events.connect((_, event) => relayed.push(event));
    stream().emit('progress', { execution_id: 'e1', cell: 2, total: 5 });
    stream().emit('created', { execution_id: 'e2', execution: execution('e2', 'queued') });
    stream().emit('schedule_created', { schedule_id: 's2', schedule: { id: 's2', name: 'zeta' } });
    stream().emit('schedule_created', { schedule_id: 's1', schedule: { id: 's1', name: 'alpha' } });
    expect(model.executions.map(e => [e.id, e.status])).toEqual([
      ['e2', 'queued'],
      ['e1', 'running']
    ]);
    expect(model.executions[1].progress).toEqual({ cell: 2, total: 5 });
    expect(model.schedules.map(s => s.name)).toEqual(['alpha', 'zeta']);
    expect(relayed.map(e => [e.id, e.name])).toEqual([
      ['e1', 'progress'],
      ['e2', 'created']
    ]);
    expect(changed).toHaveBeenCalledTimes(4);
    // A running execution and someone watching: no polling while the stream is live.
    model.watching = true;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(listExecutions).toHaveBeenCalledTimes(1);
  });

  it('applies the events that arrive during the read again, in order, on top of what it read', async () => {
    // Given: the read is under way when the events arrive
    const read = deferred<object[]>();
    listExecutions.mockReturnValueOnce(read.promise);
    model.start();
    stream().emit('ready', {});
    stream().emit('created', { execution_id: 'e2', execution: execution('e2', 'queued') });
    stream().emit('status', { execution_id: 'e2', status: 'running', reason: null });
    stream().emit('status', { execution_id: 'e1', status: 'running', reason: null });
    stream().emit('finished', {
      execution_id: 'e1',
      execution: execution('e1', 'succeeded', { duration: 4 })
    });
    stream().emit('progress', { execution_id: 'e2', cell: 1, total: 3 });
    // When: the read answers what the server had before some of them (e2 not yet created) and after
    // others (e1 already over)
    read.resolve([execution('e1', 'succeeded', { duration: 4 }), execution('e0', 'failed')]);
    await jest.advanceTimersByTimeAsync(0);
    // Then: the events' outcome, not the read's nor an intermediate state
    expect(model.executions.map(e => [e.id, e.status])).toEqual([
      ['e2', 'running'],
      ['e1', 'succeeded'],
      ['e0', 'failed']
    ]);
    expect(model.executions[0].progress).toEqual({ cell: 1, total: 3 });
    expect(model.executions[1].duration).toBe(4);
    // Later events apply to the new lists; an execution deleted leaves them.
    stream().emit('deleted', { execution_id: 'e0' });
    expect(model.executions.map(e => e.id)).toEqual(['e2', 'e1']);
  });

  it('drops a read that began before a newer one but answered after it', async () => {
    const older = deferred<object[]>();
    listExecutions.mockReturnValueOnce(older.promise);
    listExecutions.mockResolvedValueOnce([execution('e1', 'succeeded')]);
    void model.refresh();
    model.start();
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    older.resolve([execution('e1', 'queued')]);
    await jest.advanceTimersByTimeAsync(0);
    expect(model.executions.map(e => e.status)).toEqual(['succeeded']);
  });

  it('polls while the stream is down and reads once when it is back, missing nothing', async () => {
    // Given
    listExecutions.mockResolvedValue([execution('e1', 'running')]);
    model.start();
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    expect(listExecutions).toHaveBeenCalledTimes(1);
    // When: the connection drops (the browser reconnects by itself)
    stream().fail(0);
    expect(model.live).toBe(false);
    await jest.advanceTimersByTimeAsync(2000);
    // Then: polled meanwhile
    expect(listExecutions).toHaveBeenCalledTimes(2);
    // Back: what happened while it was down is in the one read after `ready`, then no more polls.
    listExecutions.mockResolvedValue([execution('e1', 'failed')]);
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    expect(listExecutions).toHaveBeenCalledTimes(3);
    expect(model.executions[0].status).toBe('failed');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(listExecutions).toHaveBeenCalledTimes(3);
    expect(streams).toHaveLength(1);
  });

  it('opens a refused stream again later, polling meanwhile', async () => {
    listExecutions.mockResolvedValue([]);
    model.start();
    stream().fail(2);
    expect(stream().closed).toBe(true);
    await jest.advanceTimersByTimeAsync(15000);
    expect(listExecutions).toHaveBeenCalledTimes(1);
    expect(streams).toHaveLength(2);
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(60_000);
    expect(listExecutions).toHaveBeenCalledTimes(2);
  });

  it('reports an execution started here once, from its finished event', async () => {
    listExecutions.mockResolvedValue([]);
    model.start();
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    const ended = jest.fn();
    model.ended.connect((_, e) => ended(e.id, e.status, e.duration));
    model.track(execution('e1', 'queued') as Execution);
    await jest.advanceTimersByTimeAsync(0);
    stream().emit('status', { execution_id: 'e1', status: 'running', reason: null });
    expect(ended).not.toHaveBeenCalled();
    stream().emit('finished', {
      execution_id: 'e1',
      execution: execution('e1', 'failed', { duration: 2 })
    });
    stream().emit('finished', {
      execution_id: 'e1',
      execution: execution('e1', 'failed', { duration: 2 })
    });
    expect(ended.mock.calls).toEqual([['e1', 'failed', 2]]);
  });

  it('reads the lists again when a schedule is deleted or the stream lagged', async () => {
    listExecutions.mockResolvedValue([]);
    listSchedules.mockResolvedValue([{ id: 's1', name: 'daily' }]);
    model.start();
    stream().emit('ready', {});
    await jest.advanceTimersByTimeAsync(0);
    expect(model.schedules.map(s => s.id)).toEqual(['s1']);
    listSchedules.mockResolvedValue([]);
    stream().emit('schedule_deleted', { schedule_id: 's1' });
    expect(model.schedules).toEqual([]);
    await jest.advanceTimersByTimeAsync(0);
    expect(listExecutions).toHaveBeenCalledTimes(2);
    stream().emit('lagged', { missed: 12 });
    await jest.advanceTimersByTimeAsync(0);
    expect(listExecutions).toHaveBeenCalledTimes(3);
  });
});
