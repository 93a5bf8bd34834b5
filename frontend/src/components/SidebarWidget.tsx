/**
 * The Lumino side of the sidebar: a ReactWidget over the model that tells it when someone is looking.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { NbgateModel } from '../model';
import { SIDEBAR_ID } from '../tokens';
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
