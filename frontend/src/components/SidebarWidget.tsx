/**
 * The Lumino side of the sidebar and the dialog: a ReactWidget per view, and a modal host.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { NbgateModel } from '../model';
import { SIDEBAR_ID } from '../tokens';
import { ExecuteDialog, IExecuteDialogProps } from './ExecuteDialog';
import { ISidebarActions, Sidebar, Tab } from './Sidebar';

export class SidebarWidget extends ReactWidget {
  constructor(
    private _model: NbgateModel,
    private _actions: ISidebarActions
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('nbgate-SidebarWidget');
  }

  /** Shows a tab (and re-renders). */
  set tab(tab: Tab) {
    this._tab = tab;
    this.update();
  }

  protected render(): JSX.Element {
    return (
      <Sidebar
        model={this._model}
        actions={this._actions}
        tab={this._tab}
        onTab={tab => (this.tab = tab)}
      />
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.watching = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.watching = false;
  }

  private _tab: Tab = 'executions';
}

/** Opens the Execute dialog over the page; it closes itself on submit or cancel. */
export function openExecuteDialog(props: Omit<IExecuteDialogProps, 'onCancel'>): void {
  const host = ReactWidget.create(
    <div className="nbgate-Modal-content">
      <ExecuteDialog
        {...props}
        onCancel={() => host.dispose()}
        onDone={result => {
          host.dispose();
          props.onDone(result);
        }}
      />
    </div>
  );
  host.addClass('nbgate-Modal');
  host.node.addEventListener('mousedown', event => {
    if (event.target === host.node) {
      host.dispose();
    }
  });
  Widget.attach(host, document.body);
  host.node.querySelector<HTMLElement>('.nbgate-Modal-content')?.focus();
}
