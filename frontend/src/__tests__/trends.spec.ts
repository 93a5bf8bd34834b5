/** A schedule's recorded values as charts and a table, and output files' freshness in words. */
import { JsonNumber, parse } from '../exactJson';
import {
  cellText,
  describeFreshness,
  describeOutput,
  formatBytes,
  numericNames,
  numericValue,
  outputPatterns,
  outputsRequest,
  previewColumn,
  runsWithValues,
  STATUS_MARKS,
  timeAgo,
  trendPoints,
  trendSpec,
  valueText
} from '../trends';
import { ValueSeries } from '../tokens';

const spaced = (text: string) => text.replace(/\u00a0/g, ' ');
const UTC = { timeZone: 'UTC', locale: 'en-GB' };

/** The values endpoint's answer as the client reads it (exact numbers). */
const series = parse(`{
  "accuracy": [
    {"execution_id": "e1", "fire_time": "2026-12-01T03:00:00Z", "created_at": "2026-12-01T03:00:01Z", "status": "succeeded", "value": 0.91},
    {"execution_id": "e2", "fire_time": null, "created_at": "2026-12-02T03:00:00Z", "status": "failed", "value": 0.71},
    {"execution_id": "e3", "fire_time": "2026-12-03T03:00:00Z", "created_at": "2026-12-03T03:00:02Z", "status": "succeeded", "value": 0.92500000000000000001}
  ],
  "model": [
    {"execution_id": "e1", "created_at": "2026-12-01T03:00:01Z", "status": "succeeded", "value": "xgb"},
    {"execution_id": "e3", "created_at": "2026-12-03T03:00:02Z", "status": "succeeded", "value": "lgbm"}
  ],
  "rows": [
    {"execution_id": "e1", "created_at": "2026-12-01T03:00:01Z", "status": "succeeded", "value": null},
    {"execution_id": "e3", "created_at": "2026-12-03T03:00:02Z", "status": "succeeded", "value": 158}
  ]
}`) as ValueSeries;

describe('numericValue', () => {
  it('plots numbers and keeps their exact text', () => {
    expect(numericValue(0.91)).toEqual({ value: 0.91, text: '0.91' });
    expect(numericValue(new JsonNumber('12345678901234567890'))).toEqual({
      value: 12345678901234567000,
      text: '12345678901234567890'
    });
    expect(numericValue(new JsonNumber('1.0'))).toEqual({ value: 1, text: '1.0' });
  });

  it('leaves out what is not a number', () => {
    for (const value of ['0.9', null, true, [1], { a: 1 }, NaN, Infinity, undefined]) {
      expect(numericValue(value)).toBeNull();
    }
  });
});

describe('trendPoints', () => {
  it('keeps the runs with a numeric value, in order, at their fire time (else their creation)', () => {
    const points = trendPoints('accuracy', series.accuracy, UTC);
    expect(points.map(p => [p.execution_id, p.time, p.status, p.value, p.text])).toEqual([
      ['e1', '2026-12-01T03:00:00Z', 'succeeded', 0.91, '0.91'],
      ['e2', '2026-12-02T03:00:00Z', 'failed', 0.71, '0.71'],
      ['e3', '2026-12-03T03:00:00Z', 'succeeded', 0.925, '0.92500000000000000001']
    ]);
    expect(spaced(points[1].label)).toBe('accuracy 0.71 on 2 Dec, 03:00:00 UTC (failed)');
    expect(points[1].state).toBe('Failed');
  });

  it('skips a run whose value is not a number', () => {
    expect(trendPoints('rows', series.rows, UTC).map(p => p.execution_id)).toEqual(['e3']);
    expect(trendPoints('model', series.model, UTC)).toEqual([]);
  });
});

describe('numericNames', () => {
  it('charts a name with at least one numeric value, in the server order', () => {
    expect(numericNames(series)).toEqual(['accuracy', 'rows']);
    expect(numericNames({})).toEqual([]);
  });
});

