/**
 * A schedule's detail: the `nbgate:open-schedule` command (ScheduleDetail in the main area, one per
 * schedule, reopened after a reload).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { ScheduleDetail } from './components/ScheduleDetail';
import { executeIcon } from './icons';
import { CommandIDs, EXTENSION_ID, INbgateModel } from './tokens';

export const schedulePlugin: JupyterFrontEndPlugin<void> = {
  id: `${EXTENSION_ID}:schedule`,
  description: "A schedule's recorded values across runs, its outputs' freshness and a preview.",
  autoStart: true,
  requires: [INbgateModel, IRenderMimeRegistry],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    model: INbgateModel,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null
  ): void => {
    const tracker = new WidgetTracker<MainAreaWidget<ScheduleDetail>>({
      namespace: 'nbgate-schedule'
    });
    void restorer?.restore(tracker, {
      command: CommandIDs.openSchedule,
      args: widget => ({ id: widget.content.options.id }),
      name: widget => widget.content.options.id
    });
    app.commands.addCommand(CommandIDs.openSchedule, {
      label: 'Schedule details',
      caption: "A schedule's recorded values across runs and its outputs",
      execute: args => {
        const id = args.id as string;
        const open = tracker.find(widget => widget.content.options.id === id);
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const content = new ScheduleDetail({
          id,
          model,
          rendermime,
          openResult: execution =>
            void app.commands.execute(CommandIDs.viewResult, { id: execution }),
          loaded: schedule => {
            widget.title.label = schedule.name;
            widget.title.caption = `Schedule ${schedule.name}: recorded values and outputs`;
          }
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `nbgate-schedule-${id}`;
        widget.addClass('nbgate-ScheduleDetailWidget');
        widget.title.label = (args.name as string | undefined) ?? 'Schedule';
        widget.title.icon = executeIcon;
        widget.title.closable = true;
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        void tracker.add(widget);
      }
    });
  }
};
