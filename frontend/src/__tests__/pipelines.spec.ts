/**
 * Pipelines on the frontend: each parameter's source as the `parameters_from` reference the server
 * takes (and back, for editing), the server's messages mapped to the parameter they name, a chain's
 * steps in order from the list and the server's answer, and the sweep form's values read per type.
 */
import { JsonNumber, stringify } from '../exactJson';
import {
  chainSteps,
  dependantsOf,
  stepLabel,
  inChain,
  keepSources,
  parameterOfMessage,
  parametersFrom,
  pipelineFieldOf,
  recordedNames,
  referenceOf,
  sourceOf,
  sourcesOf,
  sweepGrid,
  sweepValues,
  TYPED
} from '../pipelines';
import { parameterFields } from '../schema';
import { Execution, Schedule } from '../tokens';

const fields = parameterFields([
  { name: 'COUNT', type: 'int', default: '3', default_value: 3, help: '' },
  { name: 'RATE', type: 'float', default: '0.5', default_value: 0.5, help: '' },
  { name: 'LABEL', type: 'str', default: '"a"', default_value: 'a', help: '' },
  { name: 'SEGMENTS', type: 'list', default: '[]', default_value: [], help: '' }
]);
const [count, rate, label, segments] = fields;

describe('parameter sources', () => {
  it('are written as the references parameters_from takes', () => {
    expect(referenceOf(TYPED)).toBeNull();
    expect(referenceOf({ kind: 'fire_time', upstream: '', name: '' })).toBe('fire_time');
    expect(referenceOf({ kind: 'values', upstream: 'prepare', name: ' accuracy ' })).toBe(
      'prepare.values.accuracy'
    );
    expect(
      parametersFrom({
        THRESHOLD: { kind: 'values', upstream: 'prepare', name: 'accuracy' },
        DAY: { kind: 'parameters', upstream: 'prepare', name: 'DAY' },
        RUN_DATE: { kind: 'fire_time', upstream: '', name: '' },
        COUNT: TYPED
      })
    ).toEqual({
      THRESHOLD: 'prepare.values.accuracy',
      DAY: 'prepare.parameters.DAY',
      RUN_DATE: 'fire_time'
    });
  });

  it('are read back from a schedule (a name with dots stays whole)', () => {
    expect(sourcesOf({ A: 'up.values.a.b', B: 'fire_time', C: 'up.parameters.C' })).toEqual({
      A: { kind: 'values', upstream: 'up', name: 'a.b' },
      B: { kind: 'fire_time', upstream: '', name: '' },
      C: { kind: 'parameters', upstream: 'up', name: 'C' }
    });
    expect(sourceOf('nonsense')).toEqual(TYPED);
  });

  it('fall back to typed when their upstream is no longer chosen', () => {
    const sources = {
      A: { kind: 'values' as const, upstream: 'gone', name: 'x' },
      B: { kind: 'values' as const, upstream: 'kept', name: 'y' },
      C: { kind: 'fire_time' as const, upstream: '', name: '' }
    };
    expect(keepSources(sources, ['kept'])).toEqual({ A: TYPED, B: sources.B, C: sources.C });
  });

  it("map the server's messages to their field and parameter", () => {
    const message =
      'parameters_from.THRESHOLD: the notebook\'s parameters cell has no "THRESHOLD"; it declares ["N"]';
    expect(pipelineFieldOf(message)).toBe('parameters_from');
    expect(parameterOfMessage(message)).toEqual({
      parameter: 'THRESHOLD',
      message: 'the notebook\'s parameters cell has no "THRESHOLD"; it declares ["N"]'
    });
    expect(pipelineFieldOf('after.schedules: no schedule is named "nope"')).toBe('after');
    expect(pipelineFieldOf('after: a → c → a would make a cycle')).toBe('after');
    expect(pipelineFieldOf('fire_time_format: "%Q" is not a strftime format')).toBe(
      'parameters_from'
    );
    expect(pipelineFieldOf('invalid name "A"')).toBeNull();
    expect(parameterOfMessage('after: a → a would make a cycle')).toBeNull();
  });
});

const execution = (over: Partial<Execution>): Execution =>
  ({
    id: 'x',
    name: 'x_at_2026_12_04_10_00_00',
    notebook: 'x.ipynb',
    status: 'succeeded',
    parameters: {},
    attempt: 1,
    max_attempts: 1,
    created_at: '2026-12-04T10:00:00Z',
    ready_at: '2026-12-04T10:00:00Z',
    output_path: 'executions/x.ipynb',
    retry_delay: 0,
    output_patterns: [],
    expect: [],
    ...over
  }) as Execution;