describe('trendSpec', () => {
  const points = trendPoints('accuracy', series.accuracy, UTC);
  const spec = trendSpec('accuracy', points) as any;

  it('is a Vega-Lite 5 layer of a line and a point per run, over time', () => {
    expect(spec.$schema).toBe('https://vega.github.io/schema/vega-lite/v5.json');
    expect(spec.data.values).toBe(points);
    expect(spec.encoding.x).toMatchObject({ field: 'time', type: 'temporal' });
    expect(spec.encoding.y).toMatchObject({
      field: 'value',
      type: 'quantitative',
      title: 'accuracy',
      scale: { zero: false }
    });
    expect(spec.layer.map((layer: any) => layer.mark.type)).toEqual(['line', 'point']);
  });

  it("marks each point by its run's status, in colour and in shape", () => {
    const point = spec.layer[1].encoding;
    expect(point.color.scale.domain).toEqual(['Succeeded', 'Failed']);
    expect(point.color.scale.range).toEqual([
      STATUS_MARKS.succeeded.color,
      STATUS_MARKS.failed.color
    ]);
    expect(point.shape.scale.domain).toEqual(['Succeeded', 'Failed']);
    expect(point.shape.scale.range).toEqual(['circle', 'cross']);
    expect(new Set(Object.values(STATUS_MARKS).map(m => m.shape)).size).toBeGreaterThan(3);
  });

  it('says the exact value in the tooltip and to a screen reader', () => {
    const point = spec.layer[1].encoding;
    expect(point.tooltip.map((t: any) => t.field)).toEqual(['when', 'state', 'text']);
    expect(point.description).toEqual({ field: 'label' });
    expect(spaced(spec.description)).toBe(
      'accuracy across 3 runs; latest 0.92500000000000000001 on 3 Dec, 03:00:00 UTC'
    );
  });

  it('names the run of every point (a click opens it)', () => {
    expect(spec.data.values.map((v: any) => v.execution_id)).toEqual(['e1', 'e2', 'e3']);
    expect(spec.layer[1].mark.cursor).toBe('pointer');
  });

  it('is plain JSON (what a mime bundle holds)', () => {
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it('holds one run', () => {
    const one = trendSpec('rows', trendPoints('rows', series.rows, UTC)) as any;
    expect(one.description).toMatch(/^rows across 1 run; latest 158 on /);
  });
});

describe('runsWithValues', () => {
  it('gathers every value a run recorded, newest run first, exactly', () => {
    expect(runsWithValues(series)).toEqual([
      {
        execution_id: 'e3',
        time: '2026-12-03T03:00:00Z',
        status: 'succeeded',
        values: { accuracy: '0.92500000000000000001', model: 'lgbm', rows: '158' }
      },
      {
        execution_id: 'e2',
        time: '2026-12-02T03:00:00Z',
        status: 'failed',
        values: { accuracy: '0.71' }
      },
      {
        execution_id: 'e1',
        time: '2026-12-01T03:00:00Z',
        status: 'succeeded',
        values: { accuracy: '0.91', model: 'xgb', rows: 'null' }
      }
    ]);
  });
});

describe('valueText and cellText', () => {
  it('writes strings as they are and the rest as JSON', () => {
    expect(valueText('a "b"')).toBe('a "b"');
    expect(valueText(new JsonNumber('1.50'))).toBe('1.50');
    expect(valueText({ a: [1, 2] })).toBe('{"a": [1, 2]}');
    expect(valueText(true)).toBe('true');
    expect(cellText(null)).toBe('');
    expect(cellText(new JsonNumber('9007199254740993'))).toBe('9007199254740993');
  });
});

describe('formatBytes', () => {
  it('says sizes in units a person reads', () => {
    expect(spaced(formatBytes(0))).toBe('0 B');
    expect(spaced(formatBytes(812))).toBe('812 B');
    expect(spaced(formatBytes(12_595))).toBe('12 KB');
    expect(spaced(formatBytes(4_300_000))).toBe('4.1 MB');
    expect(spaced(formatBytes(1.2 * 1024 ** 3))).toBe('1.2 GB');
    expect(formatBytes(-1)).toBe('');
  });
});

describe('timeAgo', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  it('says how long ago', () => {
    expect(timeAgo('2026-12-04T11:59:30Z', now)).toBe('just now');
    expect(spaced(timeAgo('2026-12-04T11:55:00Z', now))).toBe('5 min ago');
    expect(spaced(timeAgo('2026-12-04T10:00:00Z', now))).toBe('2 h ago');
    expect(spaced(timeAgo('2026-12-02T11:00:00Z', now))).toBe('2 days ago');
    expect(spaced(timeAgo('2026-10-01T12:00:00Z', now, UTC))).toBe('on 1 Oct, 12:00 UTC');
  });

  it('never says a time in the future is ahead (clocks differ a little)', () => {
    expect(timeAgo('2026-12-04T12:00:20Z', now)).toBe('just now');
  });

  it('keeps text that is not a time', () => {
    expect(timeAgo('yesterday', now)).toBe('yesterday');
  });
});

describe('describeOutput', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  it('says the rows, the size and when it was written', () => {
    expect(
      spaced(
        describeOutput(
          {
            path: 'output/predictions.csv',
            bytes: 12_595,
            modified: '2026-12-04T10:00:00Z',
            sha256: '',
            rows: 158,
            columns: [{ name: 'id', type: 'int64' }]
          },
          now
        )
      )
    ).toBe('output/predictions.csv: 158 rows, 12 KB, written 2 h ago');
  });

  it('leaves out rows for a file that is not a table', () => {
    expect(
      spaced(
        describeOutput(
          {
            path: 'model.pkl',
            bytes: 812,
            modified: '2026-12-04T11:59:00Z',
            sha256: '',
            rows: null
          },
          now
        )
      )
    ).toBe('model.pkl: 812 B, written 1 min ago');
    expect(
      spaced(
        describeOutput(
          { path: 'one.csv', bytes: 20, modified: '2026-12-04T11:00:00Z', sha256: '', rows: 1 },
          now
        )
      )
    ).toBe('one.csv: 1 row, 20 B, written 1 h ago');
  });
});

