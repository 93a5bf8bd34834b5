/** Two executions compared: the runs offered, the default choice, and the comparison as rows. */
import {
  canCompare,
  cellRows,
  choiceLabel,
  compareChoices,
  defaultOther,
  outputRows,
  pairRows,
  summary
} from '../compare';
import { JsonNumber, parse } from '../exactJson';
import { Comparison, Execution, ExecutionStatus } from '../tokens';

/** A run of schedule `s1` (unless told otherwise) started `hour` o'clock. */
const run = (id: string, status: ExecutionStatus, hour: number, fields: Partial<Execution> = {}) =>
  ({
    id,
    name: `daily_at_2026_12_04_${String(hour).padStart(2, '0')}_00_00`,
    schedule_id: 's1',
    schedule_name: 'daily',
    notebook: 'model.ipynb',
    status,
    parameters: {},
    created_at: `2026-12-04T${String(hour).padStart(2, '0')}:00:00Z`,
    started_at: `2026-12-04T${String(hour).padStart(2, '0')}:00:01Z`,
    output_path: `executions/${id}.ipynb`,
    ...fields
  }) as Execution;

const empty: Comparison = { parameters: {}, values: {}, outputs: [], cells: [] };

describe('the runs an execution can be compared with', () => {
  const runs = [
    run('r1', 'succeeded', 1),
    run('r3', 'failed', 3),
    run('r2', 'succeeded', 2),
    run('r4', 'skipped', 4),
    run('r5', 'queued', 5, { started_at: null }),
    run('other', 'succeeded', 6, { schedule_id: 's2', schedule_name: 'weekly' }),
    run('adhoc', 'succeeded', 7, { schedule_id: null, schedule_name: null })
  ];

  it("are its schedule's other runs that have a notebook, newest first", () => {
    expect(compareChoices(runs[1], runs).map(e => e.id)).toEqual(['r2', 'r1']);
  });

  it('of a one-off run: the other one-off runs of the same notebook', () => {
    const mine = run('mine', 'failed', 8, { schedule_id: null, schedule_name: null });
    const elsewhere = run('elsewhere', 'succeeded', 9, {
      schedule_id: null,
      schedule_name: null,
      notebook: 'other.ipynb'
    });
    expect(compareChoices(mine, [...runs, mine, elsewhere]).map(e => e.id)).toEqual(['adhoc']);
  });

  it('of a deleted schedule (its name kept): the runs that kept the same name', () => {
    const kept = (id: string, hour: number) =>
      run(id, 'succeeded', hour, { schedule_id: null, schedule_name: 'gone' });
    const list = [kept('k1', 1), kept('k2', 2), runs[6]];
    expect(compareChoices(list[1], list).map(e => e.id)).toEqual(['k1']);
  });

  it('"Compare with…" is offered only when there is another run, and not on a skipped one', () => {
    expect(canCompare(runs[1], runs)).toBe(true);
    expect(canCompare(runs[3], runs)).toBe(false);
    expect(canCompare(runs[5], runs)).toBe(false);
  });

  it('are labelled by status, time (with its zone) and name', () => {
    expect(choiceLabel(runs[2], 'UTC')).toMatch(
      /^Succeeded · Dec 4, 02:00:01\u00a0UTC · daily_at_2026_12_04_02_00_00$/
    );
  });
});