describe('chains', () => {
  const a = execution({ id: 'a', run_id: 'a', schedule_name: 'prepare' });
  const b = execution({
    id: 'b',
    run_id: 'a',
    schedule_name: 'train',
    status: 'running',
    created_at: '2026-12-04T10:00:05Z',
    upstreams: { prepare: 'a' }
  });
  const c = execution({
    id: 'c',
    run_id: 'a',
    schedule_name: 'score',
    status: 'skipped',
    reason: 'upstream train failed',
    created_at: '2026-12-04T10:00:09Z'
  });
  const alone = execution({ id: 'z', run_id: 'z' });

  it('are the executions sharing a run_id, oldest first, the further-moved copy winning', () => {
    const fetched = [a, { ...b, status: 'failed' as const }, c];
    const steps = chainSteps([c, b, alone], fetched, 'a');
    expect(steps.map(s => [s.id, s.status])).toEqual([
      ['a', 'succeeded'],
      ['b', 'failed'],
      ['c', 'skipped']
    ]);
    // A listed copy that has moved further than a late answer is kept.
    expect(chainSteps([{ ...b, status: 'succeeded' }], [b], 'a')[0].status).toBe('succeeded');
  });

  it('label each step by its schedule, a retry and a rerun told apart', () => {
    expect(stepLabel(a)).toBe('prepare');
    expect(stepLabel({ ...a, attempt: 2, name: 'prepare_at_x_attempt_2' })).toBe(
      'prepare, attempt 2'
    );
    expect(stepLabel({ ...a, name: 'prepare_at_2026_12_04_10_00_00_rerun' })).toBe(
      'prepare, run again'
    );
    expect(stepLabel(alone)).toBe('x_at_2026_12_04_10_00_00');
  });

  it('are shown only for an execution with company', () => {
    expect(inChain(alone, [a, b, alone])).toBe(false);
    expect(inChain(a, [a])).toBe(false);
    expect(inChain(a, [a, b])).toBe(true);
    expect(inChain(b, [b])).toBe(true);
  });
});

describe('sweep values', () => {
  it('are read per type, separated by commas', () => {
    expect(stringify((sweepValues(count, '2, 3,4') as { values: unknown[] }).values)).toBe(
      '[2,3,4]'
    );
    // A float field sends floats, and exactly.
    expect((sweepValues(rate, '1, 0.25') as { values: unknown[] }).values).toEqual([
      new JsonNumber('1.0'),
      new JsonNumber('0.25')
    ]);
    expect(sweepValues(label, 'a, b c')).toEqual({ values: ['a', 'b c'] });
    expect(sweepValues(count, '')).toEqual({ values: [] });
  });

  it('may be a JSON list (a list parameter must be)', () => {
    expect(sweepValues(label, '["a,b", "c"]')).toEqual({ values: ['a,b', 'c'] });
    expect(
      stringify((sweepValues(segments, '[[1], [2, 3]]') as { values: unknown[] }).values)
    ).toBe('[[1],[2,3]]');
    const listOfLists = { error: 'write the lists as one JSON list of lists, e.g. [[1, 2], [3]]' };
    expect(sweepValues(segments, '[1, 2]')).toEqual(listOfLists);
    expect(sweepValues(segments, '[1], [2]')).toEqual(listOfLists);
  });

  it('say which value is wrong', () => {
    expect(sweepValues(count, '2, x')).toEqual({
      error: expect.stringMatching(/^"x": "x" is not a whole number/)
    });
    expect(sweepValues(count, '2,,3')).toEqual({ error: expect.stringContaining('"":') });
    expect(sweepValues(count, '[]')).toEqual({ error: 'give at least one value' });
  });

  it('make a grid of the swept parameters and the number of runs', () => {
    const { grid, errors, count: runs } = sweepGrid(fields, { COUNT: '2, 3, 4', LABEL: 'a,b' });
    expect(Object.keys(grid)).toEqual(['COUNT', 'LABEL']);
    expect(errors).toEqual({});
    expect(runs).toBe(6);
    expect(sweepGrid(fields, {}).count).toBe(0);
    expect(sweepGrid(fields, { RATE: 'fast' }).errors.RATE).toMatch(/not a number/);
  });

  it('table columns: each recorded name once, in first-seen order', () => {
    const row = (values: { [name: string]: unknown }) => ({
      execution_id: 'e',
      name: 'e',
      status: 'succeeded' as const,
      parameters: {},
      values
    });
    expect(recordedNames([row({ b: 1 }), row({ a: 2, b: 3 }), row({})])).toEqual(['b', 'a']);
  });
});

describe('dependants', () => {
  it('are the schedules that run after one, by name', () => {
    const schedule = (name: string, after?: string[]) =>
      ({ name, after: after ? { schedules: after, on: 'success' } : null }) as Schedule;
    const all = [
      schedule('prepare'),
      schedule('train', ['prepare']),
      schedule('report', ['train', 'prepare']),
      schedule('other', ['elsewhere'])
    ];
    expect(dependantsOf('prepare', all)).toEqual(['train', 'report']);
    expect(dependantsOf('report', all)).toEqual([]);
  });
});
