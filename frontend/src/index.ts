/**
 * nbgate in JupyterLab: three small plugins.
 * - `model`: the executions and schedules, kept fresh (provides INbgateModel).
 * - `plugin`: the Execute command (toolbar button and file-browser menu item declared in
 *   schema/plugin.json, and the command palette) and its dialog.
 * - `sidebar`: the left panel with the Schedules and Executions tabs.
 * - `result` (resultPlugin.ts): View result, read-only, and the notification when a run ends.
 * - `schedule` (schedulePlugin.ts): a schedule's detail: recorded values across runs, outputs.
 * - `compare` (comparePlugin.ts): two executions compared.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import * as api from './api';
import { openExecuteDialog, SubmitResult } from './components/ExecuteDialog';
import { openBackfillDialog } from './components/BackfillDialog';
import { ISweepHost, openSweepDialog, openSweepTable } from './components/SweepDialog';
import { deleteScheduleCascade, dependantsOf, rerunExecution } from './pipelines';
import { executeIcon } from './icons';
import { SidebarWidget } from './components/SidebarWidget';
import { NbgateModel } from './model';
import { announceStart, resultPlugin } from './resultPlugin';
import { schedulePlugin } from './schedulePlugin';
import { comparePlugin } from './comparePlugin';
import {
  CommandIDs,
  EXTENSION_ID,
  Execution,
  INbgateModel,
  Schedule,
  ScheduleExecutions
} from './tokens';

const modelPlugin: JupyterFrontEndPlugin<INbgateModel> = {
  id: `${EXTENSION_ID}:model`,
  description: 'Keeps the executions and schedules of nbgate fresh.',
  autoStart: true,
  provides: INbgateModel,
  activate: (): INbgateModel => {
    const model = new NbgateModel();
    model.start();
    return model;
  }
};

/** Where the sidebar is, for the Execute plugin to reveal it after a submit. */
let sidebar: SidebarWidget | null = null;

function reveal(app: JupyterFrontEnd, model: INbgateModel, result: SubmitResult): void {
  if (result.kind === 'execution') {
    model.focus = result.execution.id;
  }
  void model.refresh();
  if (sidebar) {
    sidebar.tab = result.kind === 'execution' ? 'executions' : 'schedules';
    app.shell.activateById(sidebar.id);
  }
}

/** An execution: "started" now, and how it ended later (resultPlugin). A schedule: saved. */
function notify(app: JupyterFrontEnd, model: INbgateModel, result: SubmitResult): void {
  if (result.kind === 'execution') {
    announceStart(model, result.execution, () => reveal(app, model, result));
    return;
  }
  const message = `Schedule ${result.schedule.name} ${result.created ? 'created' : 'saved'}${
    result.schedule.description ? `: ${result.schedule.description}` : ''
  }.`;
  Notification.success(message, {
    autoClose: 5000,
    actions: [{ label: 'Show schedule', callback: () => reveal(app, model, result) }]
  });
}

/** The run uses the file on disk: offer to save unsaved changes first. false: the user cancelled. */
async function saveFirst(panel: NotebookPanel | undefined): Promise<boolean> {
  if (!panel || !panel.context.model.dirty) {
    return true;
  }
  const answer = await showDialog({
    title: 'Save changes first?',
    body: 'The notebook has unsaved changes. nbgate runs the file as it is saved on disk.',
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Run saved version', displayType: 'default' }),
      Dialog.okButton({ label: 'Save and continue' })
    ]
  });
  if (!answer.button.accept) {
    return false;
  }
  if (answer.button.label === 'Save and continue') {
    await panel.context.save();
  }
  return true;
}