describe('describeFreshness', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  it('says when outputs were last written and flags stale ones', () => {
    const fresh = describeFreshness(
      {
        last_success: '2026-12-04T10:00:00Z',
        last_output_at: '2026-12-04T10:00:00Z',
        stale: false
      },
      now
    );
    expect(spaced(fresh.text)).toBe('Outputs last written 2 h ago; last successful run 2 h ago.');
    expect(fresh.stale).toBe(false);
    expect(fresh.why).toBeNull();
    const never = describeFreshness(
      { last_success: null, last_output_at: null, stale: true },
      now,
      {
        outputs: ['out/*.csv']
      }
    );
    expect(never).toEqual({
      text: 'No outputs recorded yet; no successful run yet.',
      stale: true,
      why: "No successful run wrote its outputs within twice the schedule's period."
    });
  });

  it("says the schedule's own stale-after time, and a success alone when it declares no outputs", () => {
    const late = describeFreshness(
      { last_success: '2026-12-03T10:00:00Z', last_output_at: null, stale: true },
      now,
      { outputs: [], stale_after: 7200 }
    );
    expect(spaced(late.why ?? '')).toBe('No successful run within 2 h 0 min.');
  });
});

describe('previewColumn', () => {
  it('reads a column as a name or as {name, type}', () => {
    expect(previewColumn('id')).toEqual({ name: 'id', type: '' });
    expect(previewColumn({ name: 'score', type: 'float64' })).toEqual({
      name: 'score',
      type: 'float64'
    });
  });
});

describe('output patterns', () => {
  it('reads one pattern per line, trimmed, blank lines dropped', () => {
    expect(outputPatterns(' output/*.csv \n\n  model.pkl\n')).toEqual([
      'output/*.csv',
      'model.pkl'
    ]);
    expect(outputPatterns('')).toEqual([]);
  });

  it('sends outputs for a new run only when given, for an edit only when changed', () => {
    expect(outputsRequest('')).toEqual({});
    expect(outputsRequest('a.csv\nb/*.json')).toEqual({ outputs: ['a.csv', 'b/*.json'] });
    expect(outputsRequest('a.csv', ['a.csv'])).toEqual({});
    expect(outputsRequest('', null)).toEqual({});
    expect(outputsRequest('', ['a.csv'])).toEqual({ outputs: [] });
    expect(outputsRequest('b.csv', ['a.csv'])).toEqual({ outputs: ['b.csv'] });
  });
});
