/** Values of listed executions: read once per ended execution, a few at a time, kept. */
import { RecordedValuesCache } from '../recordedValues';
import { Execution, ExecutionStatus } from '../tokens';

const execution = (id: string, status: ExecutionStatus, fields: Partial<Execution> = {}) =>
  ({
    id,
    name: id,
    notebook: 'n.ipynb',
    status,
    parameters: {},
    created_at: '2026-12-04T01:00:00Z',
    output_path: `${id}.ipynb`,
    ...fields
  }) as Execution;

/** A reader whose answers the test releases. */
function reader() {
  const pending = new Map<string, (execution: Execution) => void>();
  const asked: string[] = [];
  const read = (id: string) =>
    new Promise<Execution>(resolve => {
      asked.push(id);
      pending.set(id, resolve);
    });
  const answer = async (id: string, values: Execution['values']) => {
    pending.get(id)!(execution(id, 'succeeded', { values }));
    pending.delete(id);
    await new Promise(resolve => setTimeout(resolve, 0));
  };
  return { read, asked, answer, pending };
}

describe('RecordedValuesCache', () => {
  it("uses the listing's values when it has them, without asking", () => {
    const { read, asked } = reader();
    const cache = new RecordedValuesCache(read);
    expect(cache.valuesOf(execution('a', 'succeeded', { values: { x: 1 } }), () => 0)).toEqual({
      x: 1
    });
    expect(asked).toEqual([]);
  });

  it('reads an ended execution once, tells when it has, and keeps the values', async () => {
    const { read, asked, answer } = reader();
    const cache = new RecordedValuesCache(read);
    const loaded = jest.fn();
    const alsoLoaded = jest.fn();
    expect(cache.valuesOf(execution('a', 'failed'), loaded)).toBeUndefined();
    expect(cache.valuesOf(execution('a', 'failed'), alsoLoaded)).toBeUndefined();
    expect(asked).toEqual(['a']);
    await answer('a', { accuracy: 0.71 });
    expect(loaded).toHaveBeenCalledTimes(1);
    expect(alsoLoaded).toHaveBeenCalledTimes(1);
    expect(cache.valuesOf(execution('a', 'failed'), loaded)).toEqual({ accuracy: 0.71 });
    expect(asked).toEqual(['a']);
  });

  it('does not ask about a run that has not ended (its values may still grow) or was skipped', () => {
    const { read, asked } = reader();
    const cache = new RecordedValuesCache(read);
    for (const status of ['queued', 'running', 'skipped'] as ExecutionStatus[]) {
      expect(cache.valuesOf(execution(status, status), () => 0)).toBeUndefined();
    }
    expect(asked).toEqual([]);
  });

  it('asks four at a time', async () => {
    const { read, asked, answer } = reader();
    const cache = new RecordedValuesCache(read);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
      cache.valuesOf(execution(id, 'succeeded'), () => 0);
    }
    expect(asked).toEqual(['a', 'b', 'c', 'd']);
    await answer('b', {});
    expect(asked).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