describe('the run compared with by default', () => {
  const r1 = run('r1', 'succeeded', 1);
  const r2 = run('r2', 'succeeded', 2);
  const r3 = run('r3', 'failed', 3);
  const r4 = run('r4', 'timed_out', 4);

  it("for a failed run: its schedule's last success, not the failure just before it", () => {
    const failed = run('r5', 'failed', 5);
    expect(defaultOther(failed, compareChoices(failed, [r1, r2, r3, r4, failed]))).toBe('r2');
  });

  it('for a timed-out run too; an older failure is passed over for a newer success', () => {
    const r6 = run('r6', 'succeeded', 6);
    expect(defaultOther(r4, compareChoices(r4, [r1, r2, r3, r4, r6]))).toBe('r6');
  });

  it('for a failure with no success to compare with: the run before it', () => {
    expect(defaultOther(r4, compareChoices(r4, [r3, r4]))).toBe('r3');
  });

  it('for a success: the run before it, whatever its status; the oldest: the newest other', () => {
    const r5 = run('r5', 'succeeded', 5);
    expect(defaultOther(r5, compareChoices(r5, [r1, r2, r3, r4, r5]))).toBe('r4');
    expect(defaultOther(r1, compareChoices(r1, [r1, r2, r3]))).toBe('r3');
  });

  it('none when nothing else ran', () => {
    expect(defaultOther(r1, [])).toBeNull();
  });
});

describe('the comparison as rows', () => {
  it('shows parameters and values exactly, a side without one as null', () => {
    const answer = parse(
      '{"parameters": {"FAIL": [true, false], "N": [123456789012345678901, null]},' +
        ' "values": {"accuracy": [0.85, 0.9], "model": [null, "xgb"]}, "outputs": [], "cells": []}'
    ) as Comparison;
    expect(answer.parameters.N[0]).toBeInstanceOf(JsonNumber);
    expect(pairRows(answer.parameters)).toEqual([
      { name: 'FAIL', a: 'true', b: 'false' },
      { name: 'N', a: '123456789012345678901', b: null }
    ]);
    expect(pairRows(answer.values)).toEqual([
      { name: 'accuracy', a: '0.85', b: '0.9' },
      { name: 'model', a: null, b: '"xgb"' }
    ]);
  });

  it('describes output files by rows, size and hash; a side that did not write one as null', () => {
    const rows = outputRows([
      {
        path: 'output/predictions.csv',
        a: { sha256: 'abcdef0123456789', bytes: 2048, rows: 1 },
        b: { sha256: '0123456789abcdef', bytes: 12, rows: 158 }
      },
      { path: 'output/new.csv', a: null, b: { sha256: 'ffff0000ffff', bytes: 3, rows: null } }
    ]);
    expect(rows).toEqual([
      {
        name: 'output/predictions.csv',
        a: '1 row · 2.0\u00a0KB · sha256 abcdef01',
        b: '158 rows · 12\u00a0B · sha256 01234567'
      },
      { name: 'output/new.csv', a: null, b: '3\u00a0B · sha256 ffff0000' }
    ]);
  });

  it("numbers cells as the user's notebook does and says what changed", () => {
    expect(
      cellRows([
        { index: 0, source_changed: true, outputs_changed: false, a: '1\n', b: '1\n' },
        { index: 2, source_changed: false, outputs_changed: true, a: 'ValueError: x\n', b: '' },
        { index: 4, source_changed: true, outputs_changed: true, a: null, b: 'done\n' }
      ])
    ).toEqual([
      { label: 'Cell 1', what: 'source changed', a: '1\n', b: '1\n' },
      { label: 'Cell 3', what: 'outputs changed', a: 'ValueError: x\n', b: '' },
      { label: 'Cell 5', what: 'source and outputs changed', a: null, b: 'done\n' }
    ]);
  });

  it('sums up what differs in a sentence', () => {
    expect(summary(empty)).toBe(
      'No difference in parameters, recorded values, output files or cells.'
    );
    expect(summary({ ...empty, parameters: { FAIL: [true, false] } })).toBe('1 parameter differs.');
    expect(
      summary({
        parameters: { FAIL: [true, false] },
        values: { accuracy: [0.85, 0.9], f1: [0.1, 0.2] },
        outputs: [{ path: 'p.csv', a: null, b: null }],
        cells: [{ index: 0, source_changed: false, outputs_changed: true, a: '', b: 'x' }]
      })
    ).toBe('1 parameter, 2 recorded values, 1 output file and 1 cell differ.');
  });
});
