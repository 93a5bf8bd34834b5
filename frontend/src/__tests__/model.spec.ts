/** The model: lists loaded, `changed` emitted, the gateway's message kept when it is unreachable. */
const listExecutions = jest.fn();
const listSchedules = jest.fn();

jest.mock('../api', () => ({
  listExecutions: (...args: unknown[]) => listExecutions(...args),
  listSchedules: (...args: unknown[]) => listSchedules(...args)
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
import { NbgateModel } from '../model';

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
});
