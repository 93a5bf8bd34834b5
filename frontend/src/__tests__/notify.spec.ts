/**
 * The run's notifications: a submit says "started" (in progress, never a green "queued"), and that
 * same toast becomes how the run ended, with View result; a new one when the first is gone.
 */
const emit = jest.fn();
const update = jest.fn();

jest.mock('@jupyterlab/apputils', () => ({
  Notification: {
    emit: (...args: unknown[]) => emit(...args),
    update: (...args: unknown[]) => update(...args)
  },
  MainAreaWidget: class {},
  WidgetTracker: class {}
}));
jest.mock('@jupyterlab/application', () => ({ ILayoutRestorer: {} }));
jest.mock('@jupyterlab/codemirror', () => ({ IEditorLanguageRegistry: {} }));
jest.mock('@jupyterlab/rendermime', () => ({ IRenderMimeRegistry: {} }));
jest.mock('@jupyterlab/services', () => ({ ServerConnection: {} }));
jest.mock('../components/ResultView', () => ({ ResultView: class {} }));
jest.mock('../icons', () => ({ executeIcon: {} }));
jest.mock('../api', () => ({}));
jest.mock('../handler', () => ({ NbgateRequestError: class {}, apiURL: () => '' }));

import { Signal } from '@lumino/signaling';

import { announceStart, resultPlugin } from '../resultPlugin';
import { CommandIDs, Execution, INbgateModel } from '../tokens';

const execution = (status: string, fields: object = {}): Execution =>
  ({
    id: 'e1',
    name: 'daily_at_2026_12_04_01_00_00',
    notebook: 'daily.ipynb',
    status,
    parameters: {},
    created_at: '2026-12-04T01:00:00.000Z',
    output_path: 'executions/daily/daily_at_2026_12_04_01_00_00.ipynb',
    ...fields
  }) as Execution;

/** The plugin activated on a stand-in app and model; returns how to end a run and the commands run. */
function activate() {
  const ended = new Signal<INbgateModel, Execution>({} as INbgateModel);
  const model = { ended, track: jest.fn() } as unknown as INbgateModel;
  const executed: unknown[][] = [];
  const app = {
    commands: {
      addCommand: jest.fn(),
      execute: (...args: unknown[]) => executed.push(args)
    }
  };
  resultPlugin.activate(app as never, model, {} as never, null, null);
  return { model, end: (e: Execution) => ended.emit(e), executed };
}

describe('run notifications', () => {
  beforeEach(() => {
    emit.mockReset().mockReturnValue('toast-1');
    update.mockReset();
  });

  it('says a submitted run started, and follows it', () => {
    const { model } = activate();
    announceStart(model, execution('queued'), () => undefined);
    expect(emit).toHaveBeenCalledTimes(1);
    const [message, type] = emit.mock.calls[0];
    expect(message).toBe('Execution daily_at_2026_12_04_01_00_00 started.');
    expect(type).toBe('in-progress');
    expect(model.track).toHaveBeenCalledWith(expect.objectContaining({ id: 'e1' }));
  });

  it('turns the started toast into how the run ended, with View result', () => {
    const { model, end, executed } = activate();
    announceStart(model, execution('queued'), () => undefined);
    update.mockReturnValue(true);
    end(
      execution('failed', {
        duration: 2,
        error: { cell_index: 2, ename: 'ValueError', evalue: 'empty' }
      })
    );
    expect(update).toHaveBeenCalledTimes(1);
    const [{ id, message, type, autoClose, actions }] = update.mock.calls[0];
    expect([id, type, autoClose]).toEqual(['toast-1', 'error', false]);
    expect(message.replace(/\u00a0/g, ' ')).toBe(
      'Execution daily_at_2026_12_04_01_00_00 failed in 2 s: Cell 3: ValueError: empty'
    );
    expect(actions.map((a: { label: string }) => a.label)).toEqual(['View result']);
    actions[0].callback();
    expect(executed).toEqual([[CommandIDs.viewResult, { id: 'e1' }]]);
    expect(emit).toHaveBeenCalledTimes(1);
  });

  it('shows a new notification when the started one is gone, green only for a success', () => {
    const { model, end } = activate();
    announceStart(model, execution('queued'), () => undefined);
    update.mockReturnValue(false);
    end(execution('succeeded', { duration: 4 }));
    expect(emit).toHaveBeenCalledTimes(2);
    const [message, type, options] = emit.mock.calls[1];
    expect(message.replace(/\u00a0/g, ' ')).toBe(
      'Execution daily_at_2026_12_04_01_00_00 succeeded in 4 s.'
    );
    expect(type).toBe('success');
    expect(options.autoClose).toBe(8000);
  });
});
