/**
 * Two executions compared: the `nbgate:compare` command (CompareView in the main area, one per
 * execution A, reopened after a reload with the B last picked).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';

import { CompareView } from './components/CompareView';
import { executeIcon } from './icons';
import { CommandIDs, EXTENSION_ID } from './tokens';

export const comparePlugin: JupyterFrontEndPlugin<void> = {
  id: `${EXTENSION_ID}:compare`,
  description: 'Compares two executions: parameters, recorded values, output files and cells.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null): void => {
    const tracker = new WidgetTracker<MainAreaWidget<CompareView>>({
      namespace: 'nbgate-compare'
    });
    void restorer?.restore(tracker, {
      command: CommandIDs.compare,
      args: widget => ({ a: widget.content.options.a, b: widget.content.b }),
      name: widget => widget.content.options.a
    });
    app.commands.addCommand(CommandIDs.compare, {
      label: 'Compare with…',
      caption: 'Compare an execution with another run of its schedule',
      execute: args => {
        const a = args.a as string;
        const b = (args.b as string | null | undefined) ?? null;
        const open = tracker.find(widget => widget.content.options.a === a);
        if (open) {
          if (b) {
            open.content.b = b;
          }
          app.shell.activateById(open.id);
          return;
        }
        const content = new CompareView({
          a,
          b,
          openResult: id => void app.commands.execute(CommandIDs.viewResult, { id }),
          changed: (runA, runB) => {
            widget.title.label = `Compare ${runA.name}`;
            widget.title.caption = runB
              ? `${runA.name} (A) compared with ${runB.name} (B)`
              : `${runA.name}: nothing to compare with`;
            void tracker.save(widget);
          }
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `nbgate-compare-${a}`;
        widget.addClass('nbgate-CompareWidget');
        widget.title.label = (args.name as string | undefined)
          ? `Compare ${args.name as string}`
          : 'Compare';
        widget.title.icon = executeIcon;
        widget.title.closable = true;
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        void tracker.add(widget);
      }
    });
  }
};
