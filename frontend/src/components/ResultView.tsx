/**
 * An execution's result, read-only: a header (status, parameters, times, duration, error, "Open a copy
 * to edit") over the output notebook's cells, rendered with Lab's rendermime (markdown, highlighted
 * code, outputs). It is not a document: no file context, no kernel, nothing to save. It follows a
 * running execution (ExecutionFollower) and re-renders only the cells that changed.
 */
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type * as nbformat from '@jupyterlab/nbformat';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { ExecutionFollower } from '../follow';
import {
  executionDuration,
  formatError,
  formatParameters,
  formatTime,
  statusWord
} from '../format';
import { Execution, isTerminal } from '../tokens';
import { StatusIcon } from './StatusIcon';

export interface IResultViewOptions {
  follower: ExecutionFollower;
  rendermime: IRenderMimeRegistry;
  /** For highlighting code; plain text without it. */
  languages: IEditorLanguageRegistry | null;
  /** Writes an editable copy and opens it; rejects with a message to show. */
  openCopy(execution: Execution): Promise<void>;
  /** Opens the comparison of this execution with another run ("Compare with…"). */
  compare?(execution: Execution): void;
}

export class ResultView extends Panel {
  constructor(private _options: IResultViewOptions) {
    super();
    this.addClass('nbgate-ResultView');
    // Focusable, so that the keyboard scrolls it (Lab focuses it when its tab is activated).
    this.node.tabIndex = 0;
    this._header = ReactWidget.create(
      <ResultHeader
        follower={_options.follower}
        openCopy={_options.openCopy}
        compare={_options.compare}
      />
    );
    this._header.addClass('nbgate-ResultView-header');
    this._cells.addClass('nbgate-ResultView-cells');
    this._cells.node.setAttribute('aria-label', 'Output notebook (read-only)');
    this.addWidget(this._header);
    this.addWidget(this._cells);
    _options.follower.changed.connect(this._render, this);
    this._render();
  }

  get follower(): ExecutionFollower {
    return this._options.follower;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._options.follower.dispose();
    super.dispose();
  }

  /** Renders the cells that changed since the last render; keeps the others (and the scroll). */
  private _render(): void {
    const notebook = this._options.follower.notebook;
    const cells = notebook?.cells ?? [];
    const language = languageOf(notebook);
    cells.forEach((cell, index) => {
      const key = JSON.stringify(cell);
      if (this._keys[index] === key) {
        return;
      }
      const widget = this._cell(cell, language);
      const old = this._cells.widgets[index];
      if (old) {
        this._cells.insertWidget(index, widget);
        old.dispose();
      } else {
        this._cells.addWidget(widget);
      }
      this._keys[index] = key;
    });
    while (this._cells.widgets.length > cells.length) {
      this._cells.widgets[this._cells.widgets.length - 1].dispose();
    }
    this._keys.length = cells.length;
  }

  private _cell(cell: nbformat.ICell, language: string): Widget {
    const { rendermime, languages } = this._options;
    const source = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
    const widget = new Panel();
    widget.addClass('nbgate-ResultCell');
    widget.addClass(`nbgate-ResultCell-${cell.cell_type}`);
    const tags = (cell.metadata?.tags as string[] | undefined) ?? [];
    if (tags.includes('injected-parameters')) {
      widget.addClass('nbgate-mod-injected');
      widget.addWidget(label('Parameters injected by nbgate'));
    }
    if (cell.cell_type === 'markdown') {
      const renderer = rendermime.createRenderer('text/markdown');
      void renderer.renderModel(
        new MimeModel({ data: { 'text/markdown': source }, trusted: false })
      );
      widget.addWidget(renderer);
      return widget;
    }
    const input = new Widget();
    input.addClass('nbgate-ResultCell-input');
    const prompt = document.createElement('div');
    prompt.className = 'nbgate-ResultCell-prompt jp-InputPrompt';
    const count = (cell as nbformat.ICodeCell).execution_count;
    prompt.textContent = cell.cell_type === 'code' ? `[${count ?? ' '}]:` : '';
    const code = document.createElement('pre');
    code.className = 'nbgate-ResultCell-source cm-s-jupyter';
    code.textContent = source;
    if (cell.cell_type === 'code' && languages) {
      const mode = languages.findBest(language);
      if (mode) {
        // `highlight` appends to its element: highlight into a fresh one, then swap it in.
        const highlighted = document.createElement('span');
        void languages
          .highlight(source, mode, highlighted)
          .then(() => code.replaceChildren(highlighted))
          .catch(() => undefined);
      }
    }
    input.node.append(prompt, code);
    widget.addWidget(input);
    const outputs = cell.cell_type === 'code' ? (cell as nbformat.ICodeCell).outputs : [];
    if (outputs.length > 0) {
      const area = new OutputArea({
        model: new OutputAreaModel({ values: outputs, trusted: false }),
        rendermime
      });
      area.addClass('nbgate-ResultCell-outputs');
      widget.addWidget(area);
    }
    return widget;
  }

  private _header: Widget;
  private _cells = new Panel();
  private _keys: string[] = [];
}

function label(text: string): Widget {
  const widget = new Widget();
  widget.addClass('nbgate-ResultCell-label');
  widget.node.textContent = text;
  return widget;
}

function languageOf(notebook: nbformat.INotebookContent | null): string {
  const info = notebook?.metadata?.language_info as { name?: string } | undefined;
  const spec = notebook?.metadata?.kernelspec as { language?: string } | undefined;
  return info?.name ?? spec?.language ?? 'python';
}

