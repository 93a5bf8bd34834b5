/** The model: lists loaded, `changed` emitted, the gateway's message kept when it is unreachable. */
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

import { NbgateRequestError } from '../handler';
import { NbgateModel, TRACKED_KEY } from '../model';
import { Execution } from '../tokens';

const execution = (id: string, status: string, schedule_id: string | null = null) => ({
  id,
  name: `${id}_at_2026_01_01_00_00_00`,
  status,
  schedule_id,
  notebook: 'a.ipynb',
  parameters: {},
  created_at: '2026-01-01T00:00:00Z',
  output_path: `executions/a/${id}.ipynb`
});

describe('NbgateModel', () => {
  let model: NbgateModel;

  beforeEach(() => {
    jest.useFakeTimers();
    listExecutions.mockReset();
    listSchedules.mockReset();
    getExecution.mockReset();
    model = new NbgateModel({ fastPollMs: 2000, slowPollMs: 15000, useEvents: false });
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  it('loads executions and schedules and says so', async () => {
    // Given
    listExecutions.mockResolvedValue([
      execution('e2', 'succeeded', 's1'),
      execution('e1', 'failed', 's1')
    ]);
    listSchedules.mockResolvedValue([{ id: 's1', name: 'daily' }]);
    const changed = jest.fn();
    model.changed.connect(changed);
    // When
    await model.refresh();
    // Then
    expect(changed).toHaveBeenCalledTimes(1);
    expect(model.executions.map(e => e.id)).toEqual(['e2', 'e1']);
    expect(model.schedules.map(s => s.name)).toEqual(['daily']);
    expect(model.latestExecution('s1')?.id).toBe('e2');
    expect(model.unavailable).toBeNull();
  });

  it("keeps the server's message when the API is unavailable, and recovers", async () => {
    listExecutions.mockRejectedValueOnce(new NbgateRequestError(503, 'nbgate is not installed'));
    listSchedules.mockResolvedValue([]);
    await model.refresh();
    expect(model.unavailable).toBe('nbgate is not installed');
    listExecutions.mockResolvedValue([]);
    await model.refresh();
    expect(model.unavailable).toBeNull();
  });

  it('polls every 2 s while an execution is active, else slowly', async () => {
    listExecutions.mockResolvedValue([execution('e1', 'running')]);
    listSchedules.mockResolvedValue([]);
    await model.refresh();
    expect(listExecutions).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(2000);
    expect(listExecutions).toHaveBeenCalledTimes(2);
    listExecutions.mockResolvedValue([execution('e1', 'succeeded')]);
    await jest.advanceTimersByTimeAsync(2000);
    expect(listExecutions).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(2000);
    expect(listExecutions).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(13000);
    expect(listExecutions).toHaveBeenCalledTimes(4);
  });

  it('polls every 2 s while someone watches', async () => {
    listExecutions.mockResolvedValue([]);
    listSchedules.mockResolvedValue([]);
    model.watching = true;
    await jest.advanceTimersByTimeAsync(0);
    const calls = listExecutions.mock.calls.length;
    await jest.advanceTimersByTimeAsync(2000);
    expect(listExecutions.mock.calls.length).toBe(calls + 1);
  });

  describe('an execution started in this browser', () => {
    /** A Storage stand-in: what a reload of the tab would find. */
    const storage = () => {
      const items = new Map<string, string>();
      return {
        getItem: (key: string) => items.get(key) ?? null,
        setItem: (key: string, value: string) => void items.set(key, value)
      };
    };

    it('is reported once, as it ended', async () => {
      // Given
      const tracking = new NbgateModel({ useEvents: false, storage: storage() });
      const ended = jest.fn();
      tracking.ended.connect((_, e) => ended(e.id, e.status));
      listSchedules.mockResolvedValue([]);
      listExecutions.mockResolvedValue([execution('e1', 'running'), execution('e0', 'failed')]);
      // When
      tracking.track(execution('e1', 'queued') as Execution);
      await jest.advanceTimersByTimeAsync(0);
      // Then: still running, and an execution not started here is never reported
      expect(ended).not.toHaveBeenCalled();
      listExecutions.mockResolvedValue([execution('e1', 'failed'), execution('e0', 'failed')]);
      await jest.advanceTimersByTimeAsync(2000);
      expect(ended.mock.calls).toEqual([['e1', 'failed']]);
      await tracking.refresh();
      expect(ended).toHaveBeenCalledTimes(1);
      tracking.dispose();
    });

    it('is followed across a reload, read alone when beyond the loaded page', async () => {
      // Given: a tab that tracked e9, reloaded
      const saved = storage();
      const before = new NbgateModel({ useEvents: false, storage: saved });
      listExecutions.mockResolvedValue([]);
      listSchedules.mockResolvedValue([]);
      before.track(execution('e9', 'running') as Execution);
      before.dispose();
      expect(JSON.parse(saved.getItem(TRACKED_KEY) ?? '[]')).toEqual(['e9']);
      const after = new NbgateModel({ useEvents: false, storage: saved });
      const ended = jest.fn();
      after.ended.connect((_, e) => ended(e.id, e.status));
      getExecution.mockResolvedValue(execution('e9', 'succeeded'));
      // When
      await after.refresh();
      // Then
      expect(getExecution).toHaveBeenCalledWith('e9');
      expect(ended.mock.calls).toEqual([['e9', 'succeeded']]);
      expect(JSON.parse(saved.getItem(TRACKED_KEY) ?? '[]')).toEqual([]);
      after.dispose();
    });

    it('is forgotten when it was deleted', async () => {
      const saved = storage();
      saved.setItem(TRACKED_KEY, JSON.stringify(['gone']));
      const tracking = new NbgateModel({ useEvents: false, storage: saved });
      listExecutions.mockResolvedValue([]);
      listSchedules.mockResolvedValue([]);
      getExecution.mockRejectedValue(new NbgateRequestError(404, 'no execution gone'));
      await tracking.refresh();
      expect(JSON.parse(saved.getItem(TRACKED_KEY) ?? '[]')).toEqual([]);
      tracking.dispose();
    });
  });
});
