/**
 * The result view's follower: loads the execution and its notebook, follows the events of a running
 * one (the notebook fetched again as cells progress, at most one fetch at a time), a last time at the
 * end, and then stops; without events it polls.
 */
const getExecution = jest.fn();
const executionNotebook = jest.fn();

jest.mock('../api', () => ({
  getExecution: (...args: unknown[]) => getExecution(...args),
  executionNotebook: (...args: unknown[]) => executionNotebook(...args)
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

/** EventSource as the browser has it, driven by the test. */
class FakeEventSource {
  static last: FakeEventSource | null = null;
  listeners = new Map<string, (event: { data: string }) => void>();
  closed = false;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {
    FakeEventSource.last = this;
  }

  addEventListener(name: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(name, listener);
  }

  emit(name: string, data: object): void {
    this.listeners.get(name)?.({ data: JSON.stringify(data) });
  }

  close(): void {
    this.closed = true;
  }
}
(globalThis as unknown as { EventSource: unknown }).EventSource = FakeEventSource;

import { ExecutionFollower } from '../follow';
import { NbgateRequestError } from '../handler';

const execution = (status: string, fields: object = {}) => ({
  id: 'e1',
  name: 'slow_at_2026_12_04_01_00_00',
  notebook: 'slow.ipynb',
  status,
  parameters: {},
  created_at: '2026-12-04T01:00:00.000Z',
  output_path: 'executions/slow/slow_at_2026_12_04_01_00_00.ipynb',
  ...fields
});
const notebook = (cells: number) => ({
  cells: Array.from({ length: cells }, () => ({ cell_type: 'code', source: '', outputs: [] })),
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
});

describe('ExecutionFollower', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    getExecution.mockReset();
    executionNotebook.mockReset();
    FakeEventSource.last = null;
  });

  afterEach(() => jest.useRealTimers());

  it('follows a running execution to its end, then stops', async () => {
    // Given
    getExecution.mockResolvedValue(execution('running'));
    executionNotebook.mockResolvedValue(notebook(1));
    const follower = new ExecutionFollower('e1', { refetchMs: 100 });
    // When
    await follower.start();
    // Then
    const source = FakeEventSource.last!;
    expect(source.url).toBe('/nbgate/api/executions/e1/events');
    expect(follower.notebook?.cells).toHaveLength(1);

    // Cells progress: the notebook is fetched again, one fetch at a time.
    executionNotebook.mockResolvedValue(notebook(2));
    source.emit('progress', { cell: 1, total: 3 });
    source.emit('output', { cell: 1 });
    source.emit('progress', { cell: 2, total: 3 });
    expect(follower.execution?.progress).toEqual({ cell: 2, total: 3 });
    expect(executionNotebook).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(100);
    expect(executionNotebook).toHaveBeenCalledTimes(3);
    expect(follower.notebook?.cells).toHaveLength(2);

    // It ends: the final record and notebook, and the stream is closed.
    getExecution.mockResolvedValue(execution('succeeded', { duration: 3 }));
    executionNotebook.mockResolvedValue(notebook(3));
    source.emit('status', { status: 'succeeded' });
    await jest.advanceTimersByTimeAsync(200);
    expect(source.closed).toBe(true);
    expect(follower.execution?.duration).toBe(3);
    expect(follower.notebook?.cells).toHaveLength(3);
    const calls = executionNotebook.mock.calls.length;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(executionNotebook).toHaveBeenCalledTimes(calls);
    follower.dispose();
  });

  it('opens no stream for an execution that is over', async () => {
    getExecution.mockResolvedValue(execution('failed'));
    executionNotebook.mockResolvedValue(notebook(2));
    const follower = new ExecutionFollower('e1');
    await follower.start();
    expect(FakeEventSource.last).toBeNull();
    expect(follower.problem).toBeNull();
    follower.dispose();
  });

  it('waits for the output of a queued execution without calling it a problem, and polls without events', async () => {
    getExecution.mockResolvedValue(execution('queued'));
    executionNotebook.mockRejectedValue(new NbgateRequestError(404, 'no output notebook yet'));
    const follower = new ExecutionFollower('e1', { useEvents: false, pollMs: 2000 });
    await follower.start();
    expect(follower.notebook).toBeNull();
    expect(follower.problem).toBeNull();
    getExecution.mockResolvedValue(execution('running'));
    executionNotebook.mockResolvedValue(notebook(1));
    await jest.advanceTimersByTimeAsync(2000);
    expect(follower.execution?.status).toBe('running');
    expect(follower.notebook?.cells).toHaveLength(1);
    follower.dispose();
  });

  it('says when the execution was deleted', async () => {
    getExecution.mockRejectedValue(new NbgateRequestError(404, 'no execution e1'));
    const follower = new ExecutionFollower('e1');
    await follower.start();
    expect(follower.deleted).toBe(true);
    expect(follower.problem).toBe('no execution e1');
    expect(executionNotebook).not.toHaveBeenCalled();
    follower.dispose();
  });
});
