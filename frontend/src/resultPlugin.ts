/**
 * Results: the `nbgate:view-result` command (the read-only ResultView in the main area, one per
 * execution), "Open a copy to edit", and the notification when an execution started in this browser
 * ends ("View result" as its action).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';

import { executionNotebook } from './api';
import { ResultView } from './components/ResultView';
import { copyPath, editableCopy } from './copy';
import { ExecutionFollower } from './follow';
import { endMessage, statusWord } from './format';
import { executeIcon } from './icons';
import { CommandIDs, EXTENSION_ID, Execution, INbgateModel } from './tokens';

/** The "started" toast of each execution submitted here, replaced by the end notification. */
const startToasts = new Map<string, string>();

/**
 * Says an execution started (not how it will end: that is the end notification) and follows it.
 * `show` reveals it in the sidebar.
 */
export function announceStart(model: INbgateModel, execution: Execution, show: () => void): void {
  // In progress (a spinner, no colour of its own): it becomes the colour of how the run ended.
  const toast = Notification.emit(`Execution ${execution.name} started.`, 'in-progress', {
    autoClose: 5000,
    actions: [{ label: 'Show execution', callback: show }]
  });
  startToasts.set(execution.id, toast);
  model.track(execution);
}

/** How it ended, in place of its "started" toast when that one is still there (else a new one). */
function notifyEnd(app: JupyterFrontEnd, execution: Execution): void {
  const actions = [
    {
      label: 'View result',
      caption: `Open the result of ${execution.name}`,
      callback: () => void app.commands.execute(CommandIDs.viewResult, { id: execution.id })
    }
  ];
  const message = endMessage(execution);
  const type: Notification.TypeOptions =
    execution.status === 'succeeded'
      ? 'success'
      : execution.status === 'failed' || execution.status === 'timed_out'
        ? 'error'
        : 'warning';
  // An error stays until dismissed; the other endings close by themselves.
  const autoClose = type === 'error' ? false : 8000;
  const started = startToasts.get(execution.id);
  startToasts.delete(execution.id);
  if (started && Notification.update({ id: started, message, type, autoClose, actions })) {
    return;
  }
  Notification.emit(message, type, { autoClose, actions });
}

/** Writes an editable copy of the output beside the notebook (a free name) and opens it. */
async function openCopy(app: JupyterFrontEnd, execution: Execution): Promise<void> {
  const contents = app.serviceManager.contents;
  const notebook = editableCopy(await executionNotebook(execution.id));
  const path = await copyPath(execution.notebook, execution.name, async candidate => {
    try {
      await contents.get(candidate, { content: false });
      return true;
    } catch (error) {
      if (error instanceof ServerConnection.ResponseError && error.response.status === 404) {
        return false;
      }
      throw error;
    }
  });
  await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
  await app.commands.execute('docmanager:open', { path });
}

export const resultPlugin: JupyterFrontEndPlugin<void> = {
  id: `${EXTENSION_ID}:result`,
  description: "An execution's result, read-only and live, and the notification when a run ends.",
  autoStart: true,
  requires: [INbgateModel, IRenderMimeRegistry],
  optional: [IEditorLanguageRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    model: INbgateModel,
    rendermime: IRenderMimeRegistry,
    languages: IEditorLanguageRegistry | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const tracker = new WidgetTracker<MainAreaWidget<ResultView>>({ namespace: 'nbgate-result' });
    // A reload reopens the results that were open.
    void restorer?.restore(tracker, {
      command: CommandIDs.viewResult,
      args: widget => ({ id: widget.content.follower.id }),
      name: widget => widget.content.follower.id
    });
    app.commands.addCommand(CommandIDs.viewResult, {
      label: 'View result',
      caption: "Open an execution's output notebook, read-only",
      execute: async args => {
        const id = args.id as string;
        const open = tracker.find(widget => widget.content.follower.id === id);
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const follower = new ExecutionFollower(id, model);
        const content = new ResultView({
          follower,
          rendermime,
          languages,
          openCopy: execution => openCopy(app, execution),
          compare: execution =>
            void app.commands.execute(CommandIDs.compare, {
              a: execution.id,
              name: execution.name
            })
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `nbgate-result-${id}`;
        widget.addClass('nbgate-ResultWidget');
        widget.title.label = (args.name as string | undefined) ?? 'Result';
        widget.title.icon = executeIcon;
        widget.title.closable = true;
        const retitle = () => {
          const execution = follower.execution;
          if (execution) {
            widget.title.label = `${execution.name} (${statusWord(execution.status).toLowerCase()})`;
            widget.title.caption = `Result of ${execution.name}, read-only: ${execution.output_path}`;
          }
        };
        follower.changed.connect(retitle);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        void tracker.add(widget);
        await follower.start();
      }
    });
    model.ended.connect((_, execution) => notifyEnd(app, execution));
  }
};