const executePlugin: JupyterFrontEndPlugin<void> = {
  id: `${EXTENSION_ID}:plugin`,
  description: 'The Execute button, menu item and command, and the Execute dialog.',
  autoStart: true,
  requires: [INbgateModel, INotebookTracker, IDocumentManager],
  optional: [IDefaultFileBrowser, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: INbgateModel,
    notebooks: INotebookTracker,
    docManager: IDocumentManager,
    fileBrowser: IDefaultFileBrowser | null,
    palette: ICommandPalette | null
  ): void => {
    const target = (args: { source?: string }): string | null => {
      if (args.source === 'filebrowser' && fileBrowser) {
        for (const item of fileBrowser.selectedItems()) {
          if (item.type === 'notebook') {
            return item.path;
          }
        }
        return null;
      }
      return notebooks.currentWidget?.context.path ?? null;
    };
    app.commands.addCommand(CommandIDs.execute, {
      label: args => (args.source === 'filebrowser' ? 'Execute with nbgate…' : 'Execute'),
      caption: 'Run this notebook with parameters, once now or on a schedule (nbgate)',
      icon: args => (args.source === 'palette' ? undefined : executeIcon),
      isEnabled: args => target(args as { source?: string }) !== null,
      execute: async args => {
        const path = target(args as { source?: string });
        if (!path) {
          return;
        }
        // Where focus goes back when the dialog closes: the Execute button for the toolbar (a click
        // there does not focus it), else whatever had the focus.
        const opener = document.activeElement as HTMLElement | null;
        const panel =
          notebooks.currentWidget?.context.path === path
            ? notebooks.currentWidget
            : (docManager.findWidget(path) as NotebookPanel | undefined);
        if (!(await saveFirst(panel instanceof NotebookPanel ? panel : undefined))) {
          return;
        }
        const kernelspec = panel?.context.model.getMetadata('kernelspec') as
          { name?: string } | undefined;
        const button = (args as { source?: string }).source
          ? null
          : panel?.toolbar.node.querySelector<HTMLElement>(
              '[data-jp-item-name="nbgate-execute"] :is(jp-button, button)'
            );
        openExecuteDialog(
          {
            path,
            kernel: kernelspec?.name,
            onDone: result => {
              notify(app, model, result);
              reveal(app, model, result);
            }
          },
          button ?? opener
        );
      }
    });
    palette?.addItem({
      command: CommandIDs.execute,
      category: 'nbgate',
      args: { source: 'palette' }
    });
  }
};

async function confirm(
  title: string,
  body: string,
  label: string,
  cancel = 'Cancel'
): Promise<boolean> {
  const answer = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton({ label: cancel }), Dialog.warnButton({ label })]
  });
  return answer.button.accept;
}

/** Deleting a schedule: keep its executions (and files), or delete them too; null: not deleted.
 * `dependants`: the schedules that run after it, deleted with it. */
async function askScheduleExecutions(
  schedule: Schedule,
  dependants: string[]
): Promise<ScheduleExecutions | null> {
  const answer = await showDialog({
    title: `Delete schedule ${schedule.name}?`,
    body:
      (dependants.length > 0
        ? `The schedules that run after it are deleted too: ${dependants.join(', ')} (and the ` +
          'schedules after those). '
        : '') +
      'It stops running, and its queued or running executions are cancelled. Its executions can ' +
      'stay in the list with their output notebooks, or be deleted with their output notebooks.',
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Delete, keep executions', displayType: 'default' }),
      Dialog.warnButton({ label: 'Delete with executions and files' })
    ],
    // Enter keeps the history: deleting it is never the default.
    defaultButton: 1
  });
  if (!answer.button.accept) {
    return null;
  }
  return answer.button.label === 'Delete with executions and files' ? 'delete' : 'keep';
}

