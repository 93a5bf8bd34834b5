/**
 * The result view's follower: loads the execution and its notebook, follows the events the model relays
 * for a running one (the notebook fetched again as cells progress, at most one fetch at a time) and the
 * model's list (queued → running), reads both a last time at the end, and then stops; while the model
 * has no stream for it, it polls.
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

import { Signal } from '@lumino/signaling';

import { ExecutionFollower } from '../follow';
import { NbgateRequestError } from '../handler';
import { Execution, IExecutionEvent } from '../tokens';

/** The model as the follower sees it: its list, `changed`, and the events of its streams. */
class FakeModel {
  executions: Execution[] = [];
  live = false;
  changed = new Signal<this, void>(this);
  events = new Signal<this, IExecutionEvent>(this);

  emit(name: string, data: object, id = 'e1'): void {
    this.events.emit({ id, name, data: JSON.stringify(data) });
  }

  list(...executions: object[]): void {
    this.executions = executions as Execution[];
    this.changed.emit();
  }
}

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
  });

  afterEach(() => jest.useRealTimers());

  it('follows a running execution to its end, then stops', async () => {
    // Given
    getExecution.mockResolvedValue(execution('running'));
    executionNotebook.mockResolvedValue(notebook(1));
    const model = new FakeModel();
    model.live = true;
    model.list(execution('running'));
    const follower = new ExecutionFollower('e1', model, { refetchMs: 100 });
    // When
    await follower.start();
    // Then
    expect(follower.notebook?.cells).toHaveLength(1);

    // Cells progress: the notebook is fetched again, one fetch at a time.
    executionNotebook.mockResolvedValue(notebook(2));
    model.emit('progress', { cell: 1, total: 3 });
    model.emit('output', { cell: 1 });
    model.emit('progress', { cell: 0, total: 9 }, 'another execution');
    model.emit('progress', { cell: 2, total: 3 });
    expect(follower.execution?.progress).toEqual({ cell: 2, total: 3 });
    expect(executionNotebook).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(100);
    expect(executionNotebook).toHaveBeenCalledTimes(3);
    expect(follower.notebook?.cells).toHaveLength(2);

    // It ends: the final record and notebook, once, and nothing more is read.
    getExecution.mockResolvedValue(execution('succeeded', { duration: 3 }));
    executionNotebook.mockResolvedValue(notebook(3));
    model.emit('status', { status: 'succeeded' });
    model.list(execution('succeeded'));
    await jest.advanceTimersByTimeAsync(200);
    expect(follower.execution?.duration).toBe(3);
    expect(follower.notebook?.cells).toHaveLength(3);
    expect(getExecution).toHaveBeenCalledTimes(2);
    const calls = executionNotebook.mock.calls.length;
    model.emit('progress', { cell: 2, total: 3 });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(executionNotebook).toHaveBeenCalledTimes(calls);
    expect(getExecution).toHaveBeenCalledTimes(2);
    follower.dispose();
  });

  it('reads an execution that is over once, and listens to nothing', async () => {
    getExecution.mockResolvedValue(execution('failed'));
    executionNotebook.mockResolvedValue(notebook(2));
    const model = new FakeModel();
    const follower = new ExecutionFollower('e1', model);
    await follower.start();
    model.emit('progress', { cell: 1, total: 2 });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(executionNotebook).toHaveBeenCalledTimes(1);
    expect(follower.problem).toBeNull();
    follower.dispose();
  });

  it("sees a queued execution start through the model's list", async () => {
    getExecution.mockResolvedValue(execution('queued'));
    executionNotebook.mockRejectedValue(new NbgateRequestError(404, 'no output notebook yet'));
    const model = new FakeModel();
    model.list(execution('queued'));
    const follower = new ExecutionFollower('e1', model, { pollMs: 60_000 });
    await follower.start();
    executionNotebook.mockResolvedValue(notebook(1));
    model.list(execution('running', { progress: { cell: 0, total: 4 } }));
    await jest.advanceTimersByTimeAsync(0);
    expect(follower.execution?.status).toBe('running');
    expect(follower.execution?.progress).toEqual({ cell: 0, total: 4 });
    expect(follower.notebook?.cells).toHaveLength(1);
    follower.dispose();
  });

  it('waits for the output of a queued execution without calling it a problem, and polls when the model does not list it', async () => {
    getExecution.mockResolvedValue(execution('queued'));
    executionNotebook.mockRejectedValue(new NbgateRequestError(404, 'no output notebook yet'));
    const follower = new ExecutionFollower('e1', new FakeModel(), { pollMs: 2000 });
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
    const follower = new ExecutionFollower('e1', new FakeModel());
    await follower.start();
    expect(follower.deleted).toBe(true);
    expect(follower.problem).toBe('no execution e1');
    expect(executionNotebook).not.toHaveBeenCalled();
    follower.dispose();
  });

  it('polls only while the model is not live, and ends on a finished event with its record', async () => {
    // Given
    getExecution.mockResolvedValue(execution('running'));
    executionNotebook.mockResolvedValue(notebook(1));
    const model = new FakeModel();
    model.live = true;
    const follower = new ExecutionFollower('e1', model, { pollMs: 2000 });
    await follower.start();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(getExecution).toHaveBeenCalledTimes(1);
    // The stream is down: polled.
    model.live = false;
    await jest.advanceTimersByTimeAsync(2000);
    expect(getExecution).toHaveBeenCalledTimes(2);
    // Back, with a read of the lists that saw cells run meanwhile: the notebook is fetched again.
    model.live = true;
    const fetched = executionNotebook.mock.calls.length;
    model.list(execution('running', { progress: { cell: 3, total: 4 } }));
    await jest.advanceTimersByTimeAsync(0);
    expect(follower.execution?.progress).toEqual({ cell: 3, total: 4 });
    expect(executionNotebook).toHaveBeenCalledTimes(fetched + 1);
    // When
    getExecution.mockResolvedValue(execution('succeeded', { duration: 7 }));
    model.emit('finished', { execution: execution('succeeded', { duration: 7 }) });
    // Then
    expect(follower.execution?.status).toBe('succeeded');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(follower.execution?.duration).toBe(7);
    const calls = getExecution.mock.calls.length;
    model.live = false;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(getExecution).toHaveBeenCalledTimes(calls);
    follower.dispose();
  });
});