/** Re-renders on the follower's changes, and every second while the execution runs (its duration). */
function useFollower(follower: ExecutionFollower): void {
  const [, setVersion] = React.useState(0);
  React.useEffect(() => {
    const bump = () => setVersion(v => v + 1);
    follower.changed.connect(bump);
    const timer = setInterval(() => {
      if (follower.execution?.status === 'running') {
        bump();
      }
    }, 1000);
    return () => {
      follower.changed.disconnect(bump);
      clearInterval(timer);
    };
  }, [follower]);
}

/** `name = value` lines (parameters, recorded values), as code. */
function CodeLines(props: { lines: string[]; className?: string }): JSX.Element {
  return (
    <ul className={`nbgate-Parameters${props.className ? ` ${props.className}` : ''}`}>
      {props.lines.map(line => (
        <li key={line}>
          <code>{line}</code>
        </li>
      ))}
    </ul>
  );
}

function ResultHeader(props: {
  follower: ExecutionFollower;
  openCopy(execution: Execution): Promise<void>;
  compare?(execution: Execution): void;
}): JSX.Element {
  useFollower(props.follower);
  const { execution, notebook, problem, deleted } = props.follower;
  const [copying, setCopying] = React.useState(false);
  const [copyError, setCopyError] = React.useState<string | null>(null);
  if (!execution) {
    return (
      <div className="nbgate-ResultHeader">
        {problem ? <p className="nbgate-Error">{problem}</p> : <p>Loading the execution…</p>}
      </div>
    );
  }
  const parameters = formatParameters(execution.parameters);
  const values = formatParameters(execution.values);
  const progress = execution.progress;
  const duration = executionDuration(execution);
  return (
    <div className="nbgate-ResultHeader" data-status={execution.status}>
      <h2 className="nbgate-ResultHeader-title">
        <StatusIcon status={execution.status} />
        <span className="nbgate-ResultHeader-name">{execution.name}</span>
      </h2>
      <dl className="nbgate-ResultHeader-facts">
        <dt>Status</dt>
        <dd className="nbgate-ResultHeader-status" aria-live="polite">
          {statusWord(execution.status)}
          {execution.status === 'running' &&
            progress &&
            ` · cell ${progress.cell + 1} of ${progress.total}`}
          {execution.attempt && execution.max_attempts && execution.max_attempts > 1
            ? ` · attempt ${execution.attempt} of ${execution.max_attempts}`
            : ''}
        </dd>
        <dt>Notebook</dt>
        <dd className="nbgate-ResultHeader-notebook">{execution.notebook}</dd>
        <dt>Output</dt>
        <dd className="nbgate-ResultHeader-output">{execution.output_path}</dd>
        {execution.kernel && (
          <>
            <dt>Environment</dt>
            <dd className="nbgate-ResultHeader-kernel">{execution.kernel}</dd>
          </>
        )}
        <dt>{execution.started_at ? 'Started' : 'Queued'}</dt>
        <dd className="nbgate-ResultHeader-started">
          {formatTime(execution.started_at ?? execution.created_at)}
        </dd>
        {execution.ended_at && (
          <>
            <dt>Ended</dt>
            <dd className="nbgate-ResultHeader-ended">{formatTime(execution.ended_at)}</dd>
          </>
        )}
        {duration && (
          <>
            <dt>Duration</dt>
            <dd className="nbgate-ResultHeader-duration">
              {isTerminal(execution.status) ? duration : `${duration} so far`}
            </dd>
          </>
        )}
        <dt>Parameters</dt>
        <dd className="nbgate-ResultHeader-parameters">
          {parameters.length === 0 ? "The notebook's defaults" : <CodeLines lines={parameters} />}
        </dd>
        {values.length > 0 && (
          <>
            <dt>Recorded values</dt>
            <dd className="nbgate-ResultHeader-values">
              <CodeLines lines={values} className="nbgate-Values" />
            </dd>
          </>
        )}
        {execution.error && (
          <>
            <dt>Error</dt>
            <dd className="nbgate-Error nbgate-ResultHeader-error">
              {formatError(execution.error)}
            </dd>
          </>
        )}
        {!execution.error && execution.reason && isTerminal(execution.status) && (
          <>
            <dt>Reason</dt>
            <dd className="nbgate-ResultHeader-reason">{execution.reason}</dd>
          </>
        )}
      </dl>
      <div className="nbgate-ResultHeader-actions">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept nbgate-ResultHeader-copy"
          disabled={copying || !notebook}
          onClick={() => {
            setCopying(true);
            setCopyError(null);
            props
              .openCopy(execution)
              .catch(error => setCopyError((error as Error).message))
              .finally(() => setCopying(false));
          }}
        >
          Open a copy to edit
        </button>
        {props.compare && execution.status !== 'skipped' && execution.status !== 'queued' && (
          <button
            type="button"
            className="jp-mod-styled nbgate-ResultHeader-compare"
            onClick={() => props.compare?.(execution)}
          >
            Compare with…
          </button>
        )}
        <span className="nbgate-Hint">
          {isTerminal(execution.status)
            ? 'A record of this run: read-only, no kernel.'
            : 'Follows the run as it goes: read-only, no kernel.'}
        </span>
      </div>
      {copyError && <p className="nbgate-Error nbgate-ResultHeader-copyError">{copyError}</p>}
      {deleted && <p className="nbgate-Error">This execution was deleted.</p>}
      {problem && !deleted && <p className="nbgate-Error">{problem}</p>}
      {!notebook && !problem && (
        <p className="nbgate-Hint nbgate-ResultHeader-waiting">
          {isTerminal(execution.status)
            ? 'This execution wrote no output notebook.'
            : 'No output yet: the notebook appears here when the run starts.'}
        </p>
      )}
    </div>
  );
}