const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: `${EXTENSION_ID}:sidebar`,
  description: 'The left sidebar panel: schedules and executions.',
  autoStart: true,
  requires: [INbgateModel],
  optional: [ILabShell, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: INbgateModel,
    labShell: ILabShell | null,
    palette: ICommandPalette | null
  ): void => {
    const act = async (what: () => Promise<unknown>): Promise<void> => {
      try {
        await what();
      } catch (error) {
        Notification.error((error as Error).message, { autoClose: 8000 });
      }
      await model.refresh();
    };
    const sweepHost: ISweepHost = {
      changed: model.changed,
      openResult: (id, name) => void app.commands.execute(CommandIDs.viewResult, { id, name })
    };
    /** A backfill's queued runs are shown in the Executions tab, which takes the focus (the
     * Backfill button that had it is in the other tab). */
    const queued = (what: string, count: number) => {
      Notification.success(`${what}: ${count} run${count === 1 ? '' : 's'} queued.`, {
        autoClose: 5000
      });
      widget.tab = 'executions';
      void model.refresh();
      requestAnimationFrame(() =>
        widget.node.querySelector<HTMLElement>('.nbgate-Tab-executions')?.focus()
      );
    };
    const widget = new SidebarWidget(model as NbgateModel, {
      openResult: (execution: Execution) => {
        void app.commands.execute(CommandIDs.viewResult, {
          id: execution.id,
          name: execution.name
        });
      },
      compareExecution: (execution: Execution) => {
        void app.commands.execute(CommandIDs.compare, { a: execution.id, name: execution.name });
      },
      openSchedule: (schedule: Schedule) => {
        void app.commands.execute(CommandIDs.openSchedule, {
          id: schedule.id,
          name: schedule.name
        });
      },
      editSchedule: (schedule: Schedule) =>
        openExecuteDialog({
          path: schedule.notebook,
          schedule,
          onDone: result => {
            notify(app, model, result);
            void model.refresh();
          }
        }),
      runSchedule: schedule =>
        act(async () => {
          const execution = await api.runSchedule(schedule.id);
          model.focus = execution.id;
          widget.tab = 'executions';
          announceStart(model, execution, () => app.shell.activateById(widget.id));
        }),
      backfillSchedule: schedule =>
        openBackfillDialog(schedule, dependantsOf(schedule.name, model.schedules), result =>
          queued(`Backfill of ${schedule.name}`, result.executions.length)
        ),
      sweepSchedule: schedule =>
        // The sweep's table shows its runs in the dialog: the sidebar stays where it is.
        openSweepDialog(schedule, sweepHost, () => void model.refresh()),
      openSweep: execution => execution.sweep_id && openSweepTable(execution.sweep_id, sweepHost),
      pauseSchedule: schedule => act(() => api.pauseSchedule(schedule.id)),
      resumeSchedule: schedule => act(() => api.resumeSchedule(schedule.id)),
      deleteSchedule: async schedule => {
        const dependants = dependantsOf(schedule.name, model.schedules);
        const executions = await askScheduleExecutions(schedule, dependants);
        if (executions) {
          await act(() =>
            dependants.length > 0
              ? deleteScheduleCascade(schedule.id, executions)
              : api.deleteSchedule(schedule.id, executions)
          );
        }
      },
      rerunExecution: execution =>
        act(async () => {
          const again = await rerunExecution(execution.id);
          model.focus = again.id;
          announceStart(model, again, () => app.shell.activateById(widget.id));
        }),
      cancelExecution: async execution => {
        if (
          await confirm(
            'Cancel execution?',
            `Stop the execution ${execution.name}? Its kernel is stopped; the output so far is kept.`,
            'Cancel execution',
            'Keep running'
          )
        ) {
          await act(() => api.cancelExecution(execution.id));
        }
      },
      deleteExecution: async execution => {
        const answer = await showDialog({
          title: 'Delete execution?',
          body: `Delete the execution ${execution.name} from the list?`,
          checkbox: {
            label: `Also delete its output notebook (${execution.output_path})`,
            checked: false
          },
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
        });
        if (answer.button.accept) {
          await act(() =>
            api.deleteExecution(execution.id, { deleteFile: answer.isChecked === true })
          );
        }
      }
    });
    widget.title.icon = executeIcon;
    widget.title.caption = 'nbgate: schedules and executions';
    sidebar = widget;
    (labShell ?? app.shell).add(widget, 'left', { rank: 600 });
    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Show nbgate schedules and executions',
      execute: () => app.shell.activateById(widget.id)
    });
    palette?.addItem({ command: CommandIDs.openSidebar, category: 'nbgate' });
  }
};

export default [
  modelPlugin,
  executePlugin,
  sidebarPlugin,
  resultPlugin,
  schedulePlugin,
  comparePlugin
];
